"""How closely calibration rules reach their target false rejection on
fresh clean inputs, by resampling one guard's member scores.

    PYTHONPATH=python DIFFGUARD_LIBRARY=build/lib/libdiffguard.so.1 \\
        python3 bench/calibration_resample.py STUDENT GUARD DATA [CLASSES]

DATA is a data spec the Student was not trained on and the guard not
built from (doc/EVALUATION.md uses the validation split), CLASSES its
classes as the Student numbers them (for example 5,6,7,8,9).  Every image
is scored once by the guard's ranked members of its Student class
(members never trained on DATA, so every image is fresh to them); then,
REPEATS times per size n, n clean images per class are drawn to calibrate
each class's theta by each rule and the rest of the clean images measure
the false rejection that theta reaches.  Prints per rule and n the mean
reached rate over the draws, its spread and root mean square error
(points), and the mean spread of a single class's rate."""
import sys

import numpy as np

import diffguard as dg

TARGET, M, REPEATS, SIZES = 0.03, 5, 400, (30, 50, 90)
EPS = 1e-9


def logit(p):
    p = np.clip(p, EPS, 1 - EPS)
    return np.log(p / (1 - p))


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def line_to_zero(s, t):
    """The former rule: fractional rank t (n + 1), interpolated linearly,
    below rank 1 between 0 and the smallest score."""
    s = np.sort(s)
    r = t * (len(s) + 1)
    if r <= 1:
        return s[0] * r
    j = min(int(r), len(s) - 1)
    return s[j - 1] + (r - j) * (s[j] - s[j - 1])


def logit_rank(z, t):
    """Fractional rank t (n + 1) on the logit scale, extrapolated below the
    smallest score with the first gap."""
    z = np.sort(z)
    r = t * (len(z) + 1)
    j = min(max(int(r), 1), len(z) - 1)
    return z[j - 1] + (r - j) * (z[j] - z[j - 1])


def exponential_tail(s, t, k, unbiased=True):
    """An exponential tail on the logit scale below the k-th smallest;
    unbiased: placed so that the expected fresh rate is t (the library's
    rule, lib/defence/rank.c), else with the plain estimate of its scale."""
    z = np.sort(logit(s))
    n = len(z)
    k = max(2, min(k, n))
    share = k / (n + 1)
    gaps = np.sum(z[k - 1] - z[:k - 1])
    if unbiased:
        return sigmoid(z[k - 1] - ((share / t) ** (1 / (k - 1)) - 1) * gaps)
    return sigmoid(z[k - 1] + np.log(t / share) * gaps / (k - 1))


def library(s, t):
    """lib/defence/rank.c: from rank 3 on the former interpolation, below
    it the unbiased exponential tail with k = ceil(4 t (n + 1)) + 1."""
    if t * (len(s) + 1) >= 3:
        return line_to_zero(s, t)
    return exponential_tail(s, t, k_tail(len(s), t, 4))


def pooled_standardised(cal, t):
    """Each class's logit scores standardised by its median and MAD, one
    pooled quantile, mapped back per class."""
    zs = [logit(s) for s in cal]
    loc = [np.median(z) for z in zs]
    scale = [1.4826 * np.median(np.abs(z - m)) for z, m in zip(zs, loc)]
    q = logit_rank(np.concatenate([(z - m) / c for z, m, c
                                   in zip(zs, loc, scale)]), t)
    return [sigmoid(m + c * q) for m, c in zip(loc, scale)]


def k_tail(n, t, multiple):
    return int(np.ceil(multiple * t * (n + 1))) + 1


RULES = {
    "line to 0 (former)": lambda cal, t: [line_to_zero(s, t) for s in cal],
    "logit rank": lambda cal, t: [sigmoid(logit_rank(logit(s), t))
                                  for s in cal],
    "pooled raw": lambda cal, t: [line_to_zero(np.concatenate(cal), t)]
    * len(cal),
    "pooled standardised": pooled_standardised,
    "exp tail, plain, k 8t": lambda cal, t: [
        exponential_tail(s, t, k_tail(len(s), t, 8), False) for s in cal],
    "exp tail, k 8t": lambda cal, t: [
        exponential_tail(s, t, k_tail(len(s), t, 8)) for s in cal],
    "library: exp tail, k 4t": lambda cal, t: [library(s, t) for s in cal],
}


def member_scores(student_path, guard_path, spec, classes):
    """Per clean image (Student right): its class and the mean P(class) of
    the class's first M ranked members."""
    student = dg.Model.load(student_path)
    guard = dg.Guard.load(guard_path, student)
    data = dg.Dataset.open(spec, classes=classes)
    x, labels = data.batch(np.arange(data.count), model=student)
    verdicts = dg.Validator(guard, members=M, max_batch=256).validate(x)
    labels = np.asarray(labels)
    predicted = np.array([v.label for v in verdicts])
    scores = np.array([v.score for v in verdicts])
    clean = predicted == labels
    return [scores[clean & (labels == c)] for c in np.unique(labels)]


def resample(by_class, n, rule, rng):
    rates, per_class = [], []
    for _ in range(REPEATS):
        cal, fresh = [], []
        for s in by_class:
            order = rng.permutation(len(s))
            cal.append(s[order[:n]])
            fresh.append(s[order[n:]])
        thetas = rule(cal, TARGET)
        rejected = [np.sum(f < th) for f, th in zip(fresh, thetas)]
        rates.append(sum(rejected) / sum(len(f) for f in fresh))
        per_class.append([r / len(f) for r, f in zip(rejected, fresh)])
    rates = 100 * np.array(rates)
    return (rates.mean(), rates.std(),
            np.sqrt(np.mean((rates - 100 * TARGET) ** 2)),
            (100 * np.array(per_class)).std(0).mean())


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    classes = ([int(c) for c in sys.argv[4].split(",")]
               if len(sys.argv) == 5 else None)
    by_class = member_scores(*sys.argv[1:4], classes)
    print("%d classes, clean images per class %s, target %.0f%%, M = %d, "
          "%d draws" % (len(by_class), [len(s) for s in by_class],
                        100 * TARGET, M, REPEATS))
    print("%-26s %5s %7s %7s %7s %9s" % ("rule", "n", "mean", "spread",
                                         "rmse", "class sd"))
    for name, rule in RULES.items():
        for n in SIZES:
            rng = np.random.default_rng(n)  # the same draws for every rule
            print("%-26s %5d %6.2f%% %6.2f %7.2f %9.2f"
                  % ((name, n) + resample(by_class, n, rule, rng)))


if __name__ == "__main__":
    main()
