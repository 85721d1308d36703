#!/usr/bin/env bash
# test_eval_cli.sh - dg attack and dg eval end to end on synthetic bar images
# from make_bars.py: a Teacher on the four bar classes, a Student made from
# it by transfer learning on three of them, a small guard, three adversarial
# sets (targeted and untargeted DSSIM mimicry, L-infinity mimicry), and the
# evaluation of the guard and the baselines on them.  The numbers of dg eval
# are checked against each other and against dg attack and dg accuracy; then
# set naming, damaged and missing sets, a guard for another Student, the
# report folder and the text table.  TAP.
#
# usage: test_eval_cli.sh DG MAKE_BARS
set -u
# shellcheck source=tap.sh
. "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
expect_arguments 2 "DG MAKE_BARS" "$@"
dg=$1
make_bars=$2

# ------------------------------------------------------------- fixtures
# 200 bars per class to train on, 100 per class to test and attack on, and
# a copy of the test bars with every eighth label moved to the next class,
# so that the Student gets some clean inputs wrong and accuracy loss and
# false rejection differ.
run python3 "$make_bars" idx "$work/train" 800 1 &&
    run python3 "$make_bars" idx "$work/test" 400 2 &&
    run python3 -c '
import shutil, sys
test, noisy = sys.argv[1:]
shutil.copy(test + "-images.idx", noisy + "-images.idx")
data = bytearray(open(test + "-labels.idx", "rb").read())
for i in range(8, len(data), 8):
    data[i] = (data[i] + 1) % 4
open(noisy + "-labels.idx", "wb").write(data)' "$work/test" "$work/noisy"
require "make_bars"
train=idx:$work/train-images.idx,$work/train-labels.idx
test=idx:$work/test-images.idx,$work/test-labels.idx
noisy=idx:$work/noisy-images.idx,$work/noisy-labels.idx
# A hidden linear layer before the last one: the Student keeps everything
# up to it, and mimicry matches the Teacher's features there.
arch=c8k3p1,relu,mp2,c16k3p1,relu,gap,fc16,relu,fc4
teacher=$work/teacher.dgm
student=$work/student.dgm
other=$work/other.dgm
guard=$work/guard.dg
classes=1-3  # the Student's: vertical, diagonal, anti-diagonal
n_classes=3
variants=4
count=24
per_class=40

expect_success "train the Teacher on four bar classes" \
    "$dg" train -q --data "$train" --arch "$arch" --epochs 8 --lr 0.01 \
    -o "$teacher"
expect_success "transfer a Student to classes $classes" \
    "$dg" transfer -q --teacher "$teacher" --data "$train" \
    --classes "$classes" --epochs 10 --test "$test" -o "$student" --json
check "the Student learned its classes" '
import json, sys
r = json.load(sys.stdin)
assert r["classes"] == 3 and r["test_accuracy"] >= 0.9, r'
expect_success "transfer another Student" \
    "$dg" transfer -q --teacher "$teacher" --data "$train" \
    --classes "$classes" --epochs 1 --seed 2 -o "$other"
expect_success "build a small guard" \
    "$dg" guard build -q -s "$student" -d "$train" --classes "$classes" \
    --variants "$variants" --members 2 --epochs 1 --target-frr 0.1 \
    --rule votes \
    --work-dir "" -o "$guard"

# --------------------------------------------------------------- attack
# attack NAME JSON_OUT ARGS...: dg attack on the test bars into
# $work/NAME.dgadv, its JSON kept in JSON_OUT.
attack() {
    local name=$1 json=$2
    shift 2
    expect_success "attack $name" \
        "$dg" attack -q -t "$teacher" -s "$student" -d "$test" \
        --classes "$classes" --count "$count" -o "$work/$name.dgadv" \
        --json "$@"
    cp "$out" "$json"
}
# What every attack report must satisfy; argv: the set file, the mode, the
# method.
attack_is_sound='
import json, os, sys
r = json.load(sys.stdin)
path, mode, method, count = sys.argv[1], sys.argv[2], sys.argv[3], \
    int(sys.argv[4])
assert os.path.getsize(path) > 0, path
assert r["output"] == path and r["mode"] == mode and r["method"] == method, r
assert r["attempts"] == count, r
assert 0 <= r["within_budget"] <= r["attempts"], r
# Success means the target class, which is never the source: it implies
# leaving the source.
assert 0 <= r["asr"] <= r["not_source_rate"] <= 1, r
assert r["success"] <= r["within_budget"], r
assert abs(r["asr"] - r["success"] / r["attempts"]) < 1e-9, r
groups = r["per_target_class" if mode == "targeted" else "per_source_class"]
assert sum(g["attempts"] for g in groups) == count, groups
assert sum(g["success"] for g in groups) == r["success"], groups
assert all(0 <= g["class"] < 3 for g in groups), groups
if mode == "targeted":
    # Targets take the three classes in turn.
    assert [g["attempts"] for g in groups] == [count // 3] * 3, groups
'
attack targeted "$work/attack-targeted.json" --iterations 100 \
    --examples "$work/examples" --example-count 4
check "targeted dssim: attempts, rates and per-class counts" \
    "$attack_is_sound" "$work/targeted.dgadv" targeted dssim "$count"
check "--examples writes PNG tiles of min(4, within budget) attempts" '
import glob, json, os, sys
r = json.load(sys.stdin)
d = sys.argv[1]
files = sorted(os.listdir(d))
n = min(4, r["within_budget"])
assert len(glob.glob(d + "/*_adversarial.png")) == n, files
for kind in ("source", "adversarial", "diff"):
    assert len(glob.glob(d + "/*_" + kind + ".png")) == n, files
assert "sheet.png" in files and len(files) == 3 * n + 1, files
for f in files:
    data = open(os.path.join(d, f), "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 60, f' \
    "$work/examples"
attack untargeted "$work/attack-untargeted.json" --mode untargeted \
    --iterations 100
check "untargeted dssim: attempts and rates" \
    "$attack_is_sound" "$work/untargeted.dgadv" untargeted dssim "$count"
attack linf "$work/attack-linf.json" --method linf --epsilon 0.2 \
    --step 0.02 --iterations 30
check "targeted linf: attempts and rates" \
    "$attack_is_sound" "$work/linf.dgadv" targeted linf "$count"
expect_failure "attack: --target-class needs --mode targeted" 2 \
    "needs --mode targeted" \
    "$dg" attack -t "$teacher" -s "$student" -d "$test" --classes "$classes" \
    --mode untargeted --target-class 1 -o "$work/never.dgadv"

# ----------------------------------------------------------------- eval
expect_success "evaluate the Student on the noisy clean bars" \
    "$dg" accuracy "$student" --data "$noisy" --classes "$classes" \
    --per-class "$per_class" --json
cp "$out" "$work/evaluate.json"
check "... which it gets partly wrong" '
import json, sys
r = json.load(sys.stdin)
assert 0.5 < r["accuracy"] < 1, r'

eval_command=("$dg" eval -q -s "$student" -g "$guard" -d "$noisy"
              --classes "$classes" --per-class "$per_class")
expect_success "eval --json --report on three named sets" \
    "${eval_command[@]}" "targeted=$work/targeted.dgadv" \
    "untargeted=$work/untargeted.dgadv" "$work/linf.dgadv" \
    --json --report "$work/report"
cp "$out" "$work/eval.json"
check "eval: clean samples and accuracy, attack sets as dg attack saw them" '
import json, sys
r = json.load(sys.stdin)
labels_path, per_class, evaluate = sys.argv[1], int(sys.argv[2]), sys.argv[3]
# The clean inputs: at most per_class of each of the Student classes 1-3.
labels = open(labels_path, "rb").read()[8:]
expected = sum(min(labels.count(bytes([c])), per_class) for c in (1, 2, 3))
assert r["clean"]["samples"] == expected, (r["clean"], expected)
acc = json.load(open(evaluate))
assert acc["samples"] == expected, acc
assert abs(r["clean"]["student_accuracy"] - acc["accuracy"]) < 1e-9, \
    (r["clean"], acc["accuracy"])
assert sorted(r["attack"]) == ["linf", "targeted", "untargeted"], r["attack"]
for name in ("targeted", "untargeted", "linf"):
    a = r["attack"][name]
    d = json.load(open("%s/attack-%s.json" % (sys.argv[4], name)))
    # The same Student judges the same images: the same numbers.
    assert a["mode"] == d["mode"], (name, a, d["mode"])
    assert a["attempts"] == d["attempts"] == int(sys.argv[5]), (name, a)
    assert a["within_budget"] == d["within_budget"], (name, a, d)
    assert abs(a["asr"] - d["asr"]) < 1e-9, (name, a, d["asr"])
    assert abs(a["not_source_rate"] - d["not_source_rate"]) < 1e-9, (name, a)
    # Fooling: the target reached (targeted) or the source left.
    rate = a["asr"] if a["mode"] == "targeted" else a["not_source_rate"]
    assert abs(a["fooling"] - rate * a["attempts"]) < 1e-6, (name, a)
    assert a["fooling"] > 0, (name, a)' \
    "$work/noisy-labels.idx" "$per_class" "$work/evaluate.json" "$work" \
    "$count"
check "eval: every row and set, counts, rates and costs agree" '
import json, math, sys
r = json.load(sys.stdin)
V, K = int(sys.argv[1]), int(sys.argv[2])
sets = ("targeted", "untargeted", "linf")
n = r["clean"]["samples"]
acc = r["clean"]["student_accuracy"]
correct = round(acc * n)
assert abs(acc * n - correct) < 1e-6 and 0 < correct < n, (acc, n)
d = r["defence"]
assert d["variants"] == V and d["m"] == 2 and d["rule"] == "votes", d
rows = d["by_members"]
assert len(rows) == 2 * V, rows
assert [(x["m"], x["rule"]) for x in rows] == \
    [(m, "votes") for m in range(1, V + 1)] + \
    [(m, "score") for m in range(1, V + 1)], rows
b = r["baselines"]
fs = b["feature_squeezing"]
named = [("M=%d %s" % (x["m"], x["rule"]), x) for x in rows] + [
    ("no defence", b["no_defence"]), ("pool", b["pool"]),
    ("squeezing", fs), ("squeezing at the guard FRR", fs["at_guard_frr"])]
def unit(v):
    return v is None or (isinstance(v, (int, float)) and 0 <= v <= 1)
for what, x in named:
    frr, loss = x["false_rejection_rate"], x["accuracy_loss"]
    assert unit(frr) and unit(loss) and frr is not None, (what, x)
    # loss = rejected correct / clean, FRR = rejected correct / correct.
    rejected = frr * correct
    assert abs(rejected - round(rejected)) < 1e-6, (what, x)
    assert abs(loss - round(rejected) / n) < 1e-8, (what, x)
    assert abs(loss - frr * acc) < 1e-8, (what, x, acc)
    for s in sets:
        y = x[s]
        fooling = r["attack"][s]["fooling"]
        # Every row judges the same attempts.
        assert y["fooling"] == fooling, (what, s, y)
        assert 0 <= y["stopped"] <= y["fooling"], (what, s, y)
        if y["fooling"]:
            assert abs(y["defence_rate"] - y["stopped"] / y["fooling"]) \
                < 1e-8, (what, s, y)
        else:
            assert y["defence_rate"] is None, (what, s, y)
        for k in ("defence_rate", "roc_auc", "tpr_at_5pct_fpr",
                  "tpr_at_1pct_fpr"):
            assert unit(y[k]), (what, s, k, y)
for x in rows:
    assert x["forward_passes"] == 1 + x["m"], x
    for s in sets:
        assert x[s]["roc_auc"] is not None, (x, s)
none = b["no_defence"]
assert none["false_rejection_rate"] == 0 and none["accuracy_loss"] == 0, none
assert none["forward_passes"] == 1, none
for s in sets:
    assert none[s]["defence_rate"] in (0, None) and none[s]["stopped"] == 0, \
        none
    assert none[s]["roc_auc"] is None, none
assert b["pool"]["forward_passes"] == K * V, b["pool"]
# The default M and rule are the top-level numbers.
default = [x for x in rows if x["m"] == d["m"] and x["rule"] == d["rule"]]
assert len(default) == 1, rows
for k, v in default[0].items():
    if k not in ("m", "rule"):
        assert d[k] == v, (k, d[k], v)
# Baselines are calibrated to flag at most a share of the clean inputs the
# Student gets right: feature squeezing 5%, the pool and the matched
# squeezing the guard false rejection rate.
guard_frr = d["false_rejection_rate"]
assert fs["bits"] == 2 and abs(fs["target_fpr"] - 0.05) < 1e-9, fs
assert fs["false_rejection_rate"] <= 0.05 + 1e-9, fs
assert b["pool"]["false_rejection_rate"] <= guard_frr + 1e-9, b["pool"]
assert fs["at_guard_frr"]["false_rejection_rate"] <= guard_frr + 1e-9, fs' \
    "$variants" "$n_classes"

# ---------------------------------------------------------- the report
report=$work/report
run cat "$report/eval.json"
check "report/eval.json is what --json printed" '
import json, sys
assert json.load(sys.stdin) == json.load(open(sys.argv[1]))' \
    "$work/eval.json"
check "report: the charts are PNG images of a readable size" '
import os, struct, sys
d = sys.argv[1]
charts = ["defence-vs-members.png", "cost-vs-members.png"] + [
    "roc-%s.png" % s for s in ("targeted", "untargeted", "linf")]
files = sorted(os.listdir(d))
assert files == sorted(charts + ["eval.json", "eval.md"]), files
for f in charts:
    data = open(os.path.join(d, f), "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f
    width, height = struct.unpack(">II", data[16:24])
    assert width >= 200 and height >= 150, (f, width, height)
    assert len(data) > 2000, (f, len(data))' "$report"
run cat "$report/eval.md"
check "report: eval.md tables name every set and the baselines" '
import json, re, sys
text = sys.stdin.read()
r = json.load(open(sys.argv[1]))
assert re.search(r"^\| no defence \| 1 \| 0\.0% \| 0\.0% \|", text, re.M), text
for s in ("targeted", "untargeted", "linf"):
    a = r["attack"][s]
    row = r"^\| %s \| %s \| %d \| %d \| %.1f%% \|" % (
        s, a["mode"], a["attempts"], a["within_budget"], 100 * a["asr"])
    assert re.search(row, text, re.M), (row, text)
    assert "%s: defence rate" % s in text, text
for m in range(1, int(sys.argv[2]) + 1):
    assert re.search(r"^\| guard M=%d votes \| %d \|" % (m, m + 1), text,
                     re.M), (m, text)
assert re.search(r"^\| whole pool, no phase 1 \| %d \|" % (3 * int(
    sys.argv[2])), text, re.M), text
assert "| feature squeezing (5% FPR) | 3 |" in text, text' \
    "$work/eval.json" "$variants"

expect_success "eval prints a table without --json" \
    "${eval_command[@]}" "$work/targeted.dgadv" "u=$work/untargeted.dgadv"
check "text: a column pair per set and a row per M of the default rule" '
import re, sys
lines = sys.stdin.read().splitlines()
head = lines[0].split()
assert head[:4] == ["defence", "passes", "FRR", "acc."], lines[0]
for s in ("targeted", "u"):
    assert "%s: defence" % s in lines[0] and "%s: AUC" % s in lines[0], \
        lines[0]
names = [re.split(r"\s{2,}", l.strip())[0] for l in lines[1:]]
V = int(sys.argv[1])
assert names[:V] == ["guard M=%d votes" % m for m in range(1, V + 1)], names
assert "guard M=2 score" in names and "no defence" in names, names
row = lines[1 + names.index("no defence")].split()
assert row[2:] == ["1", "0.0%", "0.0%", "0.0%", "-", "0.0%", "-"], row' \
    "$variants"

# --------------------------------------------------------- set naming
run "${eval_command[@]}" "$work/linf.dgadv" "lin=$work/linf.dgadv" --json
check "a set is named NAME= or after its file" '
import json, sys
r = json.load(sys.stdin)
assert sorted(r["attack"]) == ["lin", "linf"], r["attack"]
assert r["attack"]["lin"] == r["attack"]["linf"], r["attack"]
assert r["defence"]["lin"] == r["defence"]["linf"], r["defence"]'
cp "$work/linf.dgadv" "$work/b_linf_0.1.dgadv"
run "${eval_command[@]}" "$work/b_linf_0.1.dgadv" --json
check "a file name with a dot, as the demo writes, names its set" '
import json, sys
r = json.load(sys.stdin)
assert sorted(r["attack"]) == ["b_linf_0.1"], r["attack"]'
expect_failure "two sets named alike are a usage error" 2 \
    'two sets are named "a"' \
    "${eval_command[@]}" "a=$work/targeted.dgadv" "a=$work/untargeted.dgadv"
expect_failure "a NAME= that repeats a file name is a usage error" 2 \
    'two sets are named "linf"' \
    "${eval_command[@]}" "$work/linf.dgadv" "linf=$work/untargeted.dgadv"
expect_failure "an empty set name is a usage error" 2 "bad set name" \
    "${eval_command[@]}" "=$work/linf.dgadv"
expect_failure "a set name that is no file name is a usage error" 2 \
    'the set name "a/b" may only hold' \
    "${eval_command[@]}" "a/b=$work/linf.dgadv"
expect_failure "no sets is a usage error" 2 "expected \[NAME=\]ADVSET" \
    "${eval_command[@]}"
# Any number of sets: eight copies of one set, more than one terminal
# table holds (6 sets), so the text goes on in a second table.
eight=()
for name in a b c d e f g h; do eight+=("$name=$work/linf.dgadv"); done
expect_success "eval takes eight sets" "${eval_command[@]}" "${eight[@]}" \
    --json
check "... each reported as the one set they copy" '
import json, sys
r = json.load(sys.stdin)
assert sorted(r["attack"]) == list("abcdefgh"), r["attack"]
for s in "bcdefgh":
    assert r["attack"][s] == r["attack"]["a"], r["attack"]
    assert r["defence"][s] == r["defence"]["a"], r["defence"]'
expect_success "eval prints eight sets as text" \
    "${eval_command[@]}" "${eight[@]}"
check "... in a table of six sets and one of two, rows alike" '
import re, sys
tables = [t.splitlines() for t in sys.stdin.read().split("\n\n")]
assert len(tables) == 2, tables
heads = [t[0] for t in tables]
for k, sets in enumerate(("abcdef", "gh")):
    assert heads[k].split()[:4] == ["defence", "passes", "FRR", "acc."]
    named = [w[:-1] for w in heads[k].split() if w.endswith(":")]
    assert named == [c for s in sets for c in (s, s)], heads[k]
def rows(table):
    return [re.split(r"\s{2,}", l.strip())[0] for l in table[1:]]
assert "no defence" in rows(tables[0]), tables
assert rows(tables[0]) == rows(tables[1]), tables'
expect_failure "eval without --guard" 2 "--guard is required" \
    "$dg" eval -s "$student" -d "$noisy" --classes "$classes" \
    "$work/linf.dgadv"
expect_failure "eval without --data" 2 "--data is required" \
    "$dg" eval -s "$student" -g "$guard" --classes "$classes" \
    "$work/linf.dgadv"

# ---------------------------------------- damaged sets, other Students
size=$(stat -c %s "$work/targeted.dgadv")
cp "$work/targeted.dgadv" "$work/flipped.dgadv"
printf '\x5a' | dd of="$work/flipped.dgadv" bs=1 seek=$((size / 2)) \
    conv=notrunc status=none
head -c $((size - 50)) "$work/targeted.dgadv" >"$work/truncated.dgadv"
head -c 20 "$work/targeted.dgadv" >"$work/stub.dgadv"
expect_failure "a set with a flipped byte fails, naming the file" 1 \
    "flipped\.dgadv" \
    "${eval_command[@]}" "$work/linf.dgadv" "$work/flipped.dgadv"
expect_failure "a truncated set fails, naming the file" 1 \
    "truncated\.dgadv" \
    "${eval_command[@]}" "$work/linf.dgadv" "t=$work/truncated.dgadv"
expect_failure "a set cut in its header fails, naming the file" 1 \
    "stub\.dgadv" "${eval_command[@]}" "$work/stub.dgadv"
expect_failure "a missing set fails, naming the file" 1 "missing\.dgadv" \
    "${eval_command[@]}" "$work/linf.dgadv" "$work/missing.dgadv"
expect_failure "a model is not a set" 1 "student\.dgm" \
    "${eval_command[@]}" "$student"
expect_failure "a guard built for another Student is refused" 1 \
    "built for another Student" \
    "$dg" eval -q -s "$other" -g "$guard" -d "$noisy" --classes "$classes" \
    "$work/linf.dgadv"
expect_failure "clean data with classes the Student lacks is refused" 1 \
    "clean sample [0-9]* has class 3, but the Student has 3" \
    "$dg" eval -q -s "$student" -g "$guard" -d "$noisy" "$work/linf.dgadv"
# A set made against the four-class Teacher has classes the Student lacks.
expect_success "attack the Teacher itself on all four classes" \
    "$dg" attack -q -t "$teacher" -s "$teacher" -d "$test" --count 8 \
    --iterations 5 -o "$work/four.dgadv"
expect_failure "a set with classes the Student lacks is refused" 1 \
    "set four: attempt [0-9]* has classes .* but the Student has 3" \
    "${eval_command[@]}" "$work/four.dgadv"
if [ -e "$work/never.dgadv" ]; then
    not_ok "failed commands write no set"
else
    ok "failed commands write no set"
fi

finish
