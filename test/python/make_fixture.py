#!/usr/bin/env python3
"""make_fixture.py - writes the fixture of the example tests into OUTDIR:
student.dgm (a Student trained on the synthetic bars of support.py),
guard.dg (its small guard, calibrated to reject 1% of clean images,
so that the examples show clean images accepted) and image0.png ...
image7.png (unseen bars; image i is of class i % 4).

usage: make_fixture.py OUTDIR
"""
import os
import sys
import tempfile

import support


def main(out):
    with tempfile.TemporaryDirectory() as tmp:
        _, _, student, guard = support.student_and_guard(
            tmp, holdout_per_class=100, target_frr=0.01)
        student.save(os.path.join(out, "student.dgm"))
        guard.save(os.path.join(out, "guard.dg"))
    pixels, _ = support.bars(2, seed=9)
    for i, image in enumerate(pixels):
        support.write_png(os.path.join(out, "image%d.png" % i), image[0])


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
