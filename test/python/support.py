"""Synthetic data for the binding tests and the example fixture: four classes
of 8x8 gray images, each a bright bar at a class-specific place on a noisy
background (like those of test/test_defence.c), written as IDX files or
PNGs with the standard library, and a small trained Student with its
guard."""
import os
import struct
import zlib

import numpy as np

import diffguard as dg

SIDE = 8
CLASS_NAMES = ["top", "bottom", "left", "right"]
# Padding and global pooling keep most units alive, so pruning some leaves
# something to distil into.
STUDENT_ARCH = "c8k3p1,relu,mp2,c16k3p1,relu,gap,fc4"


def bars(per_class, seed):
    """(pixels, labels): pixels uint8 (4 * per_class, 1, 8, 8), labels
    0 1 2 3 0 1 ... as int32."""
    rng = np.random.default_rng(seed)
    n = 4 * per_class
    labels = np.arange(n, dtype=np.int32) % 4
    pixels = rng.integers(0, 120, (n, SIDE, SIDE), dtype=np.uint8)
    bright = rng.integers(200, 256, (n, SIDE), dtype=np.uint8)
    for i, c in enumerate(labels):
        if c < 2:
            pixels[i, 1 if c == 0 else SIDE - 2, :] = bright[i]
        else:
            pixels[i, :, 1 if c == 2 else SIDE - 2] = bright[i]
    return pixels[:, None], labels


def write_idx(prefix, pixels, labels):
    """Writes PREFIX-images.idx and PREFIX-labels.idx; returns both paths."""
    images, label_file = prefix + "-images.idx", prefix + "-labels.idx"
    n, _, h, w = pixels.shape
    with open(images, "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, h, w) + pixels.tobytes())
    with open(label_file, "wb") as f:
        f.write(struct.pack(">II", 0x801, n) +
                labels.astype(np.uint8).tobytes())
    return images, label_file


def dataset(directory, name, per_class, seed):
    """bars(per_class, seed) written under directory and loaded."""
    pixels, labels = bars(per_class, seed)
    return dg.Dataset.load_idx(*write_idx(os.path.join(directory, name),
                                          pixels, labels))


def write_png(path, gray):
    """Writes an 8-bit gray PNG of a (H, W) uint8 array."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data)))
    h, w = gray.shape
    rows = b"".join(b"\0" + gray[r].tobytes() for r in range(h))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" +
                chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def trained_student(train):
    """STUDENT_ARCH trained on a bars Dataset, with the class names."""
    student = dg.Model.create(STUDENT_ARCH, (1, SIDE, SIDE), seed=3)
    student.train(train, epochs=10, batch_size=16, learning_rate=5e-3)
    student.class_names = CLASS_NAMES
    return student


# Small settings: seconds, not minutes.
GUARD_OPTIONS = dict(member_kind=dg.MEMBERS_PRUNED, variants=4, members=3,
                     epochs=2, batch_size=16,
                     learning_rate=5e-3, prune_layers=[-1, 0],
                     target_frr=0.1)


def student_and_guard(directory, holdout_per_class=40, **guard_options):
    """(train, holdout, student, guard): bars data sets written under
    directory, a Student trained on them and its small guard
    (GUARD_OPTIONS, with guard_options replacing some)."""
    train = dataset(directory, "train", 48, seed=1)
    holdout = dataset(directory, "held", holdout_per_class, seed=2)
    student = trained_student(train)
    options = dict(GUARD_OPTIONS, **guard_options)
    return (train, holdout, student,
            dg.Guard.build(student, train, holdout, **options))


def swapped_bars(per_class, seed, description="", succeeded=None):
    """An AdversarialSet whose "adversarial" images are clean bars of
    another class: attempt i claims bars of class i's label + 1 as its
    source; succeeded(i), if given, marks it successful, and the Student
    is said to answer the target."""
    pixels, labels = bars(per_class, seed=seed)
    swaps = dg.AdversarialSet.create((1, 8, 8), description)
    for i in range(len(pixels)):
        target = int(labels[i])
        swaps.add(pixels[i] / 255.0, source_index=i,
                  source_label=(target + 1) % 4, target_label=target,
                  student_label=target if succeeded else -1, dssim=0,
                  feature_distance=0, within_budget=1,
                  success=int(bool(succeeded and succeeded(i))))
    return swaps


def evaluated_guard(directory, **swap_options):
    """(train, student, guard, clean, swaps, evaluation): student_and_guard,
    clean bars, swapped_bars(6, seed 6, swap_options) and the guard's
    GuardEvaluation on them."""
    train, _, student, guard = student_and_guard(directory)
    clean = dataset(directory, "clean", 10, seed=5)
    swaps = swapped_bars(6, 6, **swap_options)
    return (train, student, guard, clean, swaps,
            dg.GuardEvaluation(guard, clean, {"swaps": swaps}))
