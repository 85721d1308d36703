#!/usr/bin/env python3
"""check_host.py - runs a host example on the fixture of make_fixture.py and
compares what it prints with the verdicts of dg_validate (the library's
own phase 1) on the same images, through the Python binding.

usage: check_host.py FIXTURE_DIR COMMAND...

The host is run as COMMAND STUDENT GUARD IMAGE... and must print, per
image, "IMAGE: CLASS (LABEL) ACCEPTED|REJECTED votes V/M score S; RULE",
RULE naming the rule and its threshold.  The fixture's guard accepts
every one of its clean images: an example that rejects them reads as a
bug.
"""
import os
import subprocess
import sys

import numpy as np

import diffguard as dg


def expected(student_path, guard_path, images):
    student = dg.Model.load(student_path)
    validator = dg.Validator(dg.Guard.load(guard_path, student))
    verdicts = validator.validate(np.stack([student.load_image(p)
                                            for p in images]))
    names = student.class_names
    rules = {dg.RULE_VOTES: "rule votes: accept with %.0f or more votes",
             dg.RULE_SCORE: "rule score: accept at %.4f or more"}
    return ["%s: %s (%d) %s votes %d/%d score %.4f; %s"
            % (path, names[v.label], v.label,
               "ACCEPTED" if v.accepted else "REJECTED", v.votes, v.members,
               v.score, rules[v.rule] % v.threshold)
            for path, v in zip(images, verdicts)]


def main(fixture, *command):
    student, guard = (os.path.join(fixture, name)
                      for name in ("student.dgm", "guard.dg"))
    images = [os.path.join(fixture, "image%d.png" % i) for i in range(8)]
    run = subprocess.run(list(command) + [student, guard] + images,
                         stdout=subprocess.PIPE, universal_newlines=True,
                         check=True)
    got, want = run.stdout.splitlines(), expected(student, guard, images)
    print(run.stdout, end="")
    if got != want:
        sys.exit("the host printed the lines above; expected:\n" +
                 "\n".join(want))
    if not all("ACCEPTED" in line for line in got):
        sys.exit("a clean image was rejected")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(*sys.argv[1:])
