#!/usr/bin/env bash
# test_onnx_cli.sh - dg import and dg export end to end on synthetic bar
# images from make_bars.py: a trained model exported and imported back
# predicts the same; a differentiator of a small guard exported as ONNX and
# imported back computes the score dg validate reports for it; --all writes
# every differentiator; missing, corrupt and foreign files and wrong option
# combinations.  TAP.
#
# usage: test_onnx_cli.sh DG MAKE_BARS
set -u
# shellcheck source=tap.sh
. "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
expect_arguments 2 "DG MAKE_BARS" "$@"
dg=$1
make_bars=$2

# ------------------------------------------------------------- fixtures
run python3 "$make_bars" idx "$work/train" 400 1 &&
    run python3 "$make_bars" folder "$work/images" 12 7
require "make_bars"
train=idx:$work/train-images.idx,$work/train-labels.idx
bar_names=horizontal,vertical,diagonal,anti-diagonal
arch=c8k3p1,relu,mp2,c16k3p1,relu,gap,fc4
model=$work/model.dgm
guard=$work/guard.dg
images=("$work"/images/*/*.png)

expect_success "train a model" \
    "$dg" train -q --data "$train" --arch "$arch" --epochs 3 --lr 0.01 \
    --class-names "$bar_names" -o "$model"

# ---------------------------------------------------------------- usage
expect_success "help lists import and export" "$dg" help
check "help names import and export" '
import sys
text = sys.stdin.read()
assert "import" in text and "export" in text, text'
expect_success "export --help shows the three forms" "$dg" export --help
check "export --help: a model, one differentiator, all of them" '
import sys
text = sys.stdin.read()
assert "dg export MODEL -o MODEL.onnx" in text, text
assert "--class C [--rank R]" in text and "--all DIR" in text, text'

# ------------------------------------------------------- a model, both ways
expect_success "export a model" \
    "$dg" export "$model" -o "$work/model.onnx" --json
check "export --json describes the model written" '
import json, os, sys
r = json.load(sys.stdin)
assert r["model"] == sys.argv[1] and r["onnx"] == sys.argv[2], r
assert r["layers"] == 7 and r["input"] == [1, 8, 8], r
assert r["outputs"] == 4 and r["parameters"] > 1000, r
assert os.path.getsize(sys.argv[2]) > 4 * r["parameters"], r' \
    "$model" "$work/model.onnx"
expect_success "import it back with class names" \
    "$dg" import "$work/model.onnx" -o "$work/back.dgm" \
    --class-names "$bar_names" --json
check "import --json: the same shape and the names" '
import json, sys
r = json.load(sys.stdin)
assert r["onnx"] == sys.argv[1] and r["model"] == sys.argv[2], r
assert r["layers"] == 7 and r["input"] == [1, 8, 8], r
assert r["outputs"] == 4, r
assert r["classes"] == sys.argv[3].split(","), r' \
    "$work/model.onnx" "$work/back.dgm" "$bar_names"
expect_success "import without names (text)" \
    "$dg" import "$work/model.onnx" -o "$work/plain.dgm"
check "the text report is one line naming both files" '
import re, sys
lines = sys.stdin.read().splitlines()
assert len(lines) == 1, lines
assert re.fullmatch(r"\S+plain\.dgm: 7 layers, input 1x8x8, 4 outputs, "
                    r"\d+ parameters \(from \S+model\.onnx\)", lines[0]), lines'

# ONNX does not carry the exporter's input normalisation: --mean/--std.
expect_success "import with --mean and --std" \
    "$dg" import "$work/model.onnx" -o "$work/normalised.dgm" --mean 0.25 \
    --std 0.5
expect_success "info on the normalised model" \
    "$dg" info --json "$work/normalised.dgm"
check "it keeps the normalisation" '
import json, sys
p = json.load(sys.stdin)["preprocess"]
assert abs(p["scale"] - 1 / 255) < 1e-9, p
assert p["mean"] == [0.25] and p["std"] == [0.5], p'

run "$dg" predict --json --top 4 "$model" "${images[@]}"
cp "$out" "$work/predict-model.json"
run "$dg" predict --json --top 4 "$work/back.dgm" "${images[@]}"
check "the round trip predicts the same probabilities and names" '
import json, sys
a = json.load(open(sys.argv[1]))
b = json.load(sys.stdin)
assert len(a) == len(b) == 12, (len(a), len(b))
for x, y in zip(a, b):
    assert x["file"] == y["file"]
    px = {t["class"]: (t["probability"], t["name"]) for t in x["top"]}
    py = {t["class"]: (t["probability"], t["name"]) for t in y["top"]}
    assert px.keys() == py.keys() == {0, 1, 2, 3}, (x, y)
    for k in px:
        assert abs(px[k][0] - py[k][0]) < 1e-5, (x, y)
        assert px[k][1] == py[k][1], (x, y)' "$work/predict-model.json"

# ------------------------------------------------------- differentiators
expect_success "build a small guard" \
    "$dg" guard build -q -s "$model" -d "$train" --variants 2 --epochs 1 \
    --harden-iterations 5 --work-dir "" -o "$guard"
expect_success "export the rank-1 differentiator of class 2" \
    "$dg" export --guard "$guard" --student "$model" --class 2 --rank 1 \
    -o "$work/d2.onnx" --json
check "export --json describes the differentiator" '
import json, sys
r = json.load(sys.stdin)
assert r["guard"] == sys.argv[1] and r["student"] == sys.argv[2], r
d = r["differentiator"]
assert d["class"] == 2 and d["name"] == "diagonal" and d["rank"] == 1, d
assert d["onnx"] == sys.argv[3] and d["input"] == [1, 8, 8], d
assert d["outputs"] == 4 and d["layers"] == 7, d' \
    "$guard" "$model" "$work/d2.onnx"
expect_success "import the differentiator" \
    "$dg" import "$work/d2.onnx" -o "$work/d2.dgm"
run "$dg" validate "$guard" -s "$model" --label 2 --members 2 --json \
    "${images[@]}"
cp "$out" "$work/validate.json"
run "$dg" predict --json --top 4 "$work/d2.dgm" "${images[@]}"
check "its probability of class 2 is the score dg validate reports" '
import json, sys
verdicts = json.load(open(sys.argv[1]))
predictions = json.load(sys.stdin)
assert len(verdicts) == len(predictions) == 12
for v, p in zip(verdicts, predictions):
    assert v["file"] == p["file"] and v["label"] == 2, v
    d = [d for d in v["differentiators"] if d["rank"] == 1][0]
    prob = {t["class"]: t["probability"] for t in p["top"]}
    assert abs(prob[2] - d["score"]) < 1e-5, (v, p)
    assert p["top"][0]["class"] == d["label"], (v, p)' "$work/validate.json"
expect_success "rank defaults to 0 (text)" \
    "$dg" export -g "$guard" -s "$model" -c 3 -o "$work/d3.onnx"
check "the text report names the class and rank" '
import re, sys
text = sys.stdin.read()
assert re.fullmatch(r"\S+d3\.onnx: class 3 anti-diagonal rank 0, 7 layers, "
                    r"input 1x8x8, 4 outputs, \d+ parameters\n", text), text'

expect_success "--all writes every differentiator" \
    "$dg" export --guard "$guard" --student "$model" --all "$work/all" --json
check "--all: classes x variants files, listed" '
import json, os, sys
r = json.load(sys.stdin)
d = sys.argv[1]
assert r["directory"] == d, r
want = sorted("class%d-rank%d.onnx" % (c, k) for c in range(4)
              for k in range(2))
assert sorted(os.listdir(d)) == want, os.listdir(d)
assert sorted(os.path.basename(x["onnx"]) for x in r["differentiators"]) \
    == want, r
assert [(x["class"], x["rank"]) for x in r["differentiators"]] == \
    [(c, k) for c in range(4) for k in range(2)], r' "$work/all"
if cmp -s "$work/all/class2-rank1.onnx" "$work/d2.onnx"; then
    ok "--all writes the same bytes as --class"
else
    not_ok "--all writes the same bytes as --class"
fi

# ------------------------------------------------------------- bad files
expect_failure "import a missing file: no such file" 1 \
    "missing\.onnx: file error: .*No such file" \
    "$dg" import "$work/missing.onnx" -o "$work/never.dgm"
size=$(stat -c %s "$work/model.onnx")
head -c $((size / 2)) "$work/model.onnx" >"$work/truncated.onnx"
expect_failure "import a truncated file" 1 "importing .*truncated\.onnx" \
    "$dg" import "$work/truncated.onnx" -o "$work/never.dgm"
expect_failure "import a model file as ONNX: says what it is" 1 \
    "importing .*model\.dgm: .*not an ONNX model: it is a libdiffguard model file" \
    "$dg" import "$model" -o "$work/never.dgm"
expect_failure "import a guard as ONNX: says what it is" 1 \
    "not an ONNX model: it is a guard file (.*dg guard info" \
    "$dg" import "$guard" -o "$work/never.dgm"
expect_failure "export a missing model" 1 "loading .*missing\.dgm" \
    "$dg" export "$work/missing.dgm" -o "$work/never.onnx"
expect_failure "export an ONNX file as a model" 1 "loading .*model\.onnx" \
    "$dg" export "$work/model.onnx" -o "$work/never.onnx"
expect_failure "info on an ONNX file suggests dg import" 1 \
    "not a libdiffguard model: it looks like an ONNX model (.*dg import" \
    "$dg" info "$work/model.onnx"
expect_failure "info on a guard suggests dg guard info" 1 \
    "not a libdiffguard model: it is a guard file (.*dg guard info" \
    "$dg" info "$guard"
expect_failure "export into a missing folder" 1 "writing .*nowhere/m\.onnx" \
    "$dg" export "$model" -o "$work/nowhere/m.onnx"
expect_failure "export with a missing guard" 1 "missing\.dg" \
    "$dg" export -g "$work/missing.dg" -s "$model" -c 0 -o "$work/never.onnx"
if [ -e "$work/never.dgm" ] || [ -e "$work/never.onnx" ]; then
    not_ok "failures write nothing"
else
    ok "failures write nothing"
fi

# ---------------------------------------------------------- bad arguments
expect_failure "import without -o" 2 "--output is required" \
    "$dg" import "$work/model.onnx"
expect_failure "import with the wrong number of names" 2 \
    "--class-names gives 2 names for 4 classes" \
    "$dg" import "$work/model.onnx" -o "$work/never.dgm" --class-names a,b
expect_failure "two means for a one-channel model" 2 \
    "--mean must be one number for the model.s one channel" \
    "$dg" import "$work/model.onnx" -o "$work/never.dgm" --mean 0.5,0.2
expect_failure "a zero --std" 1 "std 0" \
    "$dg" import "$work/model.onnx" -o "$work/never.dgm" --std 0
expect_failure "export without anything" 2 "expected MODEL" "$dg" export
expect_failure "export a model without -o" 2 "--output is required" \
    "$dg" export "$model"
expect_failure "--class without --guard" 2 "--class goes with --guard" \
    "$dg" export "$model" --class 1 -o "$work/never.onnx"
expect_failure "--all without --guard" 2 "--all goes with --guard" \
    "$dg" export --all "$work/all2"
expect_failure "--guard without --student" 2 "--guard needs --student" \
    "$dg" export --guard "$guard" --class 0 -o "$work/never.onnx"
expect_failure "--guard without --class or --all" 2 \
    "--guard needs --class C" \
    "$dg" export --guard "$guard" --student "$model" -o "$work/never.onnx"
expect_failure "--guard and a MODEL" 2 "does not go with --guard" \
    "$dg" export "$model" --guard "$guard" --student "$model" --class 0 \
    -o "$work/never.onnx"
expect_failure "--all with --class" 2 "does not go with --class" \
    "$dg" export -g "$guard" -s "$model" --all "$work/all2" --class 0
expect_failure "--all with --output" 2 "does not go with --output" \
    "$dg" export -g "$guard" -s "$model" --all "$work/all2" \
    -o "$work/never.onnx"
expect_failure "--class outside the classes" 2 \
    "--class must be an integer from 0 to 3" \
    "$dg" export -g "$guard" -s "$model" --class 4 -o "$work/never.onnx"
expect_failure "--rank outside the variants" 2 \
    "--rank must be an integer from 0 to 1" \
    "$dg" export -g "$guard" -s "$model" --class 0 --rank 2 \
    -o "$work/never.onnx"
if [ -e "$work/never.dgm" ] || [ -e "$work/never.onnx" ] ||
    [ -e "$work/all2" ]; then
    not_ok "usage errors write nothing"
else
    ok "usage errors write nothing"
fi

finish
