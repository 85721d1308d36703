#!/usr/bin/env bash
# test_shard_cli.sh - dg guard build --shard and dg guard merge end to end
# on synthetic bar images: N = 1, 2, 3 shards run one after another merge
# into the bytes of the unsharded build (pruned members with hardening,
# and robust members); a shard killed or missing a part is rerun to the
# same guard, its stale temporaries removed; parts copied over others or
# made with other settings are refused by name; --shard auto reads a
# cluster engine's variables.  Attack runs in 1, 2, 3 parts merge into the
# unsharded set (dg attack --shard, dg advset merge); parts of other runs
# or missing are refused.  With "mpi", the same under mpirun -n 2
# instead (exit 77, skipped, when mpirun is absent).  TAP.
#
# usage: test_shard_cli.sh DG MAKE_BARS [mpi]
set -u
# shellcheck source=tap.sh
. "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
dg=$1
make_bars=$2
mode=${3:-local}
if [ "$mode" = mpi ] && ! command -v mpirun >/dev/null; then
    echo "1..0 # SKIP mpirun not found (Debian: openmpi-bin)"
    exit 77
fi
# One thread everywhere: a merged guard equals the unsharded one byte for
# byte when both made their differentiators on the same number of threads
# (oneDNN sums in another order on another number).
export OMP_NUM_THREADS=1

# ------------------------------------------------------------- fixtures
run python3 "$make_bars" idx "$work/train" 400 1
require "make_bars"
train=idx:$work/train-images.idx,$work/train-labels.idx
student=$work/student.dgm
expect_success "train the Student" \
    "$dg" train -q --data "$train" --arch c8k3p1,relu,mp2,c16k3p1,relu,gap,fc4 \
    --epochs 4 --lr 0.01 -o "$student"
# 4 classes x 3 variants: 12 jobs, hardened with a few attack steps.
pruned=(-q -s "$student" -d "$train" --kind pruned --variants 3 --members 2
        --epochs 1 --batch 32 --harden-iterations 5)
robust=(-q -s "$student" -d "$train" --variants 3 --members 2 --batch 32
        --robust-epochs 1 --width 0.5)
expect_success "the unsharded pruned guard" \
    "$dg" guard build "${pruned[@]}" --work-dir "" -o "$work/whole.dg"
expect_success "the unsharded robust guard" \
    "$dg" guard build "${robust[@]}" --work-dir "" -o "$work/whole-robust.dg"

# Attacks: the Student as its own Teacher, 20 attempts in batches of 4.
attack=(-q -t "$student" -s "$student" -d "$train" --count 20 --batch 4
        --iterations 20)
expect_success "the unsharded attack" \
    "$dg" attack "${attack[@]}" -o "$work/whole.dgadv"
expect_success "the unsharded untargeted PGD attack on 2 threads" \
    "$dg" attack "${attack[@]}" -m pgd --mode untargeted -j 2 \
    -o "$work/whole-pgd.dgadv"

# same_guard DESCRIPTION GUARD REFERENCE
same_guard() {
    if cmp -s "$2" "$3"; then ok "$1"; else rc=1 && not_ok "$1"; fi
}

if [ "$mode" = mpi ]; then
    mpi=(mpirun --allow-run-as-root --oversubscribe -n 2
         -x OMP_NUM_THREADS=1 -x OMP_WAIT_POLICY)
    export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
    for kind in pruned robust; do
        declare -n opts=$kind
        ref=$work/whole.dg
        [ "$kind" = robust ] && ref=$work/whole-robust.dg
        expect_success "mpirun -n 2: the $kind shards" \
            "${mpi[@]}" "$dg" guard build "${opts[@]}" --shard auto \
            -o "$work/mpi-$kind.dg"
        expect_success "the $kind merge" \
            "$dg" guard merge "${opts[@]}" -o "$work/mpi-$kind.dg"
        same_guard "the $kind guard of 2 MPI ranks is the unsharded one" \
            "$work/mpi-$kind.dg" "$ref"
    done
    expect_success "mpirun -n 2: the attack's shards" \
        "${mpi[@]}" bash -c '"$0" attack "${@:1}" --shard auto \
            -o "'"$work"'/mpi-$OMPI_COMM_WORLD_RANK.dgadv"' \
        "$dg" "${attack[@]}"
    expect_success "their merge" \
        "$dg" advset merge "$work"/mpi-*.dgadv -o "$work/mpi.dgadv"
    same_guard "the set of 2 MPI ranks is the unsharded one" \
        "$work/mpi.dgadv" "$work/whole.dgadv"
    finish
    exit
fi

# ------------------------------------ N shards, one after another, merged
for n in 1 2 3; do
    guard=$work/n$n.dg
    for ((i = 0; i < n; i++)); do
        expect_success "pruned: shard $i/$n" \
            "$dg" guard build "${pruned[@]}" --shard "$i/$n" -o "$guard" --json
    done
    check "a shard reports itself and writes no guard" '
import json, os, sys
r = json.load(sys.stdin)
assert r["shard"] == int(sys.argv[2]) - 1 and r["shards"] == int(sys.argv[2])
assert r["work_dir"] == sys.argv[1] + ".work" and r["reused"] == 0, r
assert not os.path.exists(sys.argv[1])' "$guard" "$n"
    expect_success "pruned: merge of $n shards" \
        "$dg" guard merge "${pruned[@]}" -o "$guard"
    same_guard "pruned: $n shards merge into the unsharded guard" \
        "$guard" "$work/whole.dg"
    if [ -e "$guard.work" ]; then
        not_ok "the merge removes the work directory"
    else
        ok "the merge removes the work directory"
    fi
done
guard=$work/robust.dg
for i in 0 1; do
    expect_success "robust: shard $i/2" \
        "$dg" guard build "${robust[@]}" --shard "$i/2" -o "$guard"
done
expect_success "robust: merge" "$dg" guard merge "${robust[@]}" -o "$guard"
same_guard "robust: 2 shards merge into the unsharded guard" \
    "$guard" "$work/whole-robust.dg"

# ----------------------------------- a killed shard, rerun to the same guard
guard=$work/killed.dg
"$dg" guard build "${pruned[@]}" --shard 0/2 -o "$guard" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 600); do
    compgen -G "$guard.work/*.dgm" >/dev/null ||
        ! kill -0 "$pid" 2>/dev/null && break
    sleep 0.05
done
kill -KILL "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
expect_success "shard 1/2 runs beside it" \
    "$dg" guard build "${pruned[@]}" --shard 1/2 -o "$guard"
# Whatever the kill left, job 2 (class 0 variant 2, shard 0's) is gone,
# and a crash two minutes ago left temporaries of both shards' parts: the
# early merge and shard 0 must leave shard 1's, which it may be writing.
rm -f "$guard.work/class0-variant2.dgm"
touch -d '2 minutes ago' "$guard.work/class0-variant2.dgm.tmpAbCd12" \
    "$guard.work/class0-variant1.dgm.tmpEfGh34"
expect_failure "the merge names the missing part" 1 \
    "lacks .* (class 0 variant 2.*): run the shards" \
    "$dg" guard merge "${pruned[@]}" -o "$guard"
expect_success "the killed shard reruns" \
    "$dg" guard build "${pruned[@]}" --shard 0/2 -o "$guard"
if [ ! -e "$guard.work/class0-variant2.dgm.tmpAbCd12" ] &&
    [ -e "$guard.work/class0-variant1.dgm.tmpEfGh34" ]; then
    ok "a shard removes the stale temporaries of its own parts only"
else
    not_ok "a shard removes the stale temporaries of its own parts only"
fi
expect_success "the merge after the rerun" \
    "$dg" guard merge "${pruned[@]}" -o "$guard"
same_guard "the rerun gives the unsharded guard" "$guard" "$work/whole.dg"

# ------------------------------------------------------- refused parts
guard=$work/mixed.dg
expect_success "one shard of all jobs" \
    "$dg" guard build "${pruned[@]}" --shard 0/1 -o "$guard"
cp "$guard.work/class1-variant1.dgm" "$work/saved.dgm"
cp "$guard.work/class0-variant0.dgm" "$guard.work/class1-variant1.dgm"
expect_failure "a part copied over another is refused by name" 1 \
    "class1-variant1.dgm: holds class 0 variant 0, not class 1 variant 1" \
    "$dg" guard merge "${pruned[@]}" -o "$guard"
mv "$work/saved.dgm" "$guard.work/class1-variant1.dgm"
expect_failure "a merge with other settings is refused" 1 "other settings" \
    "$dg" guard merge "${pruned[@]}" --epochs 2 -o "$guard"
expect_failure "a shard with other settings is refused" 1 "other settings" \
    "$dg" guard build "${pruned[@]}" --epochs 2 --shard 1/2 -o "$guard"
expect_success "the merge with the right part back" \
    "$dg" guard merge "${pruned[@]}" -o "$guard"
same_guard "and it is the unsharded guard" "$guard" "$work/whole.dg"
expect_failure "a merge without shards' work" 1 "not the work directory" \
    "$dg" guard merge "${pruned[@]}" -o "$work/none.dg"

# ------------------------------------------------------------- attacks
for n in 1 2 3; do
    parts=()
    for ((i = n - 1; i >= 0; i--)); do
        parts+=("$work/attack-$i-of-$n.dgadv")
        expect_success "attack: shard $i/$n" \
            "$dg" attack "${attack[@]}" --shard "$i/$n" -o "${parts[-1]}"
    done
    expect_success "attack: merge of $n parts" \
        "$dg" advset merge "${parts[@]}" -o "$work/attack-$n.dgadv"
    same_guard "attack: $n parts merge into the unsharded set" \
        "$work/attack-$n.dgadv" "$work/whole.dgadv"
done
for i in 0 1; do
    expect_success "untargeted PGD: shard $i/2" \
        "$dg" attack "${attack[@]}" -m pgd --mode untargeted -j 2 \
        --shard "$i/2" -o "$work/pgd-$i.dgadv"
done
expect_success "untargeted PGD: merge" \
    "$dg" advset merge "$work"/pgd-[01].dgadv -o "$work/pgd.dgadv"
same_guard "untargeted PGD: the parts merge into the unsharded set" \
    "$work/pgd.dgadv" "$work/whole-pgd.dgadv"
expect_failure "a missing part is refused" 1 "2 parts of a run in 3 shards" \
    "$dg" advset merge "$work"/attack-[01]-of-3.dgadv -o "$work/x.dgadv"
expect_success "a part of another run (seed)" \
    "$dg" attack "${attack[@]}" --seed 2 --shard 1/2 -o "$work/seed2.dgadv"
expect_failure "a part of another run is refused by name" 1 \
    "part 1 (shard 1) is of another run than part 0: its seed differs" \
    "$dg" advset merge "$work/attack-0-of-2.dgadv" "$work/seed2.dgadv" \
    -o "$work/x.dgadv"
expect_failure "a whole set is not a part" 1 "not a shard of an attack run" \
    "$dg" advset merge "$work/whole.dgadv" -o "$work/x.dgadv"
expect_failure "attack: more shards than batches" 2 "use at most 5 shards" \
    "$dg" attack "${attack[@]}" --shard 0/6 -o "$work/x.dgadv"
# Random starts are keyed by each attempt's place in the whole run, so
# shards that start further in draw what the unsharded run draws there.
expect_success "L-inf mimicry with random starts, unsharded" \
    "$dg" attack "${attack[@]}" -m linf --random-start -o "$work/whole-rs.dgadv"
for i in 0 1; do
    expect_success "random starts: shard $i/2" \
        "$dg" attack "${attack[@]}" -m linf --random-start --shard "$i/2" \
        -o "$work/rs-$i.dgadv"
done
expect_success "random starts: merge" \
    "$dg" advset merge "$work"/rs-[01].dgadv -o "$work/rs.dgadv"
same_guard "random starts: the parts merge into the unsharded set" \
    "$work/rs.dgadv" "$work/whole-rs.dgadv"
expect_failure "attack: --shard with --examples" 2 "examples" \
    "$dg" attack "${attack[@]}" --examples "$work/ex" --shard 0/2 \
    -o "$work/x.dgadv"
expect_failure "advset: only merge" 2 "expected merge" \
    "$dg" advset join "$work/whole.dgadv" -o "$work/x.dgadv"

# ------------------------------------------------------- --shard itself
expect_failure "--shard 2/2 is refused" 2 "shard index 2 of 2" \
    "$dg" guard build "${pruned[@]}" --shard 2/2 -o "$work/x.dg"
expect_failure "--shard 1 is refused" 2 "expected I/N" \
    "$dg" guard build "${pruned[@]}" --shard 1 -o "$work/x.dg"
expect_failure "merge takes no --shard" 2 "option of 'dg guard build'" \
    "$dg" guard merge "${pruned[@]}" --shard 0/2 -o "$work/x.dg"
expect_failure "shards need a work directory" 2 "cannot be empty" \
    "$dg" guard build "${pruned[@]}" --shard 0/2 --work-dir "" -o "$work/x.dg"
expect_failure "--shard auto outside a cluster engine" 2 "give I/N" \
    env -u SLURM_ARRAY_TASK_ID -u OMPI_COMM_WORLD_RANK -u PMI_RANK \
    -u JOB_COMPLETION_INDEX \
    "$dg" guard build "${pruned[@]}" --shard auto -o "$work/x.dg"
expect_failure "--shard auto in a Kubernetes Job needs the count" 2 "auto/N" \
    env JOB_COMPLETION_INDEX=1 \
    "$dg" guard build "${pruned[@]}" --shard auto -o "$work/x.dg"
expect_success "--shard auto in a Slurm array" \
    env SLURM_ARRAY_TASK_ID=2 SLURM_ARRAY_TASK_MIN=1 SLURM_ARRAY_TASK_COUNT=4 \
    "$dg" guard build "${pruned[@]}" --shard auto --json -o "$work/x.dg"
check "the Slurm task is shard 1 of 4" '
import json, sys
r = json.load(sys.stdin)
assert (r["shard"], r["shards"]) == (1, 4), r'
finish
