/* spec.c - the architecture text spec (doc/architecture-spec.md):
 * comma-separated layers such as "c32k3p1,relu,mp2,fc10". */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "nn/model.h"
#include "nn/spec.h"

/* Reads an unsigned number after `prefix` at *p, if present. */
static int take_number(const char **p, const char *prefix, uint32_t *out)
{
    size_t n = strlen(prefix);
    if (strncmp(*p, prefix, n) != 0 || !isdigit((unsigned char)(*p)[n]))
        return 0;
    errno = 0;
    char *end;
    unsigned long v = strtoul(*p + n, &end, 10);
    if (errno || v > DG_MAX_DIM) return -1;
    *out = (uint32_t)v;
    *p = end;
    return 1;
}

/* add@N, mul@N, cat@N: the kind of a layer reading the previous one and
 * layer N, or 0. */
static int32_t binary_kind(const char *p)
{
    if (strncmp(p, "add@", 4) == 0) return DG_LAYER_ADD;
    if (strncmp(p, "mul@", 4) == 0) return DG_LAYER_MUL;
    if (strncmp(p, "cat@", 4) == 0) return DG_LAYER_CONCAT;
    return 0;
}

static dg_status parse_token(const char *tok, int32_t index, dg_layer *l)
{
    const char *p = tok;
    uint32_t v;
    l->input[0] = index - 1;
    l->input[1] = -1;
    if (take_number(&p, "c", &l->units) == 1) {
        l->kind = DG_LAYER_CONV;
        l->stride = 1;
        if (take_number(&p, "k", &l->kernel) != 1) goto bad;
        if (take_number(&p, "s", &v) == 1) l->stride = v;
        if (take_number(&p, "p", &v) == 1) l->padding = v;
        if (take_number(&p, "g", &v) == 1) {
            if (v == 0) goto bad;
            l->groups = v;
        }
    } else if (take_number(&p, "fc", &l->units) == 1) {
        l->kind = DG_LAYER_LINEAR;
    } else if (take_number(&p, "mp", &l->kernel) == 1 ||
               take_number(&p, "ap", &l->kernel) == 1) {
        l->kind = tok[0] == 'm' ? DG_LAYER_MAXPOOL : DG_LAYER_AVGPOOL;
        l->stride = l->kernel;
        if (take_number(&p, "s", &v) == 1) l->stride = v;
        if (take_number(&p, "p", &v) == 1) l->padding = v;
        if (strcmp(p, "ceil") == 0) {
            l->ceil_mode = 1;
            p += 4;
        }
    } else if (strncmp(p, "drop", 4) == 0) {
        char *end;
        l->kind = DG_LAYER_DROPOUT;
        l->rate = strtof(p + 4, &end);
        if (end == p + 4) goto bad;
        p = end;
    } else if (take_number(&p, "pad", &l->pad[0]) == 1) {
        l->kind = DG_LAYER_PAD;
        if (*p == ':') { /* pad<T>:<L>:<B>:<R> */
            for (int k = 1; k < 4; k++)
                if (take_number(&p, ":", &l->pad[k]) != 1) goto bad;
        } else { /* pad<P>: every side */
            l->pad[1] = l->pad[2] = l->pad[3] = l->pad[0];
        }
    } else if (strncmp(p, "clip", 4) == 0) {
        char *end;
        l->kind = DG_LAYER_CLIP;
        l->alpha = strtof(p + 4, &end);
        if (end == p + 4 || *end != ':') goto bad;
        p = end + 1;
        l->beta = strtof(p, &end);
        if (end == p) goto bad;
        p = end;
    } else if (binary_kind(p)) {
        char *end;
        long src = strtol(p + 4, &end, 10);
        if (end == p + 4 || src < -1 || src >= index) goto bad;
        l->kind = binary_kind(p);
        l->input[1] = (int32_t)src;
        p = end;
    } else {
        static const struct {
            const char *name;
            int32_t kind;
        } plain[] = {{"relu", DG_LAYER_RELU},      {"gap", DG_LAYER_GLOBAL_AVGPOOL},
                     {"flatten", DG_LAYER_FLATTEN}, {"bn", DG_LAYER_BATCHNORM},
                     {"softmax", DG_LAYER_SOFTMAX}, {"relu6", DG_LAYER_CLIP},
                     {"sigmoid", DG_LAYER_SIGMOID}, {"hsigmoid", DG_LAYER_HARDSIGMOID},
                     {"hswish", DG_LAYER_HARDSWISH}};
        for (size_t k = 0; k < sizeof plain / sizeof *plain; k++)
            if (strcmp(p, plain[k].name) == 0) {
                l->kind = plain[k].kind;
                p += strlen(plain[k].name);
            }
        if (l->kind == DG_LAYER_BATCHNORM) l->eps = 1e-5f;
        if (l->kind == DG_LAYER_CLIP) l->beta = 6.0f; /* relu6 */
        if (l->kind == DG_LAYER_HARDSIGMOID) { /* as PyTorch's */
            l->alpha = 1.0f / 6.0f;
            l->beta = 0.5f;
        }
        if (!l->kind) goto bad;
    }
    if (*p == '\0') return DG_OK;
bad:
    return dg_fail(DG_E_INVALID_ARG,
                   "architecture: cannot read layer %d \"%s\" (see "
                   "doc/architecture-spec.md)",
                   index, tok);
}

dg_status dg_spec_parse(const char *spec, dg_shape input, dg_model **out)
{
    *out = NULL;
    size_t len = strlen(spec);
    if (len == 0 || len > 65536)
        return dg_fail(DG_E_INVALID_ARG, "architecture string is empty or "
                                         "too long");
    uint32_t n = 1;
    for (size_t k = 0; k < len; k++) n += spec[k] == ',';
    char *copy = dg_strdup(spec);
    if (!copy) return dg_fail(DG_E_NOMEM, "architecture string");
    dg_model *m;
    dg_status s = dg_model_alloc(n, input, &m);
    char *save = NULL, *tok = s == DG_OK ? strtok_r(copy, ",", &save) : NULL;
    for (uint32_t i = 0; s == DG_OK && i < n; i++) {
        /* strtok_r skips empty fields, which would shift every index. */
        if (!tok) {
            s = dg_fail(DG_E_INVALID_ARG, "architecture: empty layer %u", i);
            break;
        }
        while (isspace((unsigned char)*tok)) tok++;
        s = parse_token(tok, (int32_t)i, &m->layers[i]);
        tok = strtok_r(NULL, ",", &save);
    }
    free(copy);
    if (s == DG_OK) s = dg_model_finalize(m);
    if (s != DG_OK) {
        if (m) dg_model_destroy(m);
        return s;
    }
    *out = m;
    return DG_OK;
}
