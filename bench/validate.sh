#!/bin/bash
# Validation cost, libdiffguard against PyTorch (Debian's python3-torch) in
# the same run, at the same thread count: Student + 5 differentiators.
# Usage: bench/validate.sh BUILD_DIR [THREADS...]   (default threads: 1 2)
set -euo pipefail
build=${1:-build}
shift || true
threads=${*:-1 2}
here=$(cd "$(dirname "$0")" && pwd)
for t in $threads; do
    ours=$(OMP_NUM_THREADS=$t "$build/bench/bench_validate")
    peer=$(OMP_NUM_THREADS=$t /usr/bin/python3 "$here/torch_validate.py" "$t")
    /usr/bin/python3 - "$t" "$ours" "$peer" <<'PY'
import json, sys
t, ours, peer = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
for key in ("batch1_p50_ms", "batch1_p99_ms", "batch64_ms_per_image"):
    print(f"threads {t}: {key:22s} libdiffguard {ours[key]:8.3f}  "
          f"{peer['impl']} {peer[key]:8.3f}  speed-up {peer[key] / ours[key]:5.1f}x")
print(f"threads {t}: guard build (6 variants x 5 classes, 1 epoch each): "
      f"{ours['guard_build_s_1_epoch']:.1f} s")
PY
done
