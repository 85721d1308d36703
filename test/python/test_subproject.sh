#!/bin/bash
# test_subproject.sh - examples/subproject configured and built in a
# temporary folder, vendoring this source tree through a
# subprojects/libdiffguard symlink, as a parent project on a clean clone
# without network would.  Its program must run, and libdiffguard must build
# only its library inside the parent (no dg tool, tests or benchmarks).
#
# usage: test_subproject.sh SOURCE_ROOT MESON NINJA
set -euo pipefail
root=$(cd "$1" && pwd)
meson=$2
ninja=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cp -r "$root/examples/subproject" "$work/app"
mkdir "$work/app/subprojects"
ln -s "$root" "$work/app/subprojects/libdiffguard"
# Ask for everything: a parent's build must still hold the library only.
"$meson" setup --force-fallback-for=libdiffguard \
    -Dlibdiffguard:tools=true -Dlibdiffguard:tests=true \
    -Dlibdiffguard:bench=true "$work/build" "$work/app"
"$ninja" -C "$work/build"
"$work/build/guarded-app" | grep -q "^guarded-app with libdiffguard "

targets=$("$meson" introspect --targets "$work/build" |
          grep -o '"name": "[^"]*"')
if grep -E '"(dg|test_.*|header_.*|bench.*)"' <<<"$targets"; then
    echo "libdiffguard built more than its library inside a parent" >&2
    exit 1
fi
grep -q '"diffguard"' <<<"$targets"
echo "ok: examples/subproject builds and runs against the vendored library"
