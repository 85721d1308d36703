#!/bin/bash
# The validation-split guard and attack sets of doc/EVALUATION.md ("Towards a
# guard that holds"): the default robust guard of the demo's Student, a
# surrogate Student and guard built the same way from the attacker's own
# images (seed 2), and the sets of levels a (layers 13, 9, 7), b and c.
# Run in a folder holding the demo's teacher.dgm and student.dgm (dg demo)
# and the files of make_splits.py.  Usage: validation_sets.sh DG OUT
set -euo pipefail
D=$1 OUT=$2
mkdir -p "$OUT"
S="idx:sur-images.idx,sur-labels.idx"
V="--teacher teacher.dgm --student student.dgm --data idx:val-images.idx,val-labels.idx --classes 5-9 -q"
[ -f sur-student.dgm ] || $D transfer --teacher teacher.dgm --data $S --classes 5-9 -o sur-student.dgm -q >/dev/null
[ -f "$OUT/guard.dg" ] || $D guard build --student student.dgm --data fmnist:train --classes 5-9 --per-class 500 -o "$OUT/guard.dg" -q >/dev/null
[ -f "$OUT/sur-guard.dg" ] || $D guard build --student sur-student.dgm --data $S --classes 5-9 --seed 2 -o "$OUT/sur-guard.dg" -q >/dev/null
for K in 13 9 7; do
    [ -f "$OUT/a$K.dgadv" ] || $D attack $V --count 100 --method linf --epsilon 0.2 --step 0.02 --iterations 100 --feature-layer $K --seed 3 -o "$OUT/a$K.dgadv" >/dev/null
done
B="--against-guard $OUT/sur-guard.dg --guard-student sur-student.dgm --adaptive-weight 3 --draw 2"
C="--against-guard $OUT/guard.dg --adaptive-weight 3 --draw 2"
[ -f "$OUT/b_linf01.dgadv" ] || $D attack $V --count 100 --method linf --epsilon 0.1 --step 0.01 --iterations 100 $B --seed 6 -o "$OUT/b_linf01.dgadv" >/dev/null
[ -f "$OUT/b_dssim01.dgadv" ] || $D attack $V --count 60 --budget 0.01 --iterations 150 $B --seed 7 -o "$OUT/b_dssim01.dgadv" >/dev/null
[ -f "$OUT/c_linf01.dgadv" ] || $D attack $V --count 100 --method linf --epsilon 0.1 --step 0.01 --iterations 100 $C --seed 4 -o "$OUT/c_linf01.dgadv" >/dev/null
[ -f "$OUT/c_dssim01.dgadv" ] || $D attack $V --count 60 --budget 0.01 --iterations 150 $C --seed 5 -o "$OUT/c_dssim01.dgadv" >/dev/null
echo "$OUT: guard.dg and the sets a13 a9 a7 b_linf01 b_dssim01 c_linf01 c_dssim01"
