"""Objects released in random orders, by close() or by the garbage
collector, while the others stay in use; and objects left alive for the
interpreter's exit.  Runs in a child process, so that a crash fails the
test with the child's traceback (faulthandler) instead of killing it.

Needs DG_FIXTURE_DIR, the output of make_fixture.py."""
import os
import subprocess
import sys
import unittest

CHILD = r"""
import faulthandler, gc, os, random, sys
import numpy as np
import diffguard as dg

faulthandler.enable()
fixture, rounds = sys.argv[1], int(sys.argv[2])
x = np.random.default_rng(0).random((3, 1, 8, 8), dtype=np.float32)


def objects():
    model = dg.Model.load(os.path.join(fixture, "student.dgm"))
    guard = dg.Guard.load(os.path.join(fixture, "guard.dg"), model)
    return {"model": model, "guard": guard, "session": dg.Session(model, 3),
            "validator": dg.Validator(guard), "student": model.transfer("fc2")}


USE = {"model": lambda m: m.layers, "guard": lambda g: g.info,
       "session": lambda s: s.run(x), "validator": lambda v: v.validate(x),
       "student": lambda s: s.to_bytes()}

for seed in range(rounds):
    rng = random.Random(seed)
    live = objects()
    for name in rng.sample(sorted(live), len(live)):
        obj = live.pop(name)
        if rng.random() < 0.5:
            obj.close()
        del obj
        gc.collect()
        for other, o in live.items():
            USE[other](o)
left_for_exit = objects()
print(rounds, "rounds")
"""


class Lifetime(unittest.TestCase):
    def test_any_release_order(self):
        run = subprocess.run(
            [sys.executable, "-c", CHILD, os.environ["DG_FIXTURE_DIR"], "12"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            universal_newlines=True, timeout=600)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(run.stdout, "12 rounds\n")
        self.assertEqual(run.stderr, "")


if __name__ == "__main__":
    unittest.main()
