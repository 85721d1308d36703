/* vec.c - reductions over a row of class scores too long to inline. */
#include "core/vec.h"

void dg_top_classes(const float *row, uint32_t k, bool probabilities,
                    uint32_t top, uint32_t *classes, double *probability)
{
    float mx = 0;
    double sum = probabilities ? 1 : dg_shifted_exp_sum(row, k, 1.0f, &mx);
    uint32_t n = 0;
    for (uint32_t j = 0; j < k; j++) {
        double p = probabilities ? row[j] : exp((double)row[j] - mx) / sum;
        if (n == top && !(p > probability[n - 1])) continue;
        /* Insertion into the sorted list; an equal one stays behind. */
        uint32_t at = n < top ? n++ : n - 1;
        while (at > 0 && p > probability[at - 1]) {
            classes[at] = classes[at - 1];
            probability[at] = probability[at - 1];
            at--;
        }
        classes[at] = j;
        probability[at] = p;
    }
}
