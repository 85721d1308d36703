#!/usr/bin/env bash
# test_kill_cli.sh - dg train and dg guard build killed with SIGKILL at
# several points (before the first checkpoint or differentiator, just after
# one, later, and at a random moment) and run again until they finish: the
# model and the guard must be byte-identical to those of an uninterrupted
# run.  TAP.
#
# usage: test_kill_cli.sh DG MAKE_BARS
set -u
# shellcheck source=tap.sh
. "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
expect_arguments 2 "DG MAKE_BARS" "$@"
dg=$1
make_bars=$2

run python3 "$make_bars" idx "$work/train" 1000 1 &&
    run python3 "$make_bars" idx "$work/hold" 200 2
require "make_bars"
train=idx:$work/train-images.idx,$work/train-labels.idx
hold=idx:$work/hold-images.idx,$work/hold-labels.idx

# kill_when COMMAND-ARRAY-NAME CONDITION: starts the command in the
# background, waits until CONDITION (a shell expression) holds or the
# command ends, then kills it with SIGKILL.  Sets $killed to 1 if the
# command was still running.
kill_when() {
    local -n command=$1
    local condition=$2 pid
    "${command[@]}" >"$out" 2>"$err" &
    pid=$!
    for _ in $(seq 2000); do
        eval "$condition" || ! kill -0 "$pid" 2>/dev/null && break
        sleep 0.01
    done
    killed=0
    kill -KILL "$pid" 2>/dev/null && killed=1
    wait "$pid" 2>/dev/null
}

# A file's inode number: every save renames a new file over the old one.
inode() { stat -c %i "$1" 2>/dev/null; }

# --------------------------------------------------------------- dg train
model=$work/model.dgm
checkpoint=$model.ckpt
train_command=("$dg" train -q --data "$train" --epochs 30 --batch 32
               --arch c8k3p1,relu,mp2,c8k3p1,relu,gap,fc4 --lr 0.01)
expect_success "train without interruption" \
    "${train_command[@]}" -o "$work/reference.dgm"
interrupted=("${train_command[@]}" -o "$model")
kills=0
kill_when interrupted "sleep 0.05; true"
kills=$((kills + killed))
# At a random moment, early enough that the training (about 0.3 s on a
# fast machine) cannot finish.
kill_when interrupted "sleep 0.0$((RANDOM % 9 + 1)); true"
kills=$((kills + killed))
kill_when interrupted "[ -e '$checkpoint' ]"
kills=$((kills + killed))
# At least one more epoch after resuming; last, so that the run after it
# has a checkpoint to resume from.
resumed_from=$(inode "$checkpoint")
kill_when interrupted "[ \"\$(inode '$checkpoint')\" != '$resumed_from' ]"
kills=$((kills + killed))
if [ "$kills" -ge 3 ]; then
    ok "training was killed $kills times"
else
    not_ok "training was killed $kills times (wanted at least 3)"
fi
expect_success "the same command finishes the training" "${interrupted[@]}"
if grep -q "resuming from .*model.dgm.ckpt after epoch [1-9]" "$err"; then
    ok "the last run resumed from the checkpoint"
else
    not_ok "the last run resumed from the checkpoint"
fi
if cmp -s "$model" "$work/reference.dgm"; then
    ok "the resumed model is byte-identical to the uninterrupted one"
else
    not_ok "the resumed model is byte-identical to the uninterrupted one"
fi
if [ ! -e "$checkpoint" ]; then
    ok "the checkpoint is removed after success"
else
    not_ok "the checkpoint is removed after success"
fi

# --------------------------------------------------------- dg guard build
guard=$work/guard.dg
parts=$guard.work
build_command=("$dg" guard build --student "$work/reference.dgm"
               --data "$train" --holdout "$hold" --per-class 60 --variants 3
               --members 2 --epochs 2 --batch 32 --kind pruned
               --prune-layers 3,0 --ratios 0.1,0.25)
expect_success "build a guard without interruption" \
    "${build_command[@]}" -o "$work/reference.dg"
interrupted=("${build_command[@]}" -o "$guard")
count_parts() { compgen -G "$parts/*.dgm" | wc -l; }
kills=0
kill_when interrupted "sleep 0.1; true"
kills=$((kills + killed))
# Early enough that the build, well under a second, cannot finish.
kill_when interrupted "sleep 0.0$((RANDOM % 9 + 1)); true"
kills=$((kills + killed))
kill_when interrupted "[ \"\$(count_parts)\" -ge 1 ]"
kills=$((kills + killed))
# The last kill comes halfway through the 12 differentiators, so that the
# run after it has some to reuse: a resumed build may finish within any
# fixed delay.
kill_when interrupted "[ \"\$(count_parts)\" -ge 6 ]"
kills=$((kills + killed))
if [ "$kills" -ge 3 ]; then
    ok "the guard build was killed $kills times"
else
    not_ok "the guard build was killed $kills times (wanted at least 3)"
fi
expect_success "the same command finishes the build" "${interrupted[@]}"
if grep -q "resuming: .*guard.dg.work holds [1-9][0-9]* differentiators" \
    "$err"; then
    ok "the last run reused the differentiators already built"
else
    not_ok "the last run reused the differentiators already built"
fi
if cmp -s "$guard" "$work/reference.dg"; then
    ok "the resumed guard is byte-identical to the uninterrupted one"
else
    not_ok "the resumed guard is byte-identical to the uninterrupted one"
fi
if [ ! -e "$parts" ]; then
    ok "the work directory is removed after success"
else
    not_ok "the work directory is removed after success"
fi

finish
