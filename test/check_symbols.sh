#!/bin/sh
# The shared library must export only dg_* functions (plus its version
# node), so that no internal or dependency symbol becomes ABI by accident;
# and every function the header declares must be exported.
set -eu
lib="$1"
header="$2"
exported=$(nm -D --defined-only "$lib" | awk '{print $3}' | sed 's/@.*//')
bad=$(echo "$exported" | grep -v -e '^dg_' -e '^LIBDIFFGUARD_' || true)
if [ -n "$bad" ]; then
    echo "exported symbols outside dg_*:" >&2
    echo "$bad" >&2
    exit 1
fi
missing=0
for fn in $(grep -o '^DG_API [^(]*(' "$header" |
            sed 's/.*[ *]\([a-z_0-9]*\)($/\1/'); do
    if ! echo "$exported" | grep -qx "$fn"; then
        echo "declared but not exported: $fn" >&2
        missing=1
    fi
done
echo "$(echo "$exported" | grep -c '^dg_') dg_* symbols exported, nothing else"
exit $missing
