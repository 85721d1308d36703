#!/usr/bin/env bash
# test_attack_cli.sh - dg attack's adaptive attacks end to end on synthetic
# bar images from make_bars.py: a Teacher, a Student made by transfer, a
# small guard; mimicry against the guard's members (--against-guard), a
# pure cross-entropy attack through the Student (--against-models
# --no-feature-term) that must fool it, a draw of members per step, the
# settings recorded in the JSON report and in the set, and bad
# combinations of options.  TAP.
#
# usage: test_attack_cli.sh DG MAKE_BARS
set -u
# shellcheck source=tap.sh
. "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
expect_arguments 2 "DG MAKE_BARS" "$@"
dg=$1
make_bars=$2

# ------------------------------------------------------------- fixtures
run python3 "$make_bars" idx "$work/train" 800 1 &&
    run python3 "$make_bars" idx "$work/test" 400 2
require "make_bars"
train=idx:$work/train-images.idx,$work/train-labels.idx
test=idx:$work/test-images.idx,$work/test-labels.idx
arch=c8k3p1,relu,mp2,c16k3p1,relu,gap,fc16,relu,fc4
teacher=$work/teacher.dgm
student=$work/student.dgm
guard=$work/guard.dg
classes=1-3
count=18

expect_success "train the Teacher" \
    "$dg" train -q --data "$train" --arch "$arch" --epochs 8 --lr 0.01 \
    -o "$teacher"
expect_success "transfer a Student to classes $classes" \
    "$dg" transfer -q --teacher "$teacher" --data "$train" \
    --classes "$classes" --epochs 10 -o "$student"
# The held-out share and weight steps the attack checks were written for
# (5 epochs of 4 replays): chosen from this small data set, the members
# would train longer and resist the adaptive attacks more than these
# checks expect.
expect_success "build a small guard" \
    "$dg" guard build -q -s "$student" -d "$train" --classes "$classes" \
    --variants 3 --members 2 --epochs 1 --target-frr 0.1 --work-dir "" \
    --holdout-fraction 0.2 --robust-epochs 5 -o "$guard"

# attack NAME ARGS...: dg attack on the test bars into $work/NAME.dgadv,
# its JSON kept in $work/NAME.json.
attack() {
    local name=$1
    shift
    expect_success "attack $name" \
        "$dg" attack -q -t "$teacher" -s "$student" -d "$test" \
        --classes "$classes" --count "$count" -o "$work/$name.dgadv" \
        --json "$@"
    cp "$out" "$work/$name.json"
}

# ---------------------------------------------------------------- usage
expect_success "attack --help lists the adaptive options" "$dg" attack --help
check "... all of them" '
import sys
text = sys.stdin.read()
for o in ("--feature-layer", "--against-guard", "--guard-student",
          "--guard-members", "--against-models", "--adaptive-weight",
          "--draw", "--no-feature-term"):
    assert o in text, o'
base=("$dg" attack -t "$teacher" -s "$student" -d "$test" --classes "$classes"
      -o "$work/never.dgadv")
expect_failure "--no-feature-term needs models" 2 \
    "no-feature-term needs --against-guard or --against-models" \
    "${base[@]}" --no-feature-term
expect_failure "--draw needs models" 2 "draw needs" "${base[@]}" --draw 1
expect_failure "--guard-student needs a guard" 2 \
    "guard-student needs --against-guard" \
    "${base[@]}" --guard-student "$student"
expect_failure "an untargeted PGD has no class to take members of" 2 \
    "against-guard needs a target class" \
    "${base[@]}" --method pgd --mode untargeted --against-guard "$guard"
expect_failure "more members than the guard has" 2 "has 3 per class" \
    "${base[@]}" --against-guard "$guard" --guard-members 4
expect_failure "a guard of another Student" 1 "loading the guard" \
    "${base[@]}" --against-guard "$guard" --guard-student "$teacher"
expect_failure "a missing model" 1 "loading $work/none.dgm" \
    "${base[@]}" --against-models "$student,$work/none.dgm"

# ------------------------------------------------------------- attacks
linf=(--method linf --epsilon 0.3 --step 0.02 --iterations 60)
attack plain "${linf[@]}"
attack guard "${linf[@]}" --against-guard "$guard" --adaptive-weight 30
attack through-student --method pgd --epsilon 0.3 --step 0.02 \
    --iterations 60 --against-models "$student" --no-feature-term
attack drawn "${linf[@]}" --mode untargeted --against-guard "$guard" \
    --guard-members 3 --draw 1
check "reports record the adaptive settings" '
import json, sys
w = sys.argv[1]
plain = json.load(open(w + "/plain.json"))
assert "adaptive" not in plain, plain
assert plain["settings"]["feature_layer"] == -1, plain
g = json.load(open(w + "/guard.json"))["adaptive"]
assert g == {"guard": w + "/guard.dg", "guard_student": w + "/student.dgm",
             "guard_members": 0, "weight": 30, "draw": 0,
             "feature_term": True}, g
s = json.load(open(w + "/through-student.json"))["adaptive"]
assert s["models"] == w + "/student.dgm" and not s["feature_term"], s
assert "guard" not in s, s
d = json.load(open(w + "/drawn.json"))["adaptive"]
assert d["draw"] == 1 and d["guard_members"] == 3, d' "$work"
check "the sets describe the adaptive settings" '
import sys
w = sys.argv[1]
plain = open(w + "/plain.dgadv", "rb").read()
assert b"layer -1" in plain and b"adaptive" not in plain
guard = open(w + "/guard.dgadv", "rb").read()
want = ("adaptive: guard %s/guard.dg (M members, student %s/student.dgm), "
        "models none, weight 30, draw 0, feature term on" % (w, w)).encode()
assert want in guard, guard[:2000]' "$work"
check "with the defence off the attacks fool the Student" '
import json, sys
w = sys.argv[1]
for name in ("plain", "guard", "through-student", "drawn"):
    r = json.load(open("%s/%s.json" % (w, name)))
    assert r["attempts"] == 18 and r["asr"] >= 0.8, (name, r["asr"])' "$work"

# The guard stops fewer of the attacks that went through its members (on
# this fixture about 72% of plain mimicry, 44% of the adaptive attack).
expect_success "eval the guard on the plain and the adaptive set" \
    "$dg" eval -q -s "$student" -g "$guard" -d "$test" --classes "$classes" \
    --per-class 20 "$work/plain.dgadv" "$work/guard.dgadv" --json
check "... which it stops less often" '
import json, sys
d = json.load(sys.stdin)["defence"]
plain, adaptive = d["plain"]["defence_rate"], d["guard"]["defence_rate"]
assert adaptive < plain, (plain, adaptive)'
finish
