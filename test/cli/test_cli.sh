#!/usr/bin/env bash
# test_cli.sh - runs the dg command line against fixtures written by
# make_fixtures and reports each check in TAP.
#
# usage: test_cli.sh DG MAKE_FIXTURES
# DG_EXPECTED_VERSION, when set, is the version `dg version` must report.
set -u
# shellcheck source=tap.sh
. "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
expect_arguments 2 "DG MAKE_FIXTURES" "$@"
dg=$1
make_fixtures=$2
fixtures=$work/fixtures

json_parses='import json, sys; json.load(sys.stdin)'

# ---------------------------------------------------------------- usage
expect_success "help lists the commands" "$dg" help
check "help names version, info and predict" '
import sys
text = sys.stdin.read()
assert all(c in text for c in ("version", "info", "predict")), text'
expect_success "--help works like help" "$dg" --help
expect_success "predict --help" "$dg" predict --help
check "predict --help lists its options" '
import sys
text = sys.stdin.read()
assert all(o in text for o in ("--top", "--batch", "--json", "--quiet")), text'
expect_success "help predict" "$dg" help predict
expect_failure "no command" 2 "usage" "$dg"
expect_failure "unknown command" 2 "unknown command 'frobnicate'" \
    "$dg" frobnicate
expect_failure "unknown option" 2 "unknown option --bogus" \
    "$dg" version --bogus
expect_failure "flag given a value" 2 "--json takes no value" \
    "$dg" version --json=yes
expect_failure "missing argument" 2 "expected MODEL" "$dg" info
expect_failure "extra argument" 2 "expected no arguments" "$dg" version x

# -------------------------------------------------------------- version
expect_success "version" "$dg" version
if [ -n "${DG_EXPECTED_VERSION:-}" ]; then
    check "version shows $DG_EXPECTED_VERSION" '
import sys
text = sys.stdin.read()
assert sys.argv[1] in text, text' "$DG_EXPECTED_VERSION"
fi
expect_success "--version is version" "$dg" --version
check "--version prints the versions" '
import sys
text = sys.stdin.read()
assert text.startswith("         version") and "library" in text, text'
expect_success "version --json" "$dg" version --json
check "version --json: library and header agree" '
import json, os, sys
v = json.load(sys.stdin)
lib, hdr = v["library"], v["header"]
assert lib["abi"] == hdr["abi"], v
major, minor, patch = map(int, lib["version"].split("."))
assert lib["number"] == major * 10000 + minor * 100 + patch, v
want = os.environ.get("DG_EXPECTED_VERSION")
assert not want or hdr["version"] == want, v'

# ------------------------------------------------------------- fixtures
mkdir -p "$fixtures"
run "$make_fixtures" "$fixtures"
require "make_fixtures"
model=$fixtures/model.dgm
images=("$fixtures"/img*.png)

# ----------------------------------------------------------------- info
expect_success "info" "$dg" info "$model"
check "info shows four layers and the parameter count" '
import re, sys
text = sys.stdin.read()
rows = re.findall(r"^\s*(\d+)\s+(conv|relu|maxpool|linear)\s", text, re.M)
assert [k for _, k in rows] == ["conv", "relu", "maxpool", "linear"], rows
assert re.search(r"^parameters\s+235$", text, re.M), text'
expect_success "info --json" "$dg" info --json "$model"
# conv: 4 filters of 1x3x3 plus 4 biases; linear: 3 x (4x4x4) plus 3.
check "info --json describes c4k3p1,relu,mp2,fc3 on 1x8x8" '
import json, sys
m = json.load(sys.stdin)
assert m["input"] == {"channels": 1, "height": 8, "width": 8}, m["input"]
layers = m["layers"]
assert [l["kind"] for l in layers] == ["conv", "relu", "maxpool", "linear"]
assert [l["inputs"] for l in layers] == [[-1], [0], [1], [2]]
conv, pool, fc = layers[0], layers[2], layers[3]
assert (conv["kernel"], conv["stride"], conv["padding"]) == (3, 1, 1), conv
assert conv["output"] == {"channels": 4, "height": 8, "width": 8}, conv
assert pool["output"] == {"channels": 4, "height": 4, "width": 4}, pool
assert fc["output"] == {"channels": 3, "height": 1, "width": 1}, fc
assert [l["parameters"] for l in layers] == [40, 0, 0, 195], layers
assert m["total_parameters"] == 235, m["total_parameters"]
assert not any(l["frozen"] or l["pruned_units"] for l in layers)
assert m["classes"] == ["circle", "say \"hi\"\\", "caf\u00e9"], m["classes"]
assert m["preprocess"]["channels"] == 1, m["preprocess"]'

# -------------------------------------------------------------- predict
# Compares dg's JSON with expected.txt: the order of images, the top class
# and every probability; with fewer than all classes shown, the shown ones.
agrees_with_fixtures='
import json, sys
result = json.load(sys.stdin)
expected = {}
for line in open(sys.argv[1]):
    name, best, *p = line.split()
    expected[name] = (int(best), [float(x) for x in p])
files = [f.rsplit("/", 1)[-1] for f in sys.argv[3:]]
assert [r["file"].rsplit("/", 1)[-1] for r in result] == files, result
top = int(sys.argv[2])
for r in result:
    best, probability = expected[r["file"].rsplit("/", 1)[-1]]
    shown = r["top"]
    assert len(shown) == top, r
    assert shown[0]["class"] == best, (r, best)
    for s in shown:
        assert abs(s["probability"] - probability[s["class"]]) < 1e-4, r
    ranked = [s["probability"] for s in shown]
    assert ranked == sorted(ranked, reverse=True), r
    if top == len(probability):
        assert abs(sum(ranked) - 1) < 1e-4, r
'
expected=$fixtures/expected.txt

expect_success "predict" "$dg" predict "$model" "${images[@]}"
check "predict prints each image with three classes" '
import sys
lines = [l for l in sys.stdin.read().splitlines() if l.strip()]
n = len(sys.argv) - 1
assert len(lines) == 4 * n, lines
for i, f in enumerate(sys.argv[1:]):
    assert lines[4 * i] == f, (lines[4 * i], f)' "${images[@]}"
expect_success "predict --json" "$dg" predict --json "$model" "${images[@]}"
check "predict --json agrees with the fixtures" \
    "$agrees_with_fixtures" "$expected" 3 "${images[@]}"
expect_success "predict in batches of two, --top=2" \
    "$dg" predict --json --batch 2 --top=2 "$model" "${images[@]}"
check "batched predictions agree with the fixtures" \
    "$agrees_with_fixtures" "$expected" 2 "${images[@]}"
expect_success "predict with a model that ends in softmax" \
    "$dg" predict --json "$fixtures/softmax-model.dgm" "${images[@]}"
check "its probabilities are not softmaxed twice" \
    "$agrees_with_fixtures" "$expected" 3 "${images[@]}"
expect_success "predict -qk1 (short options)" \
    "$dg" predict -qk1 --json "$model" "${images[@]}"
check "predict -k1 agrees with the fixtures" \
    "$agrees_with_fixtures" "$expected" 1 "${images[@]}"

# The file name goes into JSON: a quote, a tab and a byte that is not
# UTF-8 must come out escaped or replaced.
odd_name=$fixtures/$'odd "name"\t\xff.png'
cp "${images[0]}" "$odd_name"
expect_success "predict an oddly named file" \
    "$dg" predict --json "$model" "$odd_name"
check "the odd name is valid JSON" '
import json, sys
r = json.load(sys.stdin)
assert r[0]["file"].endswith("odd \"name\"\t\ufffd.png"), r'

# An image of another size and colour is converted, with a warning that
# names it; images that fit the model get none.
python3 - "$fixtures/colour28.png" <<'PY'
import struct, sys, zlib
w = h = 28
rows = b"".join(b"\0" + bytes((x * 9 + y * 5) % 256 for x in range(3 * w))
                for y in range(h))
def chunk(tag, data):
    return (struct.pack(">I", len(data)) + tag + data +
            struct.pack(">I", zlib.crc32(tag + data)))
open(sys.argv[1], "wb").write(
    b"\x89PNG\r\n\x1a\n" +
    chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
    chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
PY
expect_success "predict a 28x28 colour image with an 8x8 gray model" \
    "$dg" predict "$model" "${images[0]}" "$fixtures/colour28.png"
if grep -q "1 of 2 images were converted to the model's 8x8 gray input (.*colour28.png is 28x28 colour)" "$err"; then
    ok "the conversion is named on stderr"
else
    not_ok "the conversion is named on stderr"
fi
expect_success "predict images of the model's size" \
    "$dg" predict "$model" "${images[@]}"
if grep -q "converted" "$err"; then
    not_ok "no conversion warning for them"
else
    ok "no conversion warning for them"
fi

# Class names from a file reach the terminal escaped as in JSON: no
# control character (C0, DEL, C1) and no invalid UTF-8 comes out raw.
hostile=$fixtures/hostile-names.dgm
escaped_as_json='
import sys
raw = sys.stdin.buffer.read()
text = raw.decode("utf-8")  # invalid UTF-8 would raise
bad = [c for c in text if (ord(c) < 0x20 and c != "\n") or 0x7f <= ord(c) < 0xa0]
assert not bad, bad
for name in ("\\u001b[31mred", "two\\nlines", "csi\\u009b2J \ufffd"):
    assert name in text, (name, text)'
expect_success "info of a model with hostile class names" "$dg" info "$hostile"
check "info escapes the class names" "$escaped_as_json"
expect_success "predict with hostile class names" \
    "$dg" predict --top 3 "$hostile" "${images[0]}"
check "predict escapes the class names" "$escaped_as_json"
cp "${images[0]}" "$fixtures/"$'\e[2Jclear.png'
expect_success "predict an image whose name holds an escape" \
    "$dg" predict "$model" "$fixtures/"$'\e[2Jclear.png'
check "the file name is escaped" '
import sys
text = sys.stdin.read()
assert "\x1b" not in text and "\\u001b[2Jclear.png" in text, text'

# ------------------------------------------------------------- failures
expect_failure "predict --top 0" 2 "--top must be an integer from 1 to 3" \
    "$dg" predict --top 0 "$model" "${images[0]}"
expect_failure "predict --top above the class count" 2 \
    "--top must be an integer from 1 to 3" \
    "$dg" predict --top 4 "$model" "${images[0]}"
expect_failure "predict --top not a number" 2 "--top must be an integer" \
    "$dg" predict --top three "$model" "${images[0]}"
expect_failure "predict --batch without a value" 2 "--batch needs a value" \
    "$dg" predict "$model" "${images[0]}" --batch
expect_failure "info on a missing file" 1 "no-such-model.dgm" \
    "$dg" info "$fixtures/no-such-model.dgm"
expect_failure "info on a corrupt model" 1 "corrupt-model.dgm" \
    "$dg" info "$fixtures/corrupt-model.dgm"
expect_failure "predict with a corrupt model" 1 "corrupt-model.dgm" \
    "$dg" predict "$fixtures/corrupt-model.dgm" "${images[0]}"
expect_failure "predict a corrupt image among good ones" 1 "corrupt.png" \
    "$dg" predict --json --batch 2 "$model" "${images[0]}" \
    "$fixtures/corrupt.png" "${images[1]}" "${images[2]}"
check "the good images around it are still predicted" \
    "$agrees_with_fixtures" "$expected" 3 \
    "${images[0]}" "${images[1]}" "${images[2]}"
expect_failure "predict a missing image" 1 "no-such-image.png" \
    "$dg" predict "$model" "$fixtures/no-such-image.png"

finish
