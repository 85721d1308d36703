"""Does ranking the members on the held-out images that also set the
threshold bias the calibration?  The build ranks a class's V members by
their agreement with the Student on its clean held-out images, keeps the
first M and sets theta on the same images.  This resamples a guard's
per-image member outputs on a pool of clean images (the build's held-out
set and a fresh split) into calibration sets of the build's size and
fresh sets, and compares the fresh false rejection of (i) the build's
procedure with (ii) the same threshold rule over members chosen once on
the whole pool (no selection on the calibration set).

  python3 selection_bias.py STUDENT.dgm GUARD.dg CLASSES PER_CLASS SPEC...
  (CLASSES like 5,6,7,8,9; PER_CLASS the clean calibration images per class;
  every SPEC's images join the pool; TARGET=0.025 and ROUNDS=400 in the
  environment).  Also the one draw a build makes: calibrated on the
  first SPEC's images alone, the others fresh.
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

import diffguard as d
from fixed_frr import export, export_student, labelled

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', '..', 'bench'))
from calibration_resample import library as theta_of  # noqa: E402  (rank.c's rule)


def ranked(P, images, k, M):
    """The first M members by agreement with class k on these images,
    ties in member order, as lib/defence/rank.c ranks them."""
    agree = (P[:, images].argmax(2) == k).mean(1)
    return np.argsort(-agree, kind='stable')[:M]


def rejected(P, members, cal, fresh, k, target):
    """Fresh images of class k whose mean P(k) over these members falls
    below the threshold rank.c sets on the calibration images."""
    theta = theta_of(P[members][:, cal, k].mean(0), target)
    return int((P[members][:, fresh, k].mean(0) < theta).sum())


def main(args):
    st_path, guard_path, classes, per_class = args[:4]
    per_class = int(per_class)
    target = float(os.environ.get('TARGET', '0.025'))
    rounds = int(os.environ.get('ROUNDS', '400'))
    st = d.Model.load(st_path)
    student = export_student(st)
    guard = d.Guard.load(guard_path, st)
    M, seen, members = guard.info.members, set(), []
    for r in range(guard.info.variants):   # robust members: shared by the classes
        if guard.member(0, r).seed not in seen:
            seen.add(guard.member(0, r).seed)
            members.append(export(guard.member_model(0, r), 'm%d' % r))
    probs, labels, origin = [], [], []
    for n_spec, spec in enumerate(args[4:]):
        x, lab, y = labelled(st, student, spec, classes)
        ok = y == lab
        with torch.no_grad():
            probs.append(torch.stack([F.softmax(m(x[ok]), 1) for m in members]))
        labels.append(lab[ok])
        origin.append(np.full(int(ok.sum()), n_spec))
    P = torch.cat(probs, 1).numpy()          # member, image, class
    lab = torch.cat(labels).numpy()
    origin = np.concatenate(origin)
    cls = sorted(set(lab.tolist()))
    rng = np.random.default_rng(1)
    # Members chosen once on the whole pool: the ranking a build would make
    # with endless held-out images.
    fixed = {c: ranked(P, np.flatnonzero(lab == c), k, M)
             for k, c in enumerate(cls)}
    reached = {'selected on the calibration set': [], 'chosen once on the pool': []}
    for _ in range(rounds):
        rej = {key: 0 for key in reached}
        fresh_n = 0
        for k, c in enumerate(cls):
            idx = rng.permutation(np.flatnonzero(lab == c))
            cal, fresh = idx[:per_class], idx[per_class:]
            for key, use in (('selected on the calibration set',
                              ranked(P, cal, k, M)),
                             ('chosen once on the pool', fixed[c])):
                rej[key] += rejected(P, use, cal, fresh, k, target)
            fresh_n += len(fresh)
        for key in reached:
            reached[key].append(rej[key] / fresh_n)
    # The one draw a build made: calibrated on the first SPEC's images alone.
    rej = fresh_n = 0
    for k, c in enumerate(cls):
        cal = np.flatnonzero((lab == c) & (origin == 0))
        fresh = np.flatnonzero((lab == c) & (origin != 0))
        rej += rejected(P, fixed[c], cal, fresh, k, target)
        fresh_n += len(fresh)
    print('pool: %d clean images, %d calibration per class, target %.3f, %d rounds'
          % (len(lab), per_class, target, rounds))
    for key, r in reached.items():
        r = np.array(r)
        print('%-34s mean fresh FRR %.4f (sd %.4f, se of mean %.4f)'
              % (key, r.mean(), r.std(), r.std() / math.sqrt(len(r))))
    print('%-34s fresh FRR %.4f (%d clean calibration images)'
          % ('calibrated on the first SPEC alone', rej / fresh_n,
             int((origin == 0).sum())))


if __name__ == '__main__':
    if len(sys.argv) < 6:
        sys.exit(__doc__)
    main(sys.argv[1:])
