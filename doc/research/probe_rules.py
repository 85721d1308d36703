"""Validation-split study behind doc/EVALUATION.md ("A probe on the members'
first block"): can one statistic carry the probes' gain?  With the probes
of layer_probes.py, each at a pooled 3% clean false rejection:

  score   log of the consulted members' mean P(y) (the guard's rule);
  both    score and the probes' mean log P(y), each above its threshold;
  sum     score + the probes' mean log P(y), one threshold (the members'
          mean P(y) times the geometric mean of the probes' P(y));
  prod    log of the mean over members of P(y) x probe P(y);
  poeA    each member's output softmax(member + A x probe logits).

Judged on the given sets and on PGD attacks that aim at the members
(`members`), at members and probes (`both`) or at the product of experts.

  python3 probe_rules.py STUDENT.dgm GUARD.dg DATA CLASSES \
      SUR_STUDENT.dgm SUR_GUARD.dg SUR_DATA N EPS[,EPS...] [SET.dgadv...]
"""
import sys
import torch, torch.nn.functional as F
import layer_probes as lp
from layer_probes import pgd

ALPHAS = [0.5, 1.0, 2.0]

def poe_stats(g, x, y, a):
    with torch.no_grad():
        w, rows = g.weights(y), torch.arange(len(y))
        p = torch.stack([F.softmax(m(x) + a * pr(x), 1)[rows, y] for m, pr in zip(g.members, g.probes)])
        return (w * p).sum(0).log()

def prod_stats(g, x, y):
    with torch.no_grad():
        w, rows = g.weights(y), torch.arange(len(y))
        p = torch.stack([(F.softmax(m(x), 1)[rows, y] * F.softmax(pr(x), 1)[rows, y]) for m, pr in zip(g.members, g.probes)])
        return (w * p).sum(0).log()

def poe_loss(g, z, t, a):
    out = F.cross_entropy(g.student(z), t, reduction='none')
    for w, m, pr in zip(g.weights(t), g.members, g.probes):
        out = out + 3 * w * F.cross_entropy(m(z) + a * pr(z), t, reduction='none')
    return out

def main(student_path, guard_path, spec, classes, sst_path, sg_path, sspec, n, eps_list, *sets):
    st, student, guard, sur, x, y, fit, cal, n_classes = lp.setup(
        student_path, guard_path, spec, classes, sst_path, sg_path, sspec)
    s_c, p_c = guard.stats(x[cal], y[cal])
    q = lambda v: torch.quantile(v, 0.03).item()
    t_s = q(s_c)
    b_s, b_p, frr = lp.both_thresholds(s_c, p_c)
    t_sum = q(s_c + p_c)
    t_poe = {a: q(poe_stats(guard, x[cal], y[cal], a)) for a in ALPHAS}
    t_prod = q(prod_stats(guard, x[cal], y[cal]))
    names = ['score', 'both', 'sum', 'prod'] + ['poe%.1f' % a for a in ALPHAS]
    print('%-34s %5s' % ('attack', 'fooled') + ''.join('%8s' % n_ for n_ in names))

    def report(name, xa, fooled):
        with torch.no_grad():
            ya = student(xa).argmax(1)
        s, p = guard.stats(xa, ya)
        rules = [s < t_s, (s < b_s) | (p < b_p), s + p < t_sum, prod_stats(guard, xa, ya) < t_prod]
        rules += [poe_stats(guard, xa, ya, a) < t_poe[a] for a in ALPHAS]
        print('%-34s %5d' % (name, int(fooled.sum()))
              + ''.join('%7.1f%%' % (100 * r[fooled].float().mean().item()) for r in rules), flush=True)

    lp.judge_sets(st, sets, report)
    x0, t = lp.attack_sources(x, y, cal, n, n_classes)
    for eps in [float(e) for e in eps_list.split(',')]:
        for level, g in (('c', guard), ('b', sur)):
            runs = [('members', lambda z: g.loss(z, t, 'members')), ('both', lambda z: g.loss(z, t, 'both'))]
            runs += [('poe%.1f' % a, (lambda a_: lambda z: poe_loss(g, z, t, a_))(a)) for a in ALPHAS]
            for terms, fn in runs:
                xa = pgd(fn, x0, eps)
                with torch.no_grad():
                    fooled = student(xa).argmax(1) == t
                report('%s L-inf %.2f, loss: %s' % (level, eps, terms), xa, fooled)

if __name__ == '__main__':
    main(*sys.argv[1:8], int(sys.argv[8]), *sys.argv[9:])
