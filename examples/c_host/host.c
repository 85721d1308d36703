/* host.c - a C host application that validates its own classifications.
 *
 * usage: host STUDENT GUARD IMAGE...
 *
 * The host classifies each image with its "own inference": here the
 * Student run through a dg_session, standing in for whatever runtime a real
 * host uses.  Beside it, dg_validate_labeled checks the host's label with
 * the guard's differentiators, and the host prints the verdict:
 *
 *     IMAGE: CLASS (LABEL) ACCEPTED|REJECTED votes V/M score S; RULE
 *
 * RULE is the guard's rule and the threshold it compares with ("rule score:
 * accept at T or more", "rule votes: accept with T or more votes"): a
 * unanimous vote is rejected when the score rule's threshold is not met.
 *
 * Build: cc host.c $(pkg-config --cflags --libs libdiffguard) */
#include <stdio.h>
#include <stdlib.h>

#include <diffguard.h>

/* Jumps to `done` after printing why a call failed. */
#define TRY(call, what)                                                    \
    do {                                                                   \
        dg_status s_ = (call);                                             \
        if (s_ != DG_OK) {                                                 \
            fprintf(stderr, "host: %s: %s: %s\n", (what), dg_strerror(s_), \
                    dg_last_error_detail());                               \
            goto done;                                                     \
        }                                                                  \
    } while (0)

/* The host's own prediction: the largest output of its model. */
static int32_t argmax(const float *v, uint32_t n)
{
    uint32_t best = 0;
    for (uint32_t i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return (int32_t)best;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s STUDENT GUARD IMAGE...\n", argv[0]);
        return 2;
    }
    int status = 1;
    dg_model *student = NULL;
    dg_session *session = NULL;
    dg_guard *guard = NULL;
    dg_validator *validator = NULL;
    float *input = NULL;
    uint32_t c, h, w, classes;

    TRY(dg_model_load_file(argv[1], &student), argv[1]);
    TRY(dg_guard_load_file(argv[2], student, &guard), argv[2]);
    TRY(dg_session_create(student, 1, &session), "session");
    dg_validator_opts vo;
    TRY(dg_validator_opts_init(&vo, sizeof vo), "validator options");
    vo.max_batch = 1;
    TRY(dg_validator_create(guard, &vo, &validator), "validator");
    TRY(dg_model_input_shape(student, &c, &h, &w), "input shape");
    TRY(dg_model_output_size(student, &classes), "output size");
    size_t n = (size_t)c * h * w;
    input = malloc(n * sizeof *input);
    if (!input) {
        fprintf(stderr, "host: out of memory\n");
        goto done;
    }

    for (int i = 3; i < argc; i++) {
        TRY(dg_image_load_file(student, argv[i], input, n), argv[i]);
        /* The host's own inference. */
        const float *out;
        TRY(dg_session_run(session, input, n, 1), "inference");
        TRY(dg_session_output(session, -1, &out, NULL, NULL, NULL, NULL),
            "inference");
        int32_t label = argmax(out, classes);
        /* The check beside it. */
        dg_verdict v = {.struct_size = sizeof v};
        TRY(dg_validate_labeled(validator, input, n, 1, &label, &v),
            "validation");
        const char *name;
        TRY(dg_model_class_name(student, (uint32_t)label, &name), "name");
        printf("%s: %s (%d) %s votes %u/%u score %.4f; ", argv[i], name,
               label, v.accepted ? "ACCEPTED" : "REJECTED", v.votes,
               v.members, v.score);
        if (v.rule == DG_RULE_VOTES)
            printf("rule votes: accept with %.0f or more votes\n",
                   v.threshold);
        else
            printf("rule score: accept at %.4f or more\n", v.threshold);
    }
    status = 0;
done:
    free(input);
    dg_validator_free(validator);
    dg_guard_free(guard);
    dg_session_free(session);
    dg_model_free(student);
    return status;
}
