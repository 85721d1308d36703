#!/bin/bash
# Training throughput of the default Teacher, libdiffguard against PyTorch
# (Debian's python3-torch) in the same run, at the same thread count.
# Usage: bench/train.sh BUILD_DIR [THREADS...]   (default threads: 1 2)
# ROUNDS=N (default 3): each thread count N times, the two sides alternately;
# medians and the range of the per-round ratios (bench/ratios.py).
set -euo pipefail
build=${1:-build}
shift || true
threads=${*:-1 2}
here=$(cd "$(dirname "$0")" && pwd)
for _ in $(seq "${ROUNDS:-3}"); do
    for t in $threads; do
        ours=$(OMP_NUM_THREADS=$t "$build/bench/bench_train")
        peer=$(/usr/bin/python3 "$here/torch_train.py" "$t")
        echo "{\"threads\": $t, \"ours\": $ours, \"peer\": $peer}"
    done
done | /usr/bin/python3 "$here/ratios.py" images_per_second:higher
