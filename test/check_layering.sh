#!/usr/bin/env bash
# check_layering.sh - the rooms of lib/ call down, never up into lib/api:
# no object of the static library outside lib/api may reference a dg_
# symbol that an api object defines, nor any symbol the shared library
# exports (a DG_API function, wherever it is defined).  Exits 1 naming
# every such reference.
#
# usage: check_layering.sh NM STATIC_LIBRARY SHARED_LIBRARY
set -eu
nm=$1
archive=$2
shared=$3

# "object symbol" for every dg_ symbol an object defines or references;
# the object is named by its file name (api_model.c.o, nn_model.c.o...).
symbols() {
    "$nm" -A "$@" "$archive" |
        awk '$NF ~ /^dg_/ { n = split($1, p, "[:/]"); print p[n - 1], $NF }'
}
defined=$(symbols --defined-only)
undefined=$(symbols --undefined-only)
if [ -z "$defined" ] || [ -z "$undefined" ]; then
    echo "no dg_ symbols read from $archive" >&2
    exit 2
fi

forbidden=$({
    awk '$1 ~ /^api_/ { print $2 }' <<<"$defined"
    "$nm" -D --defined-only "$shared" | awk '{ sub(/@.*/, "", $NF); print $NF }'
} | sort -u)

violations=$(awk 'NR == FNR { bad[$1] = 1; next }
                  $1 !~ /^api_/ && ($2 in bad)' \
                 <(printf '%s\n' "$forbidden") <(printf '%s\n' "$undefined"))
if [ -n "$violations" ]; then
    echo "objects outside lib/api that call the public API or lib/api:" >&2
    printf '%s\n' "$violations" >&2
    exit 1
fi
echo "ok: $(wc -l <<<"$undefined") dg_ references outside lib/api, none upward"
