"""Validation-split study behind doc/EVALUATION.md ("what was tried"): a
linear probe on each robust member's first-block features (its first
pooling layer's output, averaged to at most 4x4, standardised, logistic
regression fitted on clean images), as a second test beside the guard's
score.  For the Student's predicted class y:

  score   log of the consulted members' mean P(y), as the validator computes it;
  probe   the consulted members' probes' mean log P(y);
  both    score and probe each above a threshold, the pair chosen for the
          same pooled false rejection.

Each rule is thresholded at a pooled 3% false rejection (fitted on one half
of the clean data; the probes on the other half).  It is judged on the
given attack sets, made without knowledge of the probes, and on PGD attacks
(100 steps, targeted) that know them: level c through the guard's own
members and probes, level b through a surrogate guard's members and probes
fitted on the surrogate's images; the loss is the Student's cross-entropy
plus 3 x the consulted members' (`members`), their probes' (`probes`) or
both (`both`).  Needs Debian's python3-torch and python3-onnx, and the
diffguard binding.

  python3 layer_probes.py STUDENT.dgm GUARD.dg DATA CLASSES \
      SUR_STUDENT.dgm SUR_GUARD.dg SUR_DATA N EPS[,EPS...] [SET.dgadv...]
  (CLASSES like 5,6,7,8,9; DATA like idx:val-images.idx,val-labels.idx)
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

torch.set_num_threads(2)
GEN = torch.Generator().manual_seed(0)


def load_guard(student_path, guard_path):
    """The Student and the guard's distinct members as PyTorch functions,
    and for each class the indices of its consulted members."""
    st = d.Model.load(student_path)
    guard = d.Guard.load(guard_path, st)
    tmp = tempfile.mkdtemp()
    st.export_onnx(os.path.join(tmp, 'student.onnx'))

    def to_torch(model, k):
        path = os.path.join(tmp, 'm%d.onnx' % k)
        model.export_onnx(path)
        return OnnxModule(path).eval()

    members, ranks = distinct_members(guard, to_torch)
    return st, OnnxModule(os.path.join(tmp, 'student.onnx')).eval(), members, torch.tensor(ranks)


def images(spec, classes, model):
    ds = d.Dataset.open(spec, classes=classes)
    x, lab = ds.batch(np.arange(ds.count), model=model)
    return torch.tensor(np.asarray(x), dtype=torch.float32), torch.tensor(np.asarray(lab)).long()


def first_pool(member):
    return next(k for k, n in enumerate(member.graph.node) if n.op_type == 'MaxPool')


def pooled(member, x):
    f = member(x, until=first_pool(member))
    if f.shape[2] > 4:
        f = F.adaptive_avg_pool2d(f, 4)
    return f.flatten(1)


def fit_probe(member, x, y, classes):
    with torch.no_grad():
        f = pooled(member, x)
    mu, sd = f.mean(0), f.std(0) + 1e-3
    lin = torch.nn.Linear(f.shape[1], classes)
    opt = torch.optim.LBFGS(lin.parameters(), max_iter=200, line_search_fn='strong_wolfe')

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(lin((f - mu) / sd), y) + 1e-3 * lin.weight.pow(2).sum()
        loss.backward()
        return loss
    opt.step(closure)
    for p in lin.parameters():
        p.requires_grad_(False)
    return lambda z: lin((pooled(member, z) - mu) / sd)


class Guard:
    def __init__(self, student, members, ranks, x, y, classes):
        self.student, self.members, self.ranks = student, members, ranks
        self.probes = [fit_probe(m, x, y, classes) for m in members]

    def weights(self, y):
        """V,N: each member's share of the rows whose class y consults it."""
        cons = self.ranks[y]
        return torch.stack([(cons == v).float().sum(1) / cons.shape[1]
                            for v in range(len(self.members))])

    def stats(self, x, y):
        with torch.no_grad():
            w, rows = self.weights(y), torch.arange(len(y))
            p = torch.stack([F.softmax(m(x), 1)[rows, y] for m in self.members])
            q = torch.stack([F.log_softmax(pr(x), 1)[rows, y] for pr in self.probes])
            return (w * p).sum(0).log(), (w * q).sum(0)

    def loss(self, z, t, terms):
        out = F.cross_entropy(self.student(z), t, reduction='none')
        for w, m, pr in zip(self.weights(t), self.members, self.probes):
            if terms in ('members', 'both'):
                out = out + 3 * w * F.cross_entropy(m(z), t, reduction='none')
            if terms in ('probes', 'both'):
                out = out + 3 * w * F.cross_entropy(pr(z), t, reduction='none')
        return out


def pgd(loss_fn, x0, eps, steps=100):
    z = x0.clone()
    for _ in range(steps):
        z.requires_grad_(True)
        g, = torch.autograd.grad(loss_fn(z).sum(), z)
        z = torch.min(torch.max(z.detach() - 2.5 * eps / steps * g.sign(), x0 - eps), x0 + eps).clamp(0, 1)
    return z.detach()


def setup(student_path, guard_path, spec, classes, sur_student_path,
          sur_guard_path, sur_spec):
    """The guard with probes fitted on one half of the clean images, the
    surrogate with probes fitted on its own images, and the other half's
    clean, correctly classified images for the thresholds."""
    classes = [int(c) for c in classes.split(',')]
    st, student, members, ranks = load_guard(student_path, guard_path)
    x, lab = images(spec, classes, st)
    with torch.no_grad():
        y = student(x).argmax(1)
    perm = torch.randperm(len(x), generator=GEN)
    fit, cal = perm[: len(x) // 2], perm[len(x) // 2:]
    cal = cal[y[cal] == lab[cal]]
    guard = Guard(student, members, ranks, x[fit], lab[fit], len(classes))
    sst, sur_student, sur_members, sur_ranks = load_guard(sur_student_path, sur_guard_path)
    xs, ls = images(sur_spec, classes, sst)
    surrogate = Guard(sur_student, sur_members, sur_ranks, xs, ls, len(classes))
    return st, student, guard, surrogate, x, y, fit, cal, len(classes)


def both_thresholds(s_c, p_c, target=0.03):
    """The score's and the probes' thresholds at a common quantile that
    rejects `target` of the clean images together, and that rate."""
    lo, hi = 0.0, target
    for _ in range(30):
        f = (lo + hi) / 2
        b_s, b_p = torch.quantile(s_c, f).item(), torch.quantile(p_c, f).item()
        frr = 1 - ((s_c >= b_s) & (p_c >= b_p)).float().mean().item()
        lo, hi = (f, hi) if frr < target else (lo, f)
    return b_s, b_p, frr


def judge_sets(st, sets, report):
    """report(name, images, fooled) for each adversarial set file."""
    for path in sets:
        s = AdversarialSet.load(path)
        xa = torch.tensor(np.asarray(s.batch(model=st)), dtype=torch.float32)
        report(os.path.basename(path), xa, torch.tensor([it.success for it in s.items()]))


def attack_sources(x, y, cal, n, n_classes):
    """The first n clean threshold images, their labels and a random
    target class other than each label."""
    x0, y0 = x[cal[:n]], y[cal[:n]]
    t = (y0 + 1 + torch.randint(0, n_classes - 1, (len(x0),), generator=GEN)) % n_classes
    return x0, t


def main(student_path, guard_path, spec, classes, sur_student_path, sur_guard_path,
         sur_spec, n, eps_list, *sets):
    st, student, guard, surrogate, x, y, fit, cal, n_classes = setup(
        student_path, guard_path, spec, classes, sur_student_path,
        sur_guard_path, sur_spec)
    s_c, p_c = guard.stats(x[cal], y[cal])
    t_s, t_p = torch.quantile(s_c, 0.03).item(), torch.quantile(p_c, 0.03).item()
    b_s, b_p, frr = both_thresholds(s_c, p_c)
    print('clean: %d (probes fitted on %d); both rule rejects %.1f%%'
          % (len(cal), len(fit), 100 * frr))
    print('%-32s %5s %8s %8s %8s' % ('attack', 'fooled', 'score', 'probe', 'both'))

    def report(name, xa, fooled):
        with torch.no_grad():
            ya = student(xa).argmax(1)
        s, p = guard.stats(xa, ya)
        rules = [s < t_s, p < t_p, (s < b_s) | (p < b_p)]
        print('%-32s %5d' % (name, int(fooled.sum()))
              + ''.join('%7.1f%%' % (100 * r[fooled].float().mean().item()) for r in rules), flush=True)

    judge_sets(st, sets, report)
    x0, t = attack_sources(x, y, cal, n, n_classes)
    for eps in [float(e) for e in eps_list.split(',')]:
        for level, g in (('c', guard), ('b', surrogate)):
            for terms in ('members', 'both', 'probes'):
                xa = pgd(lambda z: g.loss(z, t, terms), x0, eps)
                with torch.no_grad():
                    fooled = student(xa).argmax(1) == t
                report('%s L-inf %.2f, loss: %s' % (level, eps, terms), xa, fooled)


if __name__ == '__main__':
    if len(sys.argv) < 10:
        sys.exit(__doc__)
    main(*sys.argv[1:8], int(sys.argv[8]), *sys.argv[9:])
