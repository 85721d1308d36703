#!/usr/bin/env bash
# test_train_cli.sh - dg train, transfer and accuracy end to end on synthetic
# bar images from make_bars.py: accuracy, frozen layers, the confusion
# matrix, resuming an interrupted training, and bad arguments.  TAP.
#
# usage: test_train_cli.sh DG MAKE_BARS CHECK_FROZEN
set -u
# shellcheck source=tap.sh
. "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
expect_arguments 3 "DG MAKE_BARS CHECK_FROZEN" "$@"
dg=$1
make_bars=$2
check_frozen=$3

# ------------------------------------------------------------- fixtures
run python3 "$make_bars" idx "$work/train" 800 1 &&
    run python3 "$make_bars" idx "$work/test" 400 2 &&
    run python3 "$make_bars" idx "$work/big" 4000 3 &&
    run python3 "$make_bars" folder "$work/folder-train" 400 4 &&
    run python3 "$make_bars" folder "$work/folder-test" 200 5
require "make_bars"
train=idx:$work/train-images.idx,$work/train-labels.idx
test=idx:$work/test-images.idx,$work/test-labels.idx
big=idx:$work/big-images.idx,$work/big-labels.idx
arch=c8k3p1,relu,mp2,fc16,relu,fc4
bar_names=horizontal,vertical,diagonal,anti-diagonal
teacher=$work/teacher.dgm
student=$work/student.dgm

# ---------------------------------------------------------------- usage
expect_success "help lists the training commands" "$dg" help
check "help names train, transfer, accuracy and demo" '
import sys
text = sys.stdin.read()
assert all(c in text for c in ("train", "transfer", "accuracy", "demo")), text
assert "evaluate is the former name of accuracy" in text, text'
expect_success "train --help" "$dg" train --help
check "train --help lists the shared options with defaults" '
import sys
text = sys.stdin.read()
for o in ("--data", "--classes", "--per-class", "--arch", "--epochs",
          "--schedule", "--checkpoint", "--class-names", "--json"):
    assert o in text, o
assert "(default 4)" in text and "(default constant)" in text, text'
expect_success "transfer --help" "$dg" transfer --help
check "transfer --help shows the head defaults" '
import sys
text = sys.stdin.read()
assert "--teacher" in text and "--cut" in text and "--head" in text, text
assert "(default 50)" in text and "(default cosine)" in text, text'

# ---------------------------------------------------------------- train
expect_success "train on bars" \
    "$dg" train --data "$train" --arch "$arch" --epochs 5 --lr 0.01 \
    --class-names "$bar_names" --test "$test" -o "$teacher" --json
check "train --json: test accuracy at least 0.95" '
import json, sys
r = json.load(sys.stdin)
assert r["samples"] == 800 and r["classes"] == 4, r
assert r["epochs"] == 5 and r["epochs_run"] == 5, r
assert r["resumed_epoch"] == 0, r
assert r["train_accuracy"] >= 0.95, r
assert r["test_samples"] == 400, r
assert r["test_accuracy"] >= 0.95, r
assert abs(r["test_accuracy"] - r["test_correct"] / 400) < 1e-9, r
assert r["images_per_second"] > 0, r'
if [ -e "$teacher.ckpt" ]; then
    not_ok "the checkpoint is removed after success"
else
    ok "the checkpoint is removed after success"
fi
expect_success "info on the trained model" "$dg" info --json "$teacher"
cp "$out" "$work/teacher-info.json"
check "the model carries the --class-names" '
import json, sys
m = json.load(sys.stdin)
assert m["classes"] == sys.argv[1].split(","), m["classes"]' "$bar_names"

expect_success "train on an image folder" \
    "$dg" train --data "$work/folder-train" --input 1x8x8 --arch "$arch" \
    --epochs 10 --lr 0.01 --test "$work/folder-test" \
    -o "$work/folder.dgm" --json
check "folder training reaches 0.95 on the folder test set" '
import json, sys
r = json.load(sys.stdin)
assert r["samples"] == 400 and r["test_samples"] == 200, r
assert r["test_accuracy"] >= 0.95, r'
expect_success "info on the folder model" "$dg" info --json "$work/folder.dgm"
check "folder classes are named after the sorted sub-folders" '
import json, sys
m = json.load(sys.stdin)
assert m["classes"] == ["anti-diagonal", "diagonal", "horizontal",
                        "vertical"], m["classes"]'

# ------------------------------------------------------------- transfer
# The Student learns the two diagonal classes on the Teacher's features.
expect_success "transfer to classes 2,3" \
    "$dg" transfer --teacher "$teacher" --data "$train" --classes 2,3 \
    --epochs 10 --test "$test" -o "$student" --json
check "transfer --json: two classes, test accuracy at least 0.9" '
import json, sys
r = json.load(sys.stdin)
assert r["classes"] == 2 and r["samples"] == 400, r
assert r["test_samples"] == 200 and r["test_accuracy"] >= 0.9, r'
# 200 samples per class: past the first 150 of each, 50 are left.
expect_success "transfer --skip-per-class takes later samples" \
    "$dg" transfer --teacher "$teacher" --data "$train" --classes 2,3 \
    --skip-per-class 150 --epochs 1 -o "$work/later.dgm" --json
check "... 50 of each class" '
import json, sys
assert json.load(sys.stdin)["samples"] == 100'
expect_failure "transfer --skip-per-class past every sample" 2 \
    "after the first 200" "$dg" transfer --teacher "$teacher" \
    --data "$train" --classes 2,3 --skip-per-class 200 -o "$work/none.dgm"
expect_success "info on the student" "$dg" info --json "$student"
check "the student copies the teacher up to its last linear, frozen" '
import json, sys
student = json.load(sys.stdin)["layers"]
teacher = json.load(open(sys.argv[1]))["layers"]
kept = max(i for i, l in enumerate(teacher) if l["kind"] == "linear")
def shape(l):
    return (l["kind"], l["inputs"], l["output"], l["parameters"])
assert [shape(l) for l in student[:kept]] == \
       [shape(l) for l in teacher[:kept]], student
assert all(l["frozen"] for l in student[:kept]), student
assert [l["kind"] for l in student[kept:]] == ["linear"], student
assert not student[kept]["frozen"], student
assert student[kept]["output"]["channels"] == 2, student' \
    "$work/teacher-info.json"
expect_success "the student's frozen layers compute what the teacher's do" \
    "$check_frozen" "$teacher" "$student" "$work/test-images.idx" \
    "$work/test-labels.idx"
# Without this, a check_frozen that never compares anything would pass.
expect_success "train an unrelated model of the same shape" \
    "$dg" train -q --data "$train" --arch "$arch" --epochs 1 --seed 2 \
    -o "$work/other.dgm"
expect_failure "check_frozen notices other weights" 1 "differs" \
    "$check_frozen" "$work/other.dgm" "$student" "$work/test-images.idx" \
    "$work/test-labels.idx"

# ------------------------------------------------------------- accuracy
# Rows of the matrix are true classes: each row sums to that class's
# samples, the whole to the sample count, the diagonal to the correct count.
confusion_agrees='
import json, sys
r = json.load(sys.stdin)
m, classes = r["confusion"], r["classes"]
k = len(classes)
assert len(m) == k and all(len(row) == k for row in m), m
assert sum(map(sum, m)) == r["samples"] == int(sys.argv[1]), r
assert sum(m[i][i] for i in range(k)) == r["correct"], r
assert abs(r["accuracy"] - r["correct"] / r["samples"]) < 1e-9, r
for i, c in enumerate(classes):
    assert c["class"] == i and c["samples"] == sum(m[i]), c
    assert c["correct"] == m[i][i], c
    assert abs(c["accuracy"] - c["correct"] / c["samples"]) < 1e-9, c
names = sys.argv[2].split(",") if len(sys.argv) > 2 else None
assert names is None or [c["name"] for c in classes] == names, classes'
expect_success "evaluate --json the student on classes 2,3" \
    "$dg" accuracy "$student" --data "$test" --classes 2,3 --json
check "the student's confusion matrix adds up" "$confusion_agrees" 200
expect_success "evaluate --json the teacher" \
    "$dg" accuracy "$teacher" --data "$test" --json
check "the teacher's confusion matrix adds up, with class names" \
    "$confusion_agrees" 400 "$bar_names"
expect_success "evaluate (the former name of accuracy) the teacher (text)" \
    "$dg" evaluate "$teacher" --data "$test"
check "text shows accuracy, per-class rows and an aligned matrix" '
import re, sys
text = sys.stdin.read()
assert re.search(r"^accuracy\s+\d+\.\d\d% \(\d+ of 400\)$", text, re.M), text
names = ["horizontal", "vertical", "diagonal", "anti-diagonal"]
for i, n in enumerate(names):
    assert re.search(r"^\s*%d\s+%s\s+\d+\s+\d+\s+\d+\.\d\d%%$" % (i, n),
                     text, re.M), n
header = [l for l in text.splitlines() if l.startswith("true \\ predicted")]
assert len(header) == 1 and header[0].split()[3:] == ["0", "1", "2", "3"], text
rows = text.split(header[0])[1].strip().splitlines()
assert len(rows) == 4, rows
# Right-aligned columns: every row ends at the same column.
assert len({len(r) for r in rows + header}) == 1, rows
assert sum(sum(map(int, r.split()[-4:])) for r in rows) == 400, rows'

# --------------------------------------------------------------- resume
resume_model=$work/resume.dgm
checkpoint=$resume_model.ckpt
resume_command=("$dg" train --data "$big" --test "$test" --epochs 8
                --arch c32k3p1,relu,c32k3p1,relu,mp2,fc64,relu,fc4
                -o "$resume_model" --json)
"${resume_command[@]}" >"$out" 2>"$err" &
pid=$!
for _ in $(seq 1200); do
    [ -e "$checkpoint" ] || ! kill -0 "$pid" 2>/dev/null && break
    sleep 0.05
done
kill -INT "$pid" 2>/dev/null
wait "$pid"
rc=$?
if [ "$rc" -eq 1 ] && grep -q "interrupted.*resume" "$err" &&
    [ -e "$checkpoint" ] && [ ! -e "$resume_model" ]; then
    ok "Ctrl-C stops training, keeping the checkpoint"
else
    not_ok "Ctrl-C stops training, keeping the checkpoint"
fi
expect_failure "the checkpoint refuses other settings" 1 "other settings" \
    "${resume_command[@]}" --lr 0.002
expect_success "the same command resumes" "${resume_command[@]}"
if grep -q "resuming from .*resume.dgm.ckpt after epoch" "$err"; then
    ok "resuming is reported"
else
    not_ok "resuming is reported"
fi
check "the resumed run finishes the epochs with good accuracy" '
import json, sys
r = json.load(sys.stdin)
assert 1 <= r["resumed_epoch"] < 8, r
assert r["epochs_run"] == 8 - r["resumed_epoch"], r
assert r["test_accuracy"] >= 0.95, r'
if [ -e "$resume_model" ] && [ ! -e "$checkpoint" ]; then
    ok "the resumed run writes the model and removes the checkpoint"
else
    not_ok "the resumed run writes the model and removes the checkpoint"
fi

# ---------------------------------------------------------- bad arguments
model=$work/bad.dgm
expect_failure "unknown data spec" 2 "unknown data spec \"nope:x\"" \
    "$dg" train --data nope:x -o "$model"
expect_failure "unknown Fashion-MNIST split" 2 "fmnist:train or fmnist:test" \
    "$dg" accuracy "$teacher" --data fmnist:validation
expect_failure "idx spec without labels" 2 "idx:IMAGES,LABELS" \
    "$dg" train --data "idx:$work/train-images.idx" -o "$model"
expect_failure "missing IDX file" 1 "missing-images.idx" \
    "$dg" train --data "idx:$work/missing-images.idx,$work/train-labels.idx" \
    -o "$model"
expect_failure "missing folder" 1 "no-such-folder" \
    "$dg" train --data "$work/no-such-folder" -o "$model"
expect_failure "--classes out of range" 1 "the data set has classes 0 to 3" \
    "$dg" train --data "$train" --arch "$arch" --classes 0,7 -o "$model"
expect_failure "--classes not a list" 2 "--classes must list class numbers" \
    "$dg" train --data "$train" --classes 0,x -o "$model"
expect_failure "--epochs 0" 2 "--epochs must be an integer from 1" \
    "$dg" train --data "$train" --epochs 0 -o "$model"
expect_failure "--optimizer unknown" 2 "--optimizer must be adam or sgd" \
    "$dg" train --data "$train" --optimizer rmsprop -o "$model"
expect_failure "no --output" 2 "--output is required" \
    "$dg" train --data "$train"
expect_failure "no --data" 2 "--data is required" "$dg" train -o "$model"
expect_failure "--class-names of the wrong length" 2 "2 names for 4 classes" \
    "$dg" train --data "$train" --arch "$arch" --class-names a,b -o "$model"
expect_failure "an architecture too deep for 8x8 images" 1 "building" \
    "$dg" train --data "$train" -o "$model"
expect_failure "transfer from a missing teacher" 1 "missing.dgm" \
    "$dg" transfer --teacher "$work/missing.dgm" --data "$train" \
    -o "$model"
expect_failure "evaluate labels the model lacks" 1 "the model has 2 outputs" \
    "$dg" accuracy "$student" --data "$test"
if [ -e "$model" ]; then
    not_ok "failed commands write no model"
else
    ok "failed commands write no model"
fi

finish
