"""Validation-split study behind doc/EVALUATION.md (fmnist-swap section):
does a rule that also reads which class the consulted members favour stop
more than the guard's score?  For the Student's class y and the consulted
members' mean probabilities P:

  score      P(y), as the validator computes it (pooled threshold at the
             TARGET clean rejection, default 3%);
  margin     P(y) minus the largest other P(c) (the same);
  favourite  P(y), minus 2 when argmax P is not y: the members' favourite
             first, then the score (the same);
  plurality  reject when argmax P is not y (no threshold: its clean
             rejection is what the data gives);
  score@plur P(y) at the plurality's clean rejection, for comparison.

Thresholds are fitted on one half of the clean images the Student gets
right and the rates measured on the other half.  Needs the diffguard
binding only.

  python3 plurality_rules.py STUDENT.dgm GUARD.dg DATA_SPEC CLASSES SET.dgadv...
  (CLASSES like 5,6,7,8,9; DATA_SPEC like idx:val-images.idx,val-labels.idx;
  TARGET=0.025 in the environment: another clean rejection)
"""
import os
import sys

import numpy as np

import diffguard as d
from diffguard.attack import AdversarialSet
from guard_members import distinct_members


def softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def main(student_path, guard_path, spec, classes, *sets):
    st = d.Model.load(student_path)
    guard = d.Guard.load(guard_path, st)
    models, ranks = distinct_members(guard)
    ranks = np.array(ranks)

    def statistics(x):
        y = st.predict(x).argmax(1)
        p = np.stack([softmax(m.predict(x)) for m in models])  # V, N, K
        mean = np.stack([p[ranks[y[i]], i].mean(0) for i in range(len(y))])
        n = np.arange(len(y))
        py = mean[n, y]
        other = mean.copy()
        other[n, y] = -1
        favoured = mean.argmax(1) == y
        return {'score': py, 'margin': py - other.max(1),
                'favourite': np.where(favoured, py, py - 2),
                'plurality': favoured - 0.5, 'score@plur': py}

    ds = d.Dataset.open(spec, classes=[int(c) for c in classes.split(',')])
    x, lab = ds.batch(np.arange(ds.count), model=st)
    x, lab = np.asarray(x), np.asarray(lab)
    s = statistics(x)
    right = st.predict(x).argmax(1) == lab
    order = np.random.default_rng(0).permutation(len(x))
    fit, test = order[: len(x) // 2], order[len(x) // 2:]
    fit, test = fit[right[fit]], test[right[test]]
    plurality_frr = (s['plurality'][fit] < 0).mean()
    target = float(os.environ.get('TARGET', '0.03'))
    theta = {'plurality': 0.0}
    for k in ('score', 'margin', 'favourite', 'score@plur'):
        f = np.sort(s[k][fit])
        theta[k] = f[int((plurality_frr if k == 'score@plur' else target) * len(f))]
    print('clean rejection (other half): ' +
          ', '.join('%s %.2f%%' % (k, 100 * (v[test] < theta[k]).mean())
                    for k, v in s.items()))
    print('%-24s %6s' % ('set', 'fooled') + ''.join('%12s' % k for k in s))
    for path in sets:
        a = AdversarialSet.load(path)
        sa = statistics(np.asarray(a.batch(model=st)))
        fooled = np.array([it.success for it in a.items()])
        print('%-24s %6d' % (path[-24:], fooled.sum()) + ''.join(
            '%11.1f%%' % (100 * (sa[k][fooled] < theta[k]).mean()) for k in s))


if __name__ == '__main__':
    if len(sys.argv) < 6:
        sys.exit(__doc__)
    main(*sys.argv[1:])
