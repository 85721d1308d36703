"""Validation-split study behind doc/EVALUATION.md: do members that see a
low-pass view of the input (2 x 2 means, enlarged back), or shallow members
(the first convolution block, a 3 x 3 average pool and one linear layer),
fail less together than plain robust members?  Three members of each kind
are trained alike in
PyTorch (the robust member's shape at width 0.75, three PGD moves at radius
0.15 per batch, distillation from the Student, 10 epochs on the Student's
2500 training images), then judged on the library's level-a sets and on a
white-box PGD attack (100 steps) through each trio and the Student, with a
pooled 3% clean false rejection.  Needs python3-torch, python3-onnx and the
diffguard binding; run where make_splits.py and validation_sets.sh wrote
their files.

  python3 lowpass_members.py STUDENT.dgm plain|lowpass|shallow SETS_FOLDER
"""
import gzip
import json
import os
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import diffguard as d
from diffguard.attack import AdversarialSet
from onnx_torch import OnnxModule

torch.set_num_threads(1)
WIDTHS = (24, 24, 48, 48, 192, 96)


class Member(nn.Module):
    """The robust member's layers: the Student's architecture at 0.75, or
    (shallow) its first block read out by one linear layer."""
    def __init__(self, kind):
        super().__init__()
        w = WIDTHS
        self.lowpass = kind == 'lowpass'
        first = [nn.Conv2d(1, w[0], 3), nn.ReLU(), nn.Conv2d(w[0], w[1], 3), nn.ReLU(),
                 nn.MaxPool2d(2)]
        if kind == 'shallow':
            self.f = nn.Sequential(*first, nn.AvgPool2d(3), nn.Flatten(), nn.Linear(w[1] * 16, 5))
            return
        self.f = nn.Sequential(
            *first, nn.Conv2d(w[1], w[2], 3), nn.ReLU(),
            nn.Conv2d(w[2], w[3], 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(w[3] * 16, w[4]), nn.ReLU(), nn.Linear(w[4], w[5]), nn.ReLU(),
            nn.Linear(w[5], 5))

    def forward(self, x):
        if self.lowpass:
            x = F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode='nearest')
        return self.f(x)


def pgd(loss, x0, eps, steps, step, gen):
    """Minimises loss (per sample) in the L-infinity ball, from a random start."""
    x = (x0 + (torch.rand(x0.shape, generator=gen) * 2 - 1) * eps).clamp(0, 1)
    for _ in range(steps):
        x.requires_grad_(True)
        g, = torch.autograd.grad(loss(x).sum(), x)
        x = torch.min(torch.max(x.detach() - step * g.sign(), x0 - eps), x0 + eps).clamp(0, 1)
    return x.detach()


def train(x, y, soft, seed, kind, epochs=10, eps=0.15, steps=3, kd=0.5, T=4.0, bs=64):
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    m = Member(kind)
    opt = torch.optim.Adam(m.parameters(), 1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 1e-3, total_steps=epochs * ((len(x) + bs - 1) // bs))
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), bs):
            b = perm[i:i + bs]
            m.eval()
            xa = pgd(lambda z: -F.cross_entropy(m(z), y[b], reduction='none'), x[b], eps, steps,
                     2.5 * eps / steps, gen)
            m.train()
            out = m(xa)
            loss = (1 - kd) * F.cross_entropy(out, y[b]) + kd * T * T * F.kl_div(
                F.log_softmax(out / T, 1), soft[b], reduction='batchmean')
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return m.eval()


def main(student_path, kind, sets):
    st = d.Model.load(student_path)
    path = os.path.join(tempfile.mkdtemp(), 'student.onnx')
    st.export_onnx(path)
    student = OnnxModule(path).eval()
    tr = d.Dataset.open('fmnist:train', classes=[5, 6, 7, 8, 9], per_class=500)
    x, y = (torch.tensor(np.asarray(a)) for a in tr.batch(np.arange(tr.count), model=st))
    x, y = x.float(), y.long()
    with torch.no_grad():
        soft = F.softmax(student(x) / 4.0, 1)
    members = [train(x, y, soft, 11 + k, kind) for k in range(3)]

    def score(z, label):
        with torch.no_grad():
            p = torch.stack([F.softmax(m(z), 1) for m in members]).mean(0)
        return p.gather(1, label[:, None])[:, 0]

    val = d.Dataset.open('idx:val-images.idx,val-labels.idx', classes=[5, 6, 7, 8, 9])
    xc, lab = (torch.tensor(np.asarray(a)) for a in val.batch(np.arange(val.count), model=st))
    xc, lab = xc.float(), lab.long()
    with torch.no_grad():
        yc = student(xc).argmax(1)
    ok = yc == lab
    theta = torch.quantile(score(xc[ok], yc[ok]), 0.03).item()
    result = {'member_accuracy': [round((m(xc).argmax(1) == lab).float().mean().item(), 4)
                                  for m in members]}
    for name in ('a7', 'a9', 'a13'):
        s = AdversarialSet.load(os.path.join(sets, name + '.dgadv'))
        xa = torch.tensor(np.asarray(s.batch(model=st))).float()
        fooled = torch.tensor([it.success for it in s.items()])
        with torch.no_grad():
            ya = student(xa).argmax(1)
        result[name] = round((score(xa, ya) < theta)[fooled].float().mean().item(), 3)
    gen = torch.Generator().manual_seed(5)
    pick = torch.nonzero(ok)[:, 0]
    pick = pick[torch.randperm(len(pick), generator=gen)[:100]]
    x0, y0 = xc[pick], lab[pick]
    target = (y0 + torch.randint(1, 5, (100,), generator=gen)) % 5
    for eps in (0.05, 0.1):
        loss = lambda z: F.cross_entropy(student(z), target, reduction='none') + 3 * torch.stack(
            [F.cross_entropy(m(z), target, reduction='none') for m in members]).mean(0)
        xa = pgd(loss, x0, eps, 100, eps / 20, gen)
        with torch.no_grad():
            ya = student(xa).argmax(1)
        fooled = ya == target
        result['white_box_%g' % eps] = [round((score(xa, ya) < theta)[fooled].float().mean().item(), 3),
                                        int(fooled.sum())]
    print(kind, json.dumps(result))


if __name__ == '__main__':
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
