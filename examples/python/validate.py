#!/usr/bin/env python3
"""validate.py - the C host of examples/c_host in Python.

usage: validate.py STUDENT GUARD IMAGE...

Classifies the images with the host's "own inference" (the Student's
predictions, standing in for the host's runtime), validates those labels
with the guard, and prints one line per image:

    IMAGE: CLASS (LABEL) ACCEPTED|REJECTED votes V/M score S; RULE

with RULE as the C host prints it: the rule and its threshold.

Needs the diffguard package: `pip install ./python` in a virtual
environment (doc/getting-started.md), or, from the tree,
PYTHONPATH=python DIFFGUARD_LIBRARY=build/lib/libdiffguard.so.1.
"""
import sys

import numpy as np

import diffguard


def main(student_path, guard_path, *images):
    with diffguard.Model.load(student_path) as student, \
            diffguard.Guard.load(guard_path, student) as guard, \
            diffguard.Validator(guard) as validator:
        x = np.stack([student.load_image(path) for path in images])
        labels = student.predict(x).argmax(axis=1)  # the host's inference
        names = student.class_names
        for path, v in zip(images, validator.validate(x, labels=labels)):
            print("%s: %s (%d) %s votes %d/%d score %.4f; %s"
                  % (path, names[v.label], v.label,
                     "ACCEPTED" if v.accepted else "REJECTED", v.votes,
                     v.members, v.score, rule(v)))


def rule(v):
    """The rule in force and the threshold it compares with."""
    if v.rule == diffguard.Rule.VOTES:
        return "rule votes: accept with %.0f or more votes" % v.threshold
    return "rule score: accept at %.4f or more" % v.threshold


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    try:
        main(*sys.argv[1:])
    except diffguard.DiffguardError as e:
        sys.exit("validate.py: %s" % e)
