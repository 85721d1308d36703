#!/usr/bin/python3
"""Fashion-MNIST rendered as RGB image folders for the ResNet-18 example.

Each 28 x 28 gray image is enlarged to SIDE x SIDE (bilinear) and painted:
its ink takes a random colour over a random darker background, both drawn
per image from a seed, so that the Teacher has to learn shapes in colour
images rather than gray levels.  Writes one sub-folder per class of PNGs:

    OUT/teacher-train/  classes 0-4, Fashion-MNIST's training images
    OUT/student-train/  classes 5-9, training images the Teacher never saw
    OUT/student-test/   classes 5-9, Fashion-MNIST's test images

OUT appears whole or not at all: the folders are written under OUT.part,
which is renamed OUT at the end.

Usage: render.py OUT [--side 64] [--teacher-per-class 1500]
                     [--student-per-class 1000] [--test-per-class 200]
Needs only Debian's python3-numpy and python3-pil; reads the IDX files of
Debian's dataset-fashion-mnist."""
import argparse
import gzip
import os
import shutil

import numpy as np
from PIL import Image

DATA = "/usr/share/datasets/fashion-mnist"
NAMES = ["t-shirt", "trouser", "pullover", "dress", "coat",
         "sandal", "shirt", "sneaker", "bag", "ankle-boot"]


def read_idx(name):
    with gzip.open(os.path.join(DATA, name)) as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big")
             for i in range(dims)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)


def paint(gray, side, rng):
    """One 28 x 28 uint8 image as a side x side x 3 uint8 colour image."""
    ink = np.asarray(Image.fromarray(gray).resize((side, side),
                                                  Image.BILINEAR),
                     np.float32)[..., None] / 255.0
    fg = rng.uniform(0.45, 1.0, 3).astype(np.float32)
    bg = rng.uniform(0.0, 0.35, 3).astype(np.float32)
    return np.round(255 * (bg * (1 - ink) + fg * ink)).astype(np.uint8)


def write_split(out, images, labels, classes, per_class, first, side, seed):
    """Images first..first+per_class-1 of each class, as PNGs."""
    rng = np.random.default_rng(seed)
    for c in classes:
        folder = os.path.join(out, "%d-%s" % (c, NAMES[c]))
        os.makedirs(folder, exist_ok=True)
        picked = np.flatnonzero(labels == c)[first:first + per_class]
        if len(picked) < per_class:
            raise SystemExit("class %d has only %d images from %d"
                             % (c, len(picked), first))
        for i in picked:
            Image.fromarray(paint(images[i], side, rng)).save(
                os.path.join(folder, "%05d.png" % i))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out")
    p.add_argument("--side", type=int, default=64)
    p.add_argument("--teacher-per-class", type=int, default=1500)
    p.add_argument("--student-per-class", type=int, default=1000)
    p.add_argument("--test-per-class", type=int, default=200)
    a = p.parse_args()
    train_x = read_idx("train-images-idx3-ubyte.gz")
    train_y = read_idx("train-labels-idx1-ubyte.gz")
    test_x = read_idx("t10k-images-idx3-ubyte.gz")
    test_y = read_idx("t10k-labels-idx1-ubyte.gz")
    part = a.out.rstrip("/") + ".part"
    shutil.rmtree(part, ignore_errors=True)
    write_split(os.path.join(part, "teacher-train"), train_x, train_y,
                range(5), a.teacher_per_class, 0, a.side, 1)
    write_split(os.path.join(part, "student-train"), train_x, train_y,
                range(5, 10), a.student_per_class, 0, a.side, 2)
    write_split(os.path.join(part, "student-test"), test_x, test_y,
                range(5, 10), a.test_per_class, 0, a.side, 3)
    os.rename(part, a.out)


if __name__ == "__main__":
    main()
