#!/usr/bin/env bash
# test_guard_cli.sh - dg guard build, dg guard info and dg validate end to
# end on synthetic bar images from make_bars.py: an interrupted build that
# resumes, the guard's report, verdicts on PNG images of every class, host
# labels, a guard refused for another Student, corrupt guards and bad
# arguments.  TAP.
#
# usage: test_guard_cli.sh DG MAKE_BARS
set -u
# shellcheck source=tap.sh
. "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
expect_arguments 2 "DG MAKE_BARS" "$@"
dg=$1
make_bars=$2

# ------------------------------------------------------------- fixtures
run python3 "$make_bars" idx "$work/train" 800 1 &&
    run python3 "$make_bars" idx "$work/hold" 400 2 &&
    run python3 "$make_bars" folder "$work/images" 40 7
require "make_bars"
train=idx:$work/train-images.idx,$work/train-labels.idx
hold=idx:$work/hold-images.idx,$work/hold-labels.idx
bar_names=horizontal,vertical,diagonal,anti-diagonal
# Layer 3 is the last convolution, 0 the first.
arch=c8k3p1,relu,mp2,c16k3p1,relu,gap,fc4
student=$work/student.dgm
other=$work/other.dgm
guard=$work/guard.dg

expect_success "train the Student" \
    "$dg" train -q --data "$train" --arch "$arch" --epochs 8 --lr 0.01 \
    --class-names "$bar_names" -o "$student"
expect_success "train another model of the same shape" \
    "$dg" train -q --data "$train" --arch "$arch" --epochs 1 --seed 2 \
    --class-names "$bar_names" -o "$other"

# ---------------------------------------------------------------- usage
expect_success "help lists guard and validate" "$dg" help
check "help names guard and validate" '
import sys
text = sys.stdin.read()
assert "guard" in text and "validate" in text, text'
expect_success "guard --help" "$dg" guard --help
check "guard --help shows both actions and the build options" '
import sys
text = sys.stdin.read()
assert "dg guard build" in text and "dg guard info" in text, text
for o in ("--student", "--data", "--holdout", "--variants", "--members",
          "--rule", "--prune-layers", "--ratios", "--mode",
          "--retrain-pruned", "--target-frr", "--work-dir", "--json"):
    assert o in text, o'
expect_success "validate --help states the exit codes" "$dg" validate --help
check "validate --help explains 0, 1 and 2" '
import sys
text = " ".join(sys.stdin.read().split())
assert "0 if every image was read and accepted" in text, text
assert "2 for usage errors" in text, text'

# ---------------------------------------------- an interrupted build resumes
build=("$dg" guard build --student "$student" --data "$train"
       --holdout "$hold" --per-class 100 --variants 4 --members 3
       --epochs 3 --batch 32 --lr 0.005 --prune-layers 3,0
       --ratios 0.1,0.25 --target-frr 0.1 --rule votes --kind pruned
       -o "$guard" --json)
"${build[@]}" >"$out" 2>"$err" &
pid=$!
for _ in $(seq 1200); do
    compgen -G "$guard.work/*.dgm" >/dev/null ||
        ! kill -0 "$pid" 2>/dev/null && break
    sleep 0.05
done
kill -INT "$pid" 2>/dev/null
wait "$pid"
rc=$?
if [ "$rc" -eq 1 ] && grep -q "interrupted.*resume" "$err" &&
    compgen -G "$guard.work/*.dgm" >/dev/null && [ ! -e "$guard" ]; then
    ok "Ctrl-C stops the build, keeping finished differentiators"
else
    not_ok "Ctrl-C stops the build, keeping finished differentiators"
fi
expect_failure "the work directory refuses other settings" 1 \
    "other settings" "${build[@]}" --epochs 2
expect_success "the same command resumes" "${build[@]}"
if grep -q "resuming: .*guard.dg.work holds [1-9][0-9]* differentiators" \
    "$err" && [ "$(grep -c resuming "$err")" -eq 1 ]; then
    ok "resuming is reported, once"
else
    not_ok "resuming is reported, once"
fi
check "build --json: the data, the reused differentiators, the classes" '
import json, sys
r = json.load(sys.stdin)
assert r["training_samples"] == 400 and r["holdout_samples"] == 400, r
assert 1 <= r["reused"] < 16, r
assert r["variants"] == 4 and r["members"] == 3, r
assert len(r["classes"]) == 4, r
for c in r["classes"]:
    assert [m["rank"] for m in c["differentiators"]] == [0, 1, 2, 3], c
    # The build shows the calibration of the default M only.
    assert [k["members"] for k in c["calibration"]] == [3], c'
if [ -e "$guard" ] && [ ! -e "$guard.work" ]; then
    ok "the guard is written and the work directory removed"
else
    not_ok "the guard is written and the work directory removed"
fi

# ------------------------------------------------------------------ info
expect_success "guard info --json" \
    "$dg" guard info "$guard" --student "$student" --json
check "info: settings, V ranked members and V calibration rows per class" '
import json, re, sys
r = json.load(sys.stdin)
for key in ("guard", "student", "student_hash", "variants", "members",
            "rule", "target_frr", "classes"):
    assert key in r, key
assert re.fullmatch("[0-9a-f]{16}", r["student_hash"]), r
assert r["variants"] == 4 and r["members"] == 3 and r["rule"] == "votes", r
assert abs(r["target_frr"] - 0.1) < 1e-6, r
names = sys.argv[1].split(",")
assert [c["class"] for c in r["classes"]] == [0, 1, 2, 3], r
assert [c["name"] for c in r["classes"]] == names, r
for c in r["classes"]:
    members = c["differentiators"]
    assert len(members) == 4, c
    # Variants take the prune layers and ratios in turn.
    plan = sorted((m["prune_layer"], round(m["ratio"], 6)) for m in members)
    assert plan == [(0, 0.1), (0, 0.25), (3, 0.1), (3, 0.25)], members
    for m in members:
        assert m["mode"] == "most" and m["pruned_units"] >= 1, m
        assert 0 <= m["agreement"] <= 1 and m["tail_layers"] >= 1, m
    scores = [m["score"] for m in members]
    assert scores == sorted(scores, reverse=True), members
    rows = c["calibration"]
    assert [k["members"] for k in rows] == [1, 2, 3, 4], rows
    for k in rows:
        assert 1 <= k["tau"] <= k["members"], k
        assert 0 <= k["frr_votes"] <= 1 and 0 <= k["frr_score"] <= 1, k
        # 100 held-out samples per class: calibrated per class.
        assert k["samples"] >= 80 and k["pooled"] is False, k
        # The spread of the rate on fresh inputs, sqrt(t (1 - t) / n).
        want = (0.1 * 0.9 / k["samples"]) ** 0.5
        assert abs(k["frr_spread"] - want) < 1e-6, k' "$bar_names"
expect_success "guard info (text)" "$dg" guard info "$guard" -s "$student"
check "text: one block per class with members and every M" '
import re, sys
text = sys.stdin.read()
assert re.search(r"^differentiators\s+4 per class, the best 3", text, re.M)
for i, n in enumerate(sys.argv[1].split(",")):
    assert re.search(r"^class %d %s$" % (i, n), text, re.M), n
for M in (1, 2, 3, 4):
    assert len(re.findall(r"^\s+%d\s+\d+\s+\d\.\d{4}\s" % M, text,
                          re.M)) == 4, M' "$bar_names"

# A second, small build through the other paths: split-off held-out data,
# no work directory, the score rule, least-activated units, frozen prune
# layer.
expect_success "build with split-off data and other options" \
    "$dg" guard build -q -s "$student" -d "$train" --variants 2 --epochs 1 \
    --mode least --retrain-pruned no --work-dir "" \
    --holdout-fraction 0.25 --robust-epochs 20 -o "$work/small.dg" --json
check "the small build records its options and leaves no work directory" '
import json, os, sys
assert not os.path.exists(sys.argv[1])
r = json.load(sys.stdin)
assert r["holdout_samples"] == 0 and r["reused"] == 0, r
assert r["chosen_from_data"] == {}, r  # share and epochs given
assert r["rule"] == "score" and r["members"] == 2, r  # the default rule
assert abs(r["target_frr"] - 0.025) < 1e-6, r  # the default target
assert all(m["mode"] == "least" for c in r["classes"]
           for m in c["differentiators"]), r' "$work/small.dg.work"

# A guard file that cannot be written (its folder is missing) keeps the
# work directory: its differentiators are the only copy of the build.
# Robust members (the default kind) are shared by the classes: one file
# per variant in the work directory.
small=("$dg" guard build -q -s "$student" -d "$train" --variants 2
       --robust-epochs 2 --work-dir "$work/kept.work")
expect_failure "a guard that cannot be written fails" 1 \
    "kept.work keeps the finished differentiators" \
    "${small[@]}" -o "$work/no-such-folder/g.dg"
if [ -e "$work/kept.work/settings.fingerprint" ] &&
    compgen -G "$work/kept.work/*.dgm" >/dev/null; then
    ok "the failed write leaves the work directory intact"
else
    not_ok "the failed write leaves the work directory intact"
fi
expect_success "a rerun with a good output resumes" \
    "${small[@]}" -o "$work/kept.dg" --json
check "the rerun reuses every differentiator, then removes the folder" '
import json, os, sys
r = json.load(sys.stdin)
assert r["reused"] == 2, r
# Epochs given; the held-out share chosen: 0.2 to 0.5 of a small set.
chosen = r["chosen_from_data"]
assert list(chosen) == ["holdout_fraction"], r
assert 0.2 <= chosen["holdout_fraction"] <= 0.5, r
assert not os.path.exists(sys.argv[1])' "$work/kept.work"
expect_success "info of a robust guard" \
    "$dg" guard info "$work/kept.dg" --student "$student" --json
check "robust members read the input and prune nothing" '
import json, sys
r = json.load(sys.stdin)
for c in r["classes"]:
    for m in c["differentiators"]:
        assert m["prune_layer"] == 0 and m["ratio"] == 0, m
        assert m["pruned_units"] == 0, m'

# -------------------------------------------------------------- validate
# Images of class k are in images/<name k>/: the path names the truth.
images=("$work"/images/*/*.png)
run "$dg" validate "$guard" --student "$student" --json -q "${images[@]}"
check "clean images: labels right, most accepted, exit code agrees" '
import json, sys
names = sys.argv[1].split(",")
rc = int(sys.argv[2])
r = json.load(sys.stdin)
assert len(r) == 40, len(r)
right = accepted = 0
for v in r:
    right += v["label"] == names.index(v["file"].split("/")[-2])
    accepted += v["accepted"]
    assert v["verdict"] == ("ACCEPT" if v["accepted"] else "REJECT"), v
    assert v["name"] == names[v["label"]] and v["rule"] == "votes", v
    assert v["members"] == 3 and len(v["differentiators"]) == 3, v
    agree = sum(d["label"] == v["label"] for d in v["differentiators"])
    assert v["votes"] == agree, v
    mean = sum(d["score"] for d in v["differentiators"]) / 3
    assert abs(v["score"] - mean) < 1e-5, v
    assert v["accepted"] == (v["votes"] >= v["threshold"]), v
assert right >= 38 and accepted >= 32, (right, accepted)
assert (rc == 0) == (accepted == 40), (rc, accepted)' "$bar_names" "$rc"
# The host says "horizontal" for the vertical bars: the differentiators of
# class 0 see vertical bars and disagree.
run "$dg" validate "$guard" -s "$student" --label 0 --json \
    "$work"/images/vertical/*.png
if [ "$rc" -eq 1 ]; then ok "a wrong host label exits 1"; else
    not_ok "a wrong host label exits 1"; fi
check "a wrong host label is kept and mostly rejected" '
import json, sys
r = json.load(sys.stdin)
assert len(r) == 10 and all(v["label"] == 0 for v in r), r
assert sum(not v["accepted"] for v in r) >= 8, r'
run "$dg" validate "$guard" -s "$student" --label 1 --json \
    "$work"/images/vertical/*.png
check "the right host label is kept and mostly accepted" '
import json, sys
r = json.load(sys.stdin)
assert all(v["label"] == 1 for v in r), r
assert sum(v["accepted"] for v in r) >= 8, r'
run "$dg" validate "$guard" -s "$student" --rule score -m 1 --json \
    "$work"/images/diagonal/*.png
check "--rule score and --members 1 are in force" '
import json, sys
r = json.load(sys.stdin)
for v in r:
    assert v["rule"] == "score" and v["members"] == 1, v
    assert len(v["differentiators"]) == 1, v
    assert v["accepted"] == (v["score"] >= v["threshold"]), v
    assert 0 < v["threshold"] < 1, v'
# An unreadable file between images, with batches of 3: every file is
# reported, in order, and the exit code is 1.
some=("$work"/images/horizontal/*.png)
run "$dg" validate "$guard" -s "$student" -b 3 --json "${some[@]:0:4}" \
    "$student" "${some[@]:4:2}"
if [ "$rc" -eq 1 ] && grep -q "decoding .*student.dgm" "$err"; then
    ok "an unreadable image is reported and exits 1"
else
    not_ok "an unreadable image is reported and exits 1"
fi
check "the JSON keeps the order and marks the unreadable file" '
import json, sys
r = json.load(sys.stdin)
assert [v["file"].split("/")[-1] for v in r][4] == "student.dgm", r
assert r[4]["verdict"] == "ERROR" and "not a PNG or JPEG" in r[4]["error"]
assert len(r) == 7 and all(v["verdict"] != "ERROR" for i, v in
                           enumerate(r) if i != 4), r'
run "$dg" validate "$guard" -s "$student" "$work"/images/diagonal/*.png
check "text: verdict, label, votes, threshold and each differentiator" '
import re, sys
text = sys.stdin.read()
heads = re.findall(r"^\S+\.png: (ACCEPT|REJECT) class 2 diagonal$", text,
                   re.M)
assert len(heads) == 10, text
assert len(re.findall(r"^  votes [0-3] of 3, score \d\.\d{4}; rule votes: "
                      r"accept with [1-3] or more votes$", text,
                      re.M)) == 10, text
assert len(re.findall(r"^\s+[0-2]\s+[0-3]\s+\S+\s+\d\.\d{4}$", text,
                      re.M)) == 30, text
accepted = heads.count("ACCEPT")
assert re.search(r"^10 images: %d accepted, %d rejected, 0 unreadable$"
                 % (accepted, 10 - accepted), text, re.M), text'

# ------------------------------------------------ wrong Student, corruption
expect_failure "info refuses the guard for another Student" 1 \
    "built for another Student" \
    "$dg" guard info "$guard" --student "$other"
expect_failure "validate refuses the guard for another Student" 1 \
    "built for another Student" \
    "$dg" validate "$guard" --student "$other" "${some[0]}"
cp "$guard" "$work/corrupt.dg"
size=$(stat -c %s "$guard")
printf '\x5a' | dd of="$work/corrupt.dg" bs=1 seek=$((size / 2)) \
    conv=notrunc status=none
expect_failure "a damaged guard is refused" 1 "checksum mismatch" \
    "$dg" guard info "$work/corrupt.dg" --student "$student"
head -c $((size - 100)) "$guard" >"$work/truncated.dg"
expect_failure "a truncated guard is refused" 1 "corrupt" \
    "$dg" validate "$work/truncated.dg" --student "$student" "${some[0]}"
expect_failure "a model is not a guard" 1 "not a libdiffguard guard file" \
    "$dg" guard info "$student" --student "$student"
expect_failure "a missing guard" 1 "missing.dg" \
    "$dg" guard info "$work/missing.dg" --student "$student"

# ---------------------------------------------------------- bad arguments
out_guard=$work/never.dg
expect_failure "guard without an action" 2 "expected build|merge|info" "$dg" guard
expect_failure "an unknown action" 2 "expected build, merge or info" \
    "$dg" guard rebuild
expect_failure "info takes no build options" 2 \
    "--epochs is an option of 'dg guard build'" \
    "$dg" guard info "$guard" --student "$student" --epochs 2
expect_failure "build without --data" 2 "--data is required" \
    "$dg" guard build --student "$student" -o "$out_guard"
expect_failure "build without --student" 2 "--student is required" \
    "$dg" guard build --data "$train" -o "$out_guard"
expect_failure "--members above --variants" 2 \
    "--members must be an integer from 1 to 3" \
    "$dg" guard build -s "$student" -d "$train" --variants 3 --members 4 \
    -o "$out_guard"
expect_failure "--ratios outside (0, 1)" 2 "--ratios must list 1 to 8" \
    "$dg" guard build -s "$student" -d "$train" --ratios 0.2,1.5 \
    -o "$out_guard"
expect_failure "--prune-layers not numbers" 2 "--prune-layers must list" \
    "$dg" guard build -s "$student" -d "$train" --prune-layers 3,x \
    -o "$out_guard"
expect_failure "--rule unknown" 2 "--rule must be score or votes" \
    "$dg" guard build -s "$student" -d "$train" --rule majority \
    -o "$out_guard"
expect_failure "--robust-steps 0" 2 "--robust-steps must be an integer from 1 to 100" \
    "$dg" guard build -s "$student" -d "$train" --robust-steps 0 \
    -o "$out_guard"
expect_failure "--holdout with --holdout-fraction" 2 "does not go with" \
    "$dg" guard build -s "$student" -d "$train" --holdout "$hold" \
    --holdout-fraction 0.3 -o "$out_guard"
expect_failure "a prune layer that is not a convolution" 1 "prune layer 1" \
    "$dg" guard build -s "$student" -d "$train" --prune-layers 1 \
    -o "$out_guard"
if [ -e "$out_guard" ]; then
    not_ok "failed builds write no guard"
else
    ok "failed builds write no guard"
fi
expect_failure "validate without --student" 2 "--student is required" \
    "$dg" validate "$guard" "${some[0]}"
expect_failure "validate without images" 2 "expected GUARD IMAGE" \
    "$dg" validate "$guard" --student "$student"
expect_failure "validate --members 0" 2 "--members must be an integer" \
    "$dg" validate "$guard" -s "$student" -m 0 "${some[0]}"
expect_failure "validate --members above V" 2 "from 1 to 4" \
    "$dg" validate "$guard" -s "$student" -m 5 "${some[0]}"
expect_failure "validate --label outside the classes" 2 \
    "--label must be an integer from 0 to 3" \
    "$dg" validate "$guard" -s "$student" --label 4 "${some[0]}"
expect_failure "validate --rule unknown" 2 "--rule must be votes or score" \
    "$dg" validate "$guard" -s "$student" --rule any "${some[0]}"

finish
