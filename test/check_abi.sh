#!/bin/sh
# check_abi.sh - the ABI gate: compares the shared library with the baseline
# committed in abi/ and fails on any change the API conventions
# (doc/api-conventions.md, "Versions and ABI") do not call compatible.
#
#   check_abi.sh LIBRARY SOURCE_ROOT           check (meson test 'abi')
#   check_abi.sh --update LIBRARY SOURCE_ROOT  rewrite the baseline
#
# Compatible, reported but passing:
#  - added functions, if the version script puts them in a version node the
#    baseline does not have (LIBDIFFGUARD_1.1, ...), not in an old one;
#  - fields appended at the end of a dg_* struct (the caller's struct_size
#    says which fields it knows), except dg_verdict, which crosses the API
#    in arrays;
#  - enumerators appended to dg_status (libabigail calls those harmless);
#  - new DG_* constants.
# Everything else fails: removed functions, changed parameter or return
# types, fields inserted, removed, moved or retyped, changed enumerator
# values, and changed or removed DG_* constants, which the compiler copies
# into callers and the library's debug info cannot show.
#
# abidw reads the DWARF of LIBRARY, so it must be built with -g: the
# project's default (debug=true in meson.build).  Without debug info the test
# is skipped (exit 77).  Needs abidw and abidiff (Debian: abigail-tools).
set -eu
export LC_ALL=C  # one sort order for constants.txt, wherever it runs

update=0
if [ "${1-}" = --update ]; then
    update=1
    shift
fi
if [ $# -ne 2 ]; then
    echo "usage: $0 [--update] LIBRARY SOURCE_ROOT" >&2
    exit 2
fi
lib=$1
root=$2
baseline=$root/abi/libdiffguard.abi
constants=$root/abi/constants.txt
suppressions=$root/abi/compatible.suppr
header=$root/include/diffguard.h

if ! readelf -S "$lib" | grep -q '\.debug_info'; then
    echo "$lib has no debug info, so its ABI cannot be read: configure" \
         "with -Ddebug=true (the default of a plain 'meson setup')" >&2
    exit 77
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The public interface only: exported functions and the types defined in
# include/ that they reach, without file paths or line numbers; the source
# path of each translation unit made relative, so that the file does not
# depend on where the build folder is.
abidw --headers-dir "$root/include" --exported-interfaces-only \
      --drop-private-types --no-corpus-path --no-comp-dir-path \
      --no-show-locs "$lib" |
    sed "s|path='[^']*/\(lib/[^']*\)'|path='\1'|" > "$tmp/current.abi"
# Object-like DG_* macros with a numeric value, as "NAME VALUE".
number='[0-9][0-9A-Za-z.+-]*'
sed -n "s/^#define \(DG_[A-Z0-9_]*\)[ 	][ 	]*\($number\).*/\1 \2/p" \
    "$header" | sort > "$tmp/constants.txt"

if [ $update -eq 1 ]; then
    cp "$tmp/current.abi" "$baseline"
    cp "$tmp/constants.txt" "$constants"
    echo "wrote $baseline ($(grep -c '<elf-symbol ' "$baseline") functions)" \
         "and $constants ($(wc -l < "$constants") constants)"
    exit 0
fi

failed=0

# 1. Everything abidiff sees but what the conventions allow.
status=0
abidiff --no-show-locs --no-added-syms --suppressions "$suppressions" \
        "$baseline" "$tmp/current.abi" > "$tmp/gate.txt" 2>&1 || status=$?
if [ $((status & 3)) -ne 0 ]; then
    cat "$tmp/gate.txt"
    echo "FAIL: abidiff could not compare (exit status $status)"
    failed=1
elif [ $status -ne 0 ]; then
    cat "$tmp/gate.txt"
    if [ $((status & 8)) -ne 0 ]; then
        echo "FAIL: incompatible ABI change (removed or retyped symbols)"
    else
        # abidiff cannot call a changed struct layout or parameter type
        # incompatible for sure; the conventions can.
        echo "FAIL: ABI change outside what the conventions allow" \
             "(appended struct fields, added functions)"
    fi
    failed=1
fi

# 2. The whole report, additions included, for the log.
status=0
abidiff --no-show-locs "$baseline" "$tmp/current.abi" \
        > "$tmp/all.txt" 2>&1 || status=$?
if [ $failed -eq 0 ] && [ $status -ne 0 ]; then
    echo "changes since the baseline:"
    cat "$tmp/all.txt"
fi

# 3. Added functions belong in a version node the baseline does not have.
sed -n "s/^ *\[A\] .*{\([^}]*\)}$/\1/p" "$tmp/all.txt" > "$tmp/added.txt"
while read -r added; do
    node=${added#*@@}
    [ "$node" = "$added" ] && node=${added#*@}
    if grep -q -F "version='$node'" "$baseline"; then
        echo "FAIL: $added is added to $node, a node of the baseline; list" \
             "it in a new node of lib/libdiffguard.map (LIBDIFFGUARD_1.N)"
        failed=1
    fi
done < "$tmp/added.txt"

# 4. Constants: each baseline value still there, unchanged.
changed=$(comm -23 "$constants" "$tmp/constants.txt")
if [ -n "$changed" ]; then
    echo "FAIL: DG_* constants changed or removed; the baseline has:"
    echo "$changed"
    failed=1
fi
added=$(awk 'NR == FNR { known[$1] = 1; next } !($1 in known)' \
            "$constants" "$tmp/constants.txt")
if [ -n "$added" ]; then
    echo "new DG_* constants:"
    echo "$added"
fi

if [ $failed -ne 0 ]; then
    exit 1
fi
if [ $status -ne 0 ] || [ -n "$added" ]; then
    echo "compatible with abi/: the additions above pass; when releasing" \
         "them, record them with abi/update.sh"
else
    echo "no ABI change against abi/libdiffguard.abi:" \
         "$(grep -c '<elf-symbol ' "$baseline") functions," \
         "$(wc -l < "$constants") constants"
fi
