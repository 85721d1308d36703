"""Validation cost of guards for one Student, side by side: the CPU time
and wall time per input of dg_validate at batch 64 and batch 1 on the same
Fashion-MNIST test images, each guard in turn, twice.  CPU time on one
thread barely moves when other jobs share the machine; wall time does.

    OMP_NUM_THREADS=1 PYTHONPATH=python DIFFGUARD_LIBRARY=build/lib/libdiffguard.so \\
        python3 bench/guard_cost.py STUDENT GUARD [GUARD...]

Prints one JSON line per guard and round; doc/EVALUATION.md quotes the
ratios of the second round."""
import json
import sys
import time

import numpy as np

import diffguard as dg

BATCH, IMAGES, SINGLES = 64, 2048, 200


def cost(validator, x):
    c0, w0 = time.process_time(), time.perf_counter()
    for i in range(0, len(x), BATCH):
        validator.validate(x[i:i + BATCH])
    c1, w1 = time.process_time(), time.perf_counter()
    for i in range(SINGLES):
        validator.validate(x[i:i + 1])
    c2 = time.process_time()
    return {"batch64_cpu_ms": (c1 - c0) / len(x) * 1e3,
            "batch64_wall_ms": (w1 - w0) / len(x) * 1e3,
            "batch1_cpu_ms": (c2 - c1) / SINGLES * 1e3}


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    student = dg.Model.load(sys.argv[1])
    data = dg.Dataset.open("fmnist:test", classes=[5, 6, 7, 8, 9])
    x, _ = data.batch(np.arange(IMAGES), model=student)
    validators = [(path, dg.Validator(dg.Guard.load(path, student),
                                      max_batch=BATCH))
                  for path in sys.argv[2:]]
    for rnd in (1, 2):
        for path, validator in validators:
            row = {"round": rnd, "guard": path}
            row.update({k: round(v, 4) for k, v in cost(validator, x).items()})
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
