#!/bin/bash
# Training throughput of the default Teacher, libdiffguard against PyTorch
# (Debian's python3-torch) in the same run, at the same thread count.
# Usage: bench/train.sh BUILD_DIR [THREADS...]   (default threads: 1 2)
set -euo pipefail
build=${1:-build}
shift || true
threads=${*:-1 2}
here=$(cd "$(dirname "$0")" && pwd)
for t in $threads; do
    ours=$(OMP_NUM_THREADS=$t "$build/bench/bench_train")
    peer=$(/usr/bin/python3 "$here/torch_train.py" "$t")
    /usr/bin/python3 - "$t" "$ours" "$peer" <<'PY'
import json, sys
t, ours, peer = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
ratio = ours["images_per_second"] / peer["images_per_second"]
print(f"threads {t}: libdiffguard {ours['images_per_second']:.0f} img/s, "
      f"{peer['impl']} {peer['images_per_second']:.0f} img/s, ratio {ratio:.2f}x")
PY
done
