/* spec.h - architecture strings. */
#ifndef DG_NN_SPEC_H
#define DG_NN_SPEC_H

#include "nn/model.h"

/* Parses an architecture string into a finalised model with zero weights. */
dg_status dg_spec_parse(const char *spec, dg_shape input, dg_model **out);

#endif
