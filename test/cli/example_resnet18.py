#!/usr/bin/python3
"""examples/resnet18/run.sh --small end to end: a ResNet-18 trained by
PyTorch, imported, transferred, guarded, attacked and evaluated at 32 x 32
with a few dozen images per class.  Checks that every stage ran and was
timed, that the Student learnt (above chance) and that the evaluation has
a row for every attack set.  Exits 77 (skipped) without torch.

Usage: example_resnet18.py SOURCE_ROOT BUILD_ROOT OUT_DIR"""
import json
import os
import shutil
import subprocess
import sys

try:
    import torch  # noqa: F401  (the example's Teacher needs it)
    import torchvision  # noqa: F401
except ImportError as e:
    print("skipped: %s" % e)
    sys.exit(77)

source, build, out = sys.argv[1:4]
shutil.rmtree(out, ignore_errors=True)
subprocess.run(["bash", os.path.join(source, "examples/resnet18/run.sh"),
                "--small", build, out], check=True)

STAGES = ["render", "teacher", "import", "transfer", "guard",
          "attack-cut-linf-0.1", "attack-cut-linf-0.2",
          "attack-layer34-linf-0.1", "attack-whitebox-linf-0.1", "eval"]
with open(os.path.join(out, "stages.tsv")) as f:
    rows = [line.rstrip("\n").split("\t") for line in f][1:]
timed = {name: (float(sec), int(kb)) for name, sec, kb in rows}
missing = [s for s in STAGES if s not in timed]
assert not missing, "stages not run: %s" % missing
assert all(sec >= 0 and kb > 0 for sec, kb in timed.values()), timed

accuracy = subprocess.run(
    [os.path.join(build, "tools/dg/dg"), "accuracy",
     os.path.join(out, "student.dgm"), "--data",
     os.path.join(out, "data/student-test"), "--json"],
    check=True, capture_output=True, text=True)
acc = json.loads(accuracy.stdout)["accuracy"]
assert acc > 0.4, "the Student reached %.2f on 5 classes" % acc

with open(os.path.join(out, "report/eval.json")) as f:
    report = json.load(f)
names = list(report["attack"])
assert names == ["cut-linf-0.1", "cut-linf-0.2", "layer34-linf-0.1",
                 "whitebox-linf-0.1"], names
print("ok: %d stages, Student accuracy %.2f, %d sets evaluated"
      % (len(timed), acc, len(names)))
