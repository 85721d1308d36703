#!/bin/bash
# Validation cost, libdiffguard against ONNX Runtime (npm onnxruntime-node)
# in the same run, same inputs, same thread count, on a given Student and
# guard (for example the demo's dg-demo/student.dgm and dg-demo/guard.dg).
# ONNX Runtime runs one graph: the Student and every distinct member as
# `dg export` writes them, shared weights stored once (bench/ort/merge_guard.py),
# then the guard's decision rule in JavaScript; the script checks that both
# accept the same inputs.
# Needs: meson setup BUILD -Dbench=true; (cd bench/ort && npm install --ignore-scripts);
#        Debian's python3-onnx (or onnx in /usr/bin/python3).
# Usage: bench/ort_validate.sh [--data SPEC --classes LIST] BUILD_DIR STUDENT GUARD [THREADS...]
#   (default threads: 1 2; default data: Fashion-MNIST's test images of
#   classes 5,6,7,8,9; any Student input shape)
#   ROUNDS=N (default 1): each thread count N times, the two sides
#   alternately; medians and the range of the per-round ratios, and each
#   side at its best thread count (bench/ratios.py)
set -euo pipefail
data=()
while [ "${1:-}" = --data ] || [ "${1:-}" = --classes ]; do
    data+=("$1" "$2")
    shift 2
done
if [ $# -lt 3 ]; then
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
build=$1 student=$2 guard=$3
shift 3
threads=${*:-1 2}
here=$(cd "$(dirname "$0")" && pwd)
[ -d "$here/ort/node_modules/onnxruntime-node" ] || {
    echo "ort_validate.sh: run (cd $here/ort && npm install --ignore-scripts) first" >&2
    exit 1
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dg=$build/tools/dg/dg
"$dg" export "$student" -o "$work/student.onnx" >/dev/null
"$dg" export --guard "$guard" --student "$student" --all "$work/members" >/dev/null
"$dg" guard info "$guard" --student "$student" --json >"$work/info.json"
shape=$("$dg" info "$student" --json | /usr/bin/python3 -c \
    'import json, sys; i = json.load(sys.stdin)["input"]
print("%dx%dx%d" % (i["channels"], i["height"], i["width"]))')
/usr/bin/python3 "$here/ort/merge_guard.py" "$work/student.onnx" "$work/members" \
    "$work/info.json" "$work/merged.onnx" "$work/plan.json"
for _ in $(seq "${ROUNDS:-1}"); do
    for t in $threads; do
        export OMP_NUM_THREADS=$t
        ours=$("$build/bench/bench_validate" --student "$student" --guard "$guard" \
               "${data[@]}" --inputs "$work/inputs.f32")
        peer=$(node "$here/ort/validate.mjs" "$work/merged.onnx" "$work/plan.json" \
               "$work/inputs.f32" "$t" "$shape")
        /usr/bin/python3 - "$t" "$ours" "$peer" >&2 <<'PY'
import json, sys
t, ours, peer = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
a, b = ours["accepted"], peer["accepted"]
same = sum(x == y for x, y in zip(a, b))
print(f"threads {t}: {ours['impl']} against {peer['impl']}; "
      f"same verdict on {same} of {len(a)} inputs")
PY
        echo "{\"threads\": $t, \"ours\": $ours, \"peer\": $peer}"
    done
done | /usr/bin/python3 "$here/ratios.py" batch1_p50_ms:lower batch1_p99_ms:lower \
    batch64_ms_per_image:lower
