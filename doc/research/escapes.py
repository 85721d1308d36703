"""Validation-split study behind doc/EVALUATION.md ("Which attempts pass"):
for each attempt of a set that fools the Student and passes the guard's
score (the members' mean P(y) at a pooled 3% clean false rejection), its
source and target class, the score and each member's P(y), and the score
the source image had before the attack; and a PNG per set with a row per
such attempt, the clean source on the left and the adversarial image on
the right.  Needs Debian's python3-torch, python3-onnx and python3-pil and
the diffguard binding.

  python3 escapes.py STUDENT.dgm GUARD.dg DATA_SPEC CLASSES OUT_DIR SET.dgadv...
  (CLASSES like 5,6,7,8,9; DATA_SPEC the data the sets were made from)
"""
import os
import sys

import numpy as np
import torch
from PIL import Image

import diffguard as d
from diffguard.attack import AdversarialSet
from fixed_frr import GuardScore, export_student, labelled

torch.set_num_threads(1)


def picture(rows, path):
    """Source | adversarial per row, grey levels stretched over the sheet."""
    sheet = np.concatenate([np.concatenate([src, np.ones((src.shape[0], 2)), adv], 1)
                            for src, adv in rows], 0)
    lo, hi = sheet.min(), sheet.max()
    img = Image.fromarray(((sheet - lo) / (hi - lo) * 255).astype(np.uint8))
    img.resize((img.width * 4, img.height * 4), Image.NEAREST).save(path)


def main(student_path, guard_path, spec, classes, out, *sets):
    st = d.Model.load(student_path)
    student = export_student(st)
    guard = GuardScore(d.Guard.load(guard_path, st))
    names = st.class_names
    x, lab, y = labelled(st, student, spec, classes)
    theta = torch.quantile(guard.score(x, y)[y == lab], 0.03).item()
    print('pooled 3%% threshold %.3f' % theta)
    for path in sets:
        s = AdversarialSet.load(path)
        items = s.items()
        xa = torch.tensor(np.asarray(s.batch(model=st)), dtype=torch.float32)
        with torch.no_grad():
            ya = student(xa).argmax(1)
        score, each = guard.score(xa, ya), guard.per_member(xa, ya)
        passed = [i for i, it in enumerate(items) if it.success and score[i] >= theta]
        print('%s: %d fooled the Student, %d passed the guard'
              % (os.path.basename(path), sum(it.success for it in items), len(passed)))
        rows = []
        for i in passed:
            it = items[i]
            j = it.source_index
            before = guard.score(x[j:j + 1], lab[j:j + 1])[0]
            print('  %-12s -> %-12s score %.2f (members %s), source before the attack %.2f'
                  % (names[it.source_label], names[it.target_label], score[i],
                     ' '.join('%.2f' % v for v in each[:, i]), before))
            rows.append((x[j, 0].numpy(), xa[i, 0].numpy()))
        if rows:
            picture(rows, os.path.join(out, os.path.basename(path) + '.png'))


if __name__ == '__main__':
    if len(sys.argv) < 7:
        sys.exit(__doc__)
    main(*sys.argv[1:])
