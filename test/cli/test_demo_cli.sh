#!/usr/bin/env bash
# test_demo_cli.sh - `dg demo --quick` on Fashion-MNIST: the JSON report,
# the files it writes, and continuing after Ctrl-C.  The demo is
# interrupted while the Student trains, run again to finish, and run a third
# time to reuse everything.  Skipped without Debian's dataset-fashion-mnist.
# TAP.
#
# usage: test_demo_cli.sh DG
set -u

if [ $# -ne 1 ]; then
    echo "usage: $0 DG" >&2
    exit 2
fi
dg=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# shellcheck source=tap.sh
. "$(dirname "${BASH_SOURCE[0]}")/tap.sh"

fmnist=/usr/share/datasets/fashion-mnist
if [ ! -e "$fmnist/train-images-idx3-ubyte.gz" ]; then
    skip "dg demo --quick" "Fashion-MNIST is not installed in $fmnist"
    finish
    exit
fi

demo=$work/demo
demo_command=("$dg" demo --quick --out "$demo" --json)

# ------------------------------------------------------ interrupt, resume
"${demo_command[@]}" >"$out" 2>"$err" &
pid=$!
for _ in $(seq 2400); do
    [ -e "$demo/student.ckpt" ] || ! kill -0 "$pid" 2>/dev/null && break
    sleep 0.05
done
kill -INT "$pid" 2>/dev/null
wait "$pid"
rc=$?
if [ "$rc" -eq 1 ] && grep -q "interrupted" "$err" &&
    [ -e "$demo/teacher.dgm" ] && [ -e "$demo/student.ckpt" ] &&
    [ ! -e "$demo/student.dgm" ]; then
    ok "Ctrl-C during the student stage keeps the teacher and a checkpoint"
else
    not_ok "Ctrl-C during the student stage keeps the teacher and a checkpoint"
fi

expect_success "demo --quick --json continues" "${demo_command[@]}"
if grep -q "teacher: reusing" "$err" &&
    grep -q "resuming from .*student.ckpt" "$err"; then
    ok "it reuses the teacher and resumes the student"
else
    not_ok "it reuses the teacher and resumes the student"
fi
report_is_sound='
import json, sys
r = json.load(sys.stdin)
assert r["scenario"] == "fmnist-split" and r["mode"] == "quick", r
for name in ("teacher", "student"):
    m = r[name]
    assert 0 <= m["test_accuracy"] <= 1, m
    assert m["test_samples"] == 5000, m
    s = m["settings"]
    for key in ("classes", "per_class", "epochs", "batch", "optimizer",
                "learning_rate", "schedule", "architecture"):
        assert key in s, (name, key)
    assert m["reused"] == (name in sys.argv[1:]), m
    if not m["reused"]:
        assert m["train_seconds"] > 0 and m["images_per_second"] > 0, m
assert r["teacher"]["settings"]["classes"] == "0-4", r
assert r["student"]["settings"]["classes"] == "5-9", r
assert r["teacher"]["test_accuracy"] > 0.7, r["teacher"]
assert r["seconds"] > 0, r
'
check "the JSON report holds both accuracies, settings and timings" \
    "$report_is_sound" teacher
check "the resumed student finished its epochs" '
import json, sys
s = json.load(sys.stdin)["student"]
assert s["resumed_epoch"] >= 1, s
assert s["resumed_epoch"] < s["settings"]["epochs"], s'
cp "$out" "$work/first.json"

missing=
for f in teacher.dgm student.dgm report.json report.md settings.json; do
    [ -s "$demo/$f" ] || missing="$missing $f"
done
for f in teacher.ckpt student.ckpt; do
    [ -e "$demo/$f" ] && missing="$missing (leftover $f)"
done
if [ -z "$missing" ]; then
    ok "the demo folder holds the models and reports, no checkpoints"
else
    echo "# missing:$missing"
    not_ok "the demo folder holds the models and reports, no checkpoints"
fi
run cat "$demo/report.json"
check "report.json agrees with the printed report" '
import json, sys
written, printed = json.load(sys.stdin), json.load(open(sys.argv[1]))
for name in ("teacher", "student"):
    assert written[name]["test_accuracy"] == printed[name]["test_accuracy"]' \
    "$work/first.json"
run cat "$demo/report.md"
check "report.md has a table row per model" '
import re, sys
text = sys.stdin.read()
assert re.search(r"^\| teacher \| 0-4 \|.*\d+\.\d\d% \(\d+ of 5000\) \|$",
                 text, re.M), text
assert re.search(r"^\| student \| 5-9 \|.*\d+\.\d\d% \(\d+ of 5000\) \|$",
                 text, re.M), text'

# ------------------------------------------------------------- reuse all
expect_success "a third run reuses both models" "${demo_command[@]}"
check "... and reports the same accuracies" "$report_is_sound" teacher student
check "... exactly" '
import json, sys
now, before = json.load(sys.stdin), json.load(open(sys.argv[1]))
for name in ("teacher", "student"):
    assert now[name]["test_accuracy"] == before[name]["test_accuracy"]' \
    "$work/first.json"
expect_failure "other settings in the same folder are refused" 1 \
    "other settings" "$dg" demo --quick --seed 2 --out "$demo"

finish
