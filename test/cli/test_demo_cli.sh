#!/usr/bin/env bash
# test_demo_cli.sh - `dg demo --quick` on Fashion-MNIST: the JSON report
# (accuracies, the attack, the guard and the baselines), the files it
# writes, and continuing after Ctrl-C.  The demo is interrupted while the
# guard builds, run again to finish, and run a third time to reuse
# everything, the guard and the adversarial sets included.  The threat
# levels (doc/EVALUATION.md): their JSON keys, sets, charts and reuse.
# Skipped without
# Debian's dataset-fashion-mnist.  TAP.
#
# usage: test_demo_cli.sh DG
set -u
# shellcheck source=tap.sh
. "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
expect_arguments 1 "DG" "$@"
dg=$1

fmnist=/usr/share/datasets/fashion-mnist
if [ ! -e "$fmnist/train-images-idx3-ubyte.gz" ]; then
    skip "dg demo --quick" "Fashion-MNIST is not installed in $fmnist"
    finish
    exit
fi

demo=$work/demo
demo_command=("$dg" demo --quick --out "$demo" --json)

# ------------------------------------------------------ interrupt, resume
# Stopped once the guard build has finished a differentiator (the Student,
# whose frozen Teacher layers run once, trains too fast to catch).
"${demo_command[@]}" >"$out" 2>"$err" &
pid=$!
for _ in $(seq 12000); do
    compgen -G "$demo/guard.work/class*-variant*.dgm" >/dev/null ||
        ! kill -0 "$pid" 2>/dev/null && break
    sleep 0.05
done
kill -INT "$pid" 2>/dev/null
wait "$pid"
rc=$?
if [ "$rc" -eq 1 ] && grep -q "interrupted" "$err" &&
    [ -e "$demo/teacher.dgm" ] && [ -e "$demo/student.dgm" ] &&
    compgen -G "$demo/guard.work/class*-variant*.dgm" >/dev/null &&
    [ ! -e "$demo/guard.dg" ]; then
    ok "Ctrl-C during the guard stage keeps the models and a differentiator"
else
    not_ok "Ctrl-C during the guard stage keeps the models and a differentiator"
fi

expect_success "demo --quick --json continues" "${demo_command[@]}"
if grep -q "teacher: reusing" "$err" && grep -q "student: reusing" "$err" &&
    [ -e "$demo/guard.dg" ] && [ ! -e "$demo/guard.work" ]; then
    ok "it reuses the models and finishes the guard"
else
    not_ok "it reuses the models and finishes the guard"
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
    "$report_is_sound" teacher student
# The defender calibrates on images no model of the scenario learnt; the
# attacker splits its own.
if grep -q "^guard: .*calibrated on [0-9]* images per class the Student never saw" "$err" &&
    grep -q '"holdout_from": 1000' "$demo/settings.json"; then
    ok "the guard is calibrated on images its Student never saw"
else
    not_ok "the guard is calibrated on images its Student never saw"
fi
# settings.json records the members' training as the build chose it from
# the data, so that a folder made with other library defaults is refused.
check "settings.json records the members' training as the build chose it" '
import json, re, sys
settings = json.load(open(sys.argv[1]))
notes = open(sys.argv[2]).read()
for key, name in (("guard", "guard"), ("surrogate_guard", "surrogate-guard")):
    g = settings[key]
    assert g["kind"] == "robust" and g["width"] > 0 and g["robust_steps"] > 0, g
    said = re.search("^%s: [0-9]+ robust members .*, ([0-9]+) epochs each" % name,
                     notes, re.M)
    assert said and int(said.group(1)) == g["robust_epochs"], (g, said)
assert 0 < settings["surrogate_guard"]["holdout_fraction"] < 1, settings' \
    "$demo/settings.json" "$err"
check "the guard was finished in this run" '
import json, sys
g = json.load(sys.stdin)["guard"]
assert g["reused"] is False, g'
# The attack and defence numbers of the report; argv: whether the guard was
# reused.  The quick settings (lib/scenario/plan.c) attack 20 times per
# set with a guard of 3 differentiators per class, all of them consulted
# by default.
# A defence rate is stopped / fooling: with 20 attempts a set may fool the
# Student not once, and then there is no rate to give, so the report says
# null (doc/EVALUATION.md).  That is a sound report, not a failure: a rate
# is either null with no fooling attempt behind it, or in [0, 1].
defence_is_sound='
import json, sys
r = json.load(sys.stdin)
def value(path):
    v = r
    for k in path.split("."):
        assert isinstance(v, dict) and k in v, (path, k)
        v = v[k]
    return v
def number(path):
    v = value(path)
    assert isinstance(v, (int, float)) and not isinstance(v, bool), (path, v)
    return v
def rate(path):
    fooling = number(path.rsplit(".", 1)[0] + ".fooling")
    v = value(path)
    if fooling == 0:
        assert v is None, (path, v)
    else:
        assert 0 <= number(path) <= 1, (path, v)
    return v
for path in ("teacher.test_accuracy", "student.test_accuracy",
             "attack.targeted.asr", "attack.untargeted.asr",
             "defence.false_rejection_rate", "defence.accuracy_loss",
             "baselines.feature_squeezing.false_rejection_rate"):
    assert 0 <= number(path) <= 1, (path, number(path))
for path in ("defence.targeted.defence_rate",
             "defence.untargeted.defence_rate",
             "baselines.feature_squeezing.targeted.defence_rate"):
    rate(path)
for path in ("attack.targeted.attempts", "attack.untargeted.attempts",
             "defence.m"):
    v = number(path)
    assert isinstance(v, int) and v > 0, (path, v)
assert number("attack.targeted.attempts") == 20, r["attack"]
assert number("attack.untargeted.attempts") == 20, r["attack"]
assert r["attack"]["targeted"]["mode"] == "targeted", r["attack"]
assert r["attack"]["untargeted"]["mode"] == "untargeted", r["attack"]
assert sorted(r["attack"]) == ["targeted", "untargeted"], r["attack"]
d = r["defence"]
assert d["m"] == 3 and d["variants"] == 3 and len(d["by_members"]) == 6, d
assert r["clean"]["samples"] == 500, r["clean"]
assert r["guard"]["reused"] == (sys.argv[1] == "reused"), r["guard"]
for s in ("targeted", "untargeted"):
    x = d[s]
    if x["fooling"]:
        assert abs(x["defence_rate"] - x["stopped"] / x["fooling"]) < 1e-8, x
    assert x["fooling"] == r["attack"][s]["fooling"], (x, r["attack"][s])
'
check "the report holds the attack, the guard and feature squeezing" \
    "$defence_is_sound" built
# The threat levels: quick settings (lib/scenario/plan.c) attack 20
# times per set, level a at each Teacher layer from the first pooling
# layer (4) to the cut (13), levels b and c at L-inf 0.1 and 0.2 and
# DSSIM 0.01.  As above,
# a set that fooled the Student not once has a null defence rate; a
# summary rate is null only when no set behind it fooled.
levels_are_sound='
import json, sys
r = json.load(sys.stdin)
d = r["defence"]
def rate(x):
    v = x["defence_rate"]
    if x["fooling"] == 0:
        assert v is None, x
    else:
        assert isinstance(v, (int, float)) and 0 <= v <= 1, x
    return v
sweep = d["layer_sweep"]["by_layer"]
assert [x["layer"] for x in sweep] == list(range(4, 14)), sweep
assert d["layer_sweep"]["cut"] == 13, d["layer_sweep"]
rated = [rate(x) for x in sweep if x["fooling"]]
assert d["layer_sweep"]["min_defence_rate"] == (min(rated) if rated
                                                else None), sweep
for level in ("teacher_only", "surrogate", "whitebox"):
    budgets = [(x["method"], x["budget"])
               for x in d["adaptive"][level]["by_budget"]]
    assert budgets == [("linf", 0.1), ("linf", 0.2), ("dssim", 0.01)], \
        (level, budgets)
    for x in d["adaptive"][level]["by_budget"]:
        assert x["attempts"] == 20 and 0 <= x["asr"] <= 1, x
        rate(x)
    linf = d["adaptive"][level]["by_budget"][0]
    assert d["adaptive"][level]["defence_rate"] == linf["defence_rate"]
assert "images 500 to 999" in d["adaptive"]["surrogate"]["surrogate_images"]
s = r["surrogate_student"]
assert s["settings"]["skip_per_class"] == 500, s
assert 0 <= s["test_accuracy"] <= 1, s
'
check "the report holds every threat level in [0, 1]" "$levels_are_sound"
cp "$out" "$work/first.json"

missing=
for f in teacher.dgm student.dgm report.json report.md settings.json \
    guard.dg attack-targeted.dgadv attack-untargeted.dgadv \
    examples-targeted/sheet.png examples-untargeted/sheet.png \
    surrogate-student.dgm surrogate-guard.dg attack-a_layer4.dgadv \
    attack-a_layer13.dgadv attack-a_dssim_0.01.dgadv attack-b_linf_0.1.dgadv \
    attack-c_dssim_0.01.dgadv; do
    [ -s "$demo/$f" ] || missing="$missing $f"
done
for f in teacher.ckpt student.ckpt guard.work surrogate-student.ckpt \
    surrogate-guard.work; do
    [ -e "$demo/$f" ] && missing="$missing (leftover $f)"
done
what="the demo folder holds the models, guard, sets and reports, no leftovers"
if [ -z "$missing" ]; then
    ok "$what"
else
    echo "# missing:$missing"
    not_ok "$what"
fi
run true
check "the demo folder holds the charts as PNG images" '
import os, sys
for f in ("defence-vs-members.png", "cost-vs-members.png",
          "roc-targeted.png", "roc-untargeted.png", "defence-vs-layer.png",
          "defence-vs-linf.png", "defence-vs-dssim.png"):
    data = open(os.path.join(sys.argv[1], f), "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000, f' \
    "$demo"
run cat "$demo/report.json"
check "report.json agrees with the printed report" '
import json, sys
written, printed = json.load(sys.stdin), json.load(open(sys.argv[1]))
for name in ("teacher", "student"):
    assert written[name]["test_accuracy"] == printed[name]["test_accuracy"]
# Both come from the same run: all but the total time agree.
del written["seconds"], printed["seconds"]
assert written == printed' \
    "$work/first.json"
run cat "$demo/report.md"
check "report.md has a table row per model" '
import re, sys
text = sys.stdin.read()
assert re.search(r"^\| teacher \| 0-4 \|.*\d+\.\d\d% \(\d+ of 5000\) \|$",
                 text, re.M), text
assert re.search(r"^\| student \| 5-9 \|.*\d+\.\d\d% \(\d+ of 5000\) \|$",
                 text, re.M), text
defence = text.split("\n## Defence\n", 1)[1]
assert re.search(r"^\| targeted \| targeted \| 20 \|", defence, re.M), text
assert re.search(r"^\| untargeted \| untargeted \| 20 \|", defence,
                 re.M), text
assert re.search(r"^\| guard M=3 votes \| 4 \|", defence, re.M), text
assert re.search(r"^\| no defence \| 1 \|", defence, re.M), text
assert "![ROC targeted](roc-targeted.png)" in defence, text
levels = text.split("\n## Threat levels\n", 1)[1]
for row in (r"a \(layers\) \| a_layer9 \| 9 \|",
            r"b \| b_linf_0.1 \| 13 \(cut\) \|",
            r"c \| c_dssim_0.01 \| 13 \(cut\) \|"):
    assert re.search("^\\| " + row, levels, re.M), (row, levels)
assert "(defence-vs-linf.png)" in levels, levels'

# A level's set says what made it, and dg eval shows it.
expect_success "dg eval (--clean, the former --data) shows a level set's description" \
    "$dg" eval -q --json --student "$demo/student.dgm" \
    --guard "$demo/guard.dg" --clean fmnist:test --classes 5-9 \
    --per-class 10 "b=$demo/attack-b_linf_0.1.dgadv"
check "... level b, its budget and the surrogate guard" '
import json, sys
text = json.load(sys.stdin)["attack"]["b"]["description"]
assert text.startswith("level b:"), text
assert "L-inf epsilon 0.1" in text and "surrogate-guard.dg" in text, text'

# ------------------------------------------------------------- reuse all
# One set made before its guard was (as if the guard had been rebuilt
# since) is made again, and, the guard being the same, comes out the same.
touch -d "2000-01-01" "$demo/attack-c_linf_0.2.dgadv"
expect_success "a third run reuses both models" "${demo_command[@]}"
if grep -q "guard: reusing .*guard.dg" "$err" &&
    grep -q "attack targeted: reusing .*attack-targeted.dgadv" "$err" &&
    grep -q "attack untargeted: reusing .*attack-untargeted.dgadv" "$err"
then
    ok "... the guard and both adversarial sets"
else
    not_ok "... the guard and both adversarial sets"
fi
if grep -q "surrogate-student: reusing" "$err" &&
    grep -q "surrogate-guard: reusing .*surrogate-guard.dg" "$err" &&
    grep -q "attack a_layer9: reusing" "$err" &&
    grep -q "attack b_linf_0.1: reusing" "$err" &&
    grep -q "attack c_dssim_0.01: reusing" "$err"; then
    ok "... and the threat levels' surrogate and sets"
else
    not_ok "... and the threat levels' surrogate and sets"
fi
if ! grep -q "attack c_linf_0.2: reusing" "$err" &&
    [ "$demo/attack-c_linf_0.2.dgadv" -nt "$demo/guard.dg" ]; then
    ok "... but makes a set older than its guard again"
else
    not_ok "... but makes a set older than its guard again"
fi
check "... with the same threat levels" "$levels_are_sound"
check "... and reports the same accuracies" "$report_is_sound" teacher student
check "... and sound defence numbers" "$defence_is_sound" reused
check "... exactly the same accuracies, attacks and defence numbers" '
import json, sys
now, before = json.load(sys.stdin), json.load(open(sys.argv[1]))
for name in ("teacher", "student"):
    assert now[name]["test_accuracy"] == before[name]["test_accuracy"]
# The same guard, sets and clean images: only the timing may differ.
for r in (now, before):
    del r["defence"]["latency_ms_per_input"]
for key in ("clean", "attack", "defence", "baselines"):
    assert now[key] == before[key], (key, now[key], before[key])' \
    "$work/first.json"
expect_failure "other settings in the same folder are refused" 1 \
    "other settings" "$dg" demo --quick --seed 2 --out "$demo"
expect_failure "another scenario in the same folder is refused" 1 \
    "other settings" "$dg" demo --quick --scenario fmnist-swap --out "$demo"
expect_failure "an unknown scenario" 2 \
    "--scenario must be fmnist-split or fmnist-swap, not mnist" \
    "$dg" demo --quick --scenario mnist --out "$work/never"

finish
