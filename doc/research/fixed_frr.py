"""Validation-split study behind doc/EVALUATION.md ("Member training,
measured at one false rejection"): the defence rate of several guards of
the same Student at the same pooled clean false rejection (3% of the
correctly classified images of DATA_SPEC), so that guards compare without
the noise of each build's own calibration; also each member's clean
accuracy.  Level b and c sets are guard-specific: a set named b_* or c_*
is read from each guard's folder under its file name.  Needs Debian's
python3-torch and python3-onnx and the diffguard binding.

  python3 fixed_frr.py STUDENT.dgm DATA_SPEC CLASSES GUARD_DIR... -- NAME=SET.dgadv...
  (each GUARD_DIR holds guard.dg; CLASSES like 5,6,7,8,9; FRR=F in the
  environment: other pooled false rejections, comma-separated, default 0.03)
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
_TMP = tempfile.mkdtemp()


def export(model, name):
    path = os.path.join(_TMP, name + '.onnx')
    model.export_onnx(path)
    return OnnxModule(path).eval()


def export_student(st):
    return export(st, 'student')


class GuardScore:
    """A guard's distinct members in PyTorch and its score: the mean P(y)
    of the members class y consults."""

    def __init__(self, guard):
        self.members, ranks = distinct_members(
            guard, lambda model, k: export(model, 'm%d' % k))
        self.ranks = torch.tensor(ranks)

    def per_member(self, x, y):
        with torch.no_grad():
            return torch.stack([F.softmax(m(x), 1)[torch.arange(len(y)), y]
                                for m in self.members])

    def score(self, x, y):
        return self.per_member(x, y).gather(0, self.ranks[y].t()).mean(0)

    def accuracy(self, x, lab):
        with torch.no_grad():
            return [(m(x).argmax(1) == lab).float().mean().item() for m in self.members]


def labelled(st, student, spec, classes):
    """Every image of spec as model input, its label and the Student's answer."""
    ds = d.Dataset.open(spec, classes=[int(c) for c in classes.split(',')])
    x, lab = ds.batch(np.arange(ds.count), model=st)
    x = torch.tensor(np.asarray(x), dtype=torch.float32)
    lab = torch.tensor(np.asarray(lab)).long()
    with torch.no_grad():
        y = student(x).argmax(1)
    return x, lab, y


def main(args):
    cut = args.index('--')
    st_path, spec, classes, dirs = args[0], args[1], args[2], args[3:cut]
    sets = [a.split('=', 1) for a in args[cut + 1:]]
    st = d.Model.load(st_path)
    student = export_student(st)
    x, lab, y = labelled(st, student, spec, classes)
    print('%-10s %6s' % ('guard', 'theta') + ''.join('%11s' % n for n, _ in sets)
          + '   members\' clean accuracy')
    rates = [float(f) for f in os.environ.get('FRR', '0.03').split(',')]
    for folder in dirs:
        guard = GuardScore(d.Guard.load(os.path.join(folder, 'guard.dg'), st))
        clean = guard.score(x, y)[y == lab]
        attacked = []
        for name, path in sets:
            if name.startswith(('b_', 'c_')):
                path = os.path.join(folder, os.path.basename(path))
            s = AdversarialSet.load(path)
            fooled = torch.tensor([bool(it.success) for it in s.items()])
            xa = torch.tensor(np.asarray(s.batch(model=st)), dtype=torch.float32)
            with torch.no_grad():
                ya = student(xa).argmax(1)
            attacked.append(guard.score(xa, ya)[fooled])
        accuracy = ' '.join('%.3f' % a for a in guard.accuracy(x, lab))
        for rate in rates:
            theta = torch.quantile(clean, rate).item()
            row = '%-10s %6.3f' % ('%s@%g' % (os.path.basename(folder.rstrip('/')), rate)
                                   if len(rates) > 1 else
                                   os.path.basename(folder.rstrip('/')), theta)
            for scores in attacked:
                row += '%10.1f%%' % (100 * (scores < theta).float().mean().item())
            print(row + '   ' + accuracy, flush=True)


if __name__ == '__main__':
    if '--' not in sys.argv or sys.argv.index('--') < 5:
        sys.exit(__doc__)
    main(sys.argv[1:])
