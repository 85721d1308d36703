#!/bin/bash
# The whole pipeline on a real-size Teacher: a ResNet-18 trained and exported
# by PyTorch, a Student made from it by transfer on 3 x 64 x 64 colour images,
# its guard, attacks at three levels, the evaluation, and the validation cost
# against ONNX Runtime.  Every stage's wall time and peak memory go to
# OUT/stages.tsv; a stage whose output exists is skipped, so a stopped run
# resumes where it was.  doc/EVALUATION.md ("A ResNet-18 Teacher") gives the
# numbers of one run and what they mean.
#
# Usage: examples/resnet18/run.sh [--small] BUILD_DIR OUT_DIR
#   BUILD_DIR: a meson build of libdiffguard (its tools/dg/dg is used); built
#              with -Dbench=true and with bench/ort's npm packages installed,
#              the validation cost is measured against ONNX Runtime too.
#   --small:   32 x 32 images, a few dozen per class, a few steps: checks
#              that the pipeline runs (the test example_resnet18), in about
#              a minute; its numbers mean nothing.
# Needs Debian's python3-torch, python3-torchvision, python3-numpy,
# python3-pil and dataset-fashion-mnist.  About 25 minutes on 2 cores.
set -euo pipefail
render_size=() epochs=3 count=100 guard_size=() steps=100 whitebox_steps=50
if [ "${1:-}" = --small ]; then
    render_size=(--side 32 --teacher-per-class 40 --student-per-class 40
                 --test-per-class 20)
    epochs=1 count=10 guard_size=(--variants 2 -m 2 -e 1)
    steps=5 whitebox_steps=5
    shift
fi
if [ $# -ne 2 ]; then
    sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
build=$(cd "$1" && pwd)
mkdir -p "$2"
out=$(cd "$2" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
dg=$build/tools/dg/dg
data=$out/data
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
cd "$out"

# stage NAME OUTPUT COMMAND...: runs COMMAND unless OUTPUT exists, timing it.
stage() {
    local name=$1 output=$2
    shift 2
    if [ -e "$output" ]; then
        echo "== $name: $output is there, skipped"
        return
    fi
    echo "== $name"
    /usr/bin/time -f "%e\t%M" -o "$out/.time" "$@"
    printf '%s\t%s\n' "$name" "$(cat "$out/.time")" >>"$out/stages.tsv"
}
[ -e stages.tsv ] || printf 'stage\tseconds\tpeak_kb\n' >stages.tsv

stage render "$data" \
    /usr/bin/python3 "$here/render.py" "$data" "${render_size[@]}"
stage teacher teacher.onnx \
    /usr/bin/python3 "$here/teacher.py" "$data/teacher-train" teacher.onnx \
    --epochs "$epochs"
stage import teacher.dgm "$dg" import teacher.onnx -o teacher.dgm
stage transfer student.dgm \
    "$dg" transfer -t teacher.dgm -d "$data/student-train" -o student.dgm \
    --test "$data/student-test" -q
# Pruned members: robust ones have the Student's structure, trained from
# the input, which at this size is hours per member (doc/validator.md).
stage guard guard.dg \
    "$dg" guard build -s student.dgm -d "$data/student-train" -o guard.dg \
    --kind pruned --harden-iterations 20 -q "${guard_size[@]}"

# attack NAME STEPS OPTIONS...
attack() {
    local name=$1 iterations=$2
    shift 2
    stage "attack-$name" "$name.dgadv" \
        "$dg" attack -t teacher.dgm -s student.dgm -d "$data/student-test" \
        -m linf -i "$iterations" -o "$name.dgadv" -q "$@"
}
# Level a: mimicry of the Teacher's features at the cut (global pooling,
# layer 46) and at the end of its third stage (layer 34).
attack cut-linf-0.1 "$steps" -n "$count" --epsilon 0.1
attack cut-linf-0.2 "$steps" -n "$count" --epsilon 0.2
attack layer34-linf-0.1 "$steps" -n "$count" --epsilon 0.1 --feature-layer 34
# Level c: the guard's own members join the loss (white box).
# Every step runs the target class's members too (here 10 s per attempt
# at 100 steps, and 10 GB), so it gets fewer attempts and steps.
attack whitebox-linf-0.1 "$whitebox_steps" -n $((count / 5)) --epsilon 0.1 \
    --against-guard guard.dg

stage eval report/eval.json \
    "$dg" eval -s student.dgm -g guard.dg -d "$data/student-test" -o report -q \
    cut-linf-0.1.dgadv cut-linf-0.2.dgadv layer34-linf-0.1.dgadv \
    whitebox-linf-0.1.dgadv

if [ -x "$build/bench/bench_validate" ] &&
    [ -d "$here/../../bench/ort/node_modules/onnxruntime-node" ]; then
    stage validate-cost validate-cost.txt \
        sh -c '"$0" --data "$1" --classes 0,1,2,3,4 "$2" student.dgm guard.dg \
                  1 2 >validate-cost.part &&
               mv validate-cost.part validate-cost.txt' \
        "$here/../../bench/ort_validate.sh" "$data/student-test" "$build"
fi
column -t stages.tsv
