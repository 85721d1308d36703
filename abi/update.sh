#!/bin/sh
# abi/update.sh [BUILD_DIR] - rewrites the ABI baseline (abi/libdiffguard.abi
# and abi/constants.txt) from the library in BUILD_DIR (default: build),
# after building it.  Run it when a release deliberately changes the ABI,
# then commit the result; doc/api-conventions.md, "Versions and ABI".
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
ninja -C "$build"
exec "$root/test/check_abi.sh" --update "$build/lib/libdiffguard.so.1" "$root"
