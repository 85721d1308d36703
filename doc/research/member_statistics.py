"""Validation-split study behind doc/EVALUATION.md ("what was tried"): do
other statistics of a robust guard's members separate clean inputs from
the attacks its score lets through?  For the Student's predicted class y:

  score      the members' mean P(y), as the validator computes it;
  local      the same after the worst move of radius R against it (STEPS
             sign-gradient steps): a confidence that survives a small move;
  typicality minus the Mahalanobis distance of each member's penultimate
             features to class y's mean (shared covariance), averaged.

Each is thresholded at the same pooled 3% false rejection, fitted on one
half of the clean data and applied to the attack sets.  Needs Debian's
python3-torch and python3-onnx, and the diffguard binding.

  python3 member_statistics.py STUDENT.dgm GUARD.dg DATA_SPEC CLASSES R STEPS SET.dgadv...
  (CLASSES like 5,6,7,8,9; for example DATA_SPEC idx:val-images.idx,val-labels.idx)
"""
import os
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

import diffguard as d
from diffguard.attack import AdversarialSet
from guard_members import distinct_members
from onnx_torch import OnnxModule

torch.set_num_threads(1)


def export(model, folder, name):
    path = os.path.join(folder, name + '.onnx')
    model.export_onnx(path)
    return OnnxModule(path).eval()


def main(student_path, guard_path, spec, classes, radius, steps, *sets):
    st = d.Model.load(student_path)
    guard = d.Guard.load(guard_path, st)
    info = guard.info
    tmp = tempfile.mkdtemp()
    student = export(st, tmp, 'student')
    members, ranks = distinct_members(
        guard, lambda model, k: export(model, tmp, 'm%d' % k))
    ranks = torch.tensor(ranks)
    feature_node = len(members[0].graph.node) - 2  # the penultimate ReLU

    def consulted(per_member, y):  # V,N -> mean over each row's members
        return per_member.gather(0, ranks[y].t()).mean(0)

    def score(x, y, grad=False):
        with torch.set_grad_enabled(grad):
            p = torch.stack([F.softmax(m(x), 1)[torch.arange(len(y)), y] for m in members])
        return consulted(p, y)

    def local(x, y):
        z = x.clone()
        for _ in range(steps):
            z.requires_grad_(True)
            g, = torch.autograd.grad(score(z, y, True).sum(), z)
            z = torch.min(torch.max(z.detach() - 2.5 * radius / steps * g.sign(), x - radius),
                          x + radius).clamp(0, 1)
        return score(z, y)

    def features(x):
        with torch.no_grad():
            return [m(x, until=feature_node).flatten(1) for m in members]

    ds = d.Dataset.open(spec, classes=[int(c) for c in classes.split(',')])
    x, lab = ds.batch(np.arange(ds.count), model=st)
    x, lab = torch.tensor(np.asarray(x), dtype=torch.float32), torch.tensor(np.asarray(lab)).long()
    with torch.no_grad():
        y = student(x).argmax(1)
    half = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    fit, cal = half[: len(x) // 2], half[len(x) // 2:]
    cal = cal[y[cal] == lab[cal]]
    fx = features(x[fit])
    mean = [torch.stack([f[lab[fit] == c].mean(0) for c in range(info.classes)]) for f in fx]
    prec = []
    for f, mu in zip(fx, mean):
        r = f - mu[lab[fit]]
        prec.append(torch.linalg.inv(r.t() @ r / len(r) + 1e-3 * torch.eye(r.shape[1])))

    def typicality(x, y):
        t = torch.stack([-(((f - mu[y]) @ p) * (f - mu[y])).sum(1)
                         for f, mu, p in zip(features(x), mean, prec)])
        return consulted(t, y)

    stats = {'score': score, 'local': local, 'typicality': typicality}
    theta = {k: torch.quantile(f(x[cal], y[cal]), 0.03).item() for k, f in stats.items()}
    print('clean inputs %d (threshold fitted on %d); radius %g, %d steps'
          % (len(x), len(cal), radius, steps))
    print('%-28s %7s' % ('attack set', 'fooled') + ''.join('%12s' % k for k in stats))
    for path in sets:
        s = AdversarialSet.load(path)
        xa = torch.tensor(np.asarray(s.batch(model=st)), dtype=torch.float32)
        fooled = torch.tensor([it.success for it in s.items()])
        with torch.no_grad():
            ya = student(xa).argmax(1)
        row = '%-28s %7d' % (os.path.basename(path)[-28:], int(fooled.sum()))
        for k, f in stats.items():
            stopped = (f(xa, ya) < theta[k])[fooled].float().mean().item()
            row += '%11.1f%%' % (100 * stopped)
        print(row)


if __name__ == '__main__':
    if len(sys.argv) < 8:
        sys.exit(__doc__)
    main(*sys.argv[1:5], float(sys.argv[5]), int(sys.argv[6]), *sys.argv[7:])
