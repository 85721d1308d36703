#!/usr/bin/env python3
"""make_bars.py - writes a synthetic labelled image set, using only the
standard library, for the training tests of dg.

usage: make_bars.py idx PREFIX COUNT SEED
       make_bars.py folder DIR COUNT SEED

idx writes PREFIX-images.idx (idx3, unsigned bytes) and PREFIX-labels.idx
(idx1); folder writes DIR/CLASS/NNNN.png, one sub-folder per class named
after it.  Each 8x8 gray image holds one bright bar on a noisy background;
its class is the bar's direction: 0 horizontal, 1 vertical, 2 diagonal,
3 anti-diagonal.  Positions, widths, brightness and noise vary, so the
classes take a little learning.
"""
import os
import random
import struct
import sys
import zlib

CLASS_NAMES = ("horizontal", "vertical", "diagonal", "anti-diagonal")
SIDE = 8


def bar_image(label, side, rng):
    pixels = [[rng.randrange(0, 60) for _ in range(side)] for _ in range(side)]
    brightness = rng.randrange(150, 256)
    offset = rng.randrange(-(side // 3), side // 3 + 1)
    width = rng.choice((1, 2))
    for a in range(side):
        for w in range(width):
            b = side // 2 + offset + w
            if label == 0:
                row, col = b, a
            elif label == 1:
                row, col = a, b
            elif label == 2:
                row, col = a, a + offset + w
            else:
                row, col = a, side - 1 - a + offset + w
            if 0 <= row < side and 0 <= col < side:
                pixels[row][col] = brightness
    return bytes(v for row in pixels for v in row)


def write_idx(prefix, samples):
    with open(prefix + "-images.idx", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, len(samples), SIDE, SIDE))
        for _, pixels in samples:
            f.write(pixels)
    with open(prefix + "-labels.idx", "wb") as f:
        f.write(struct.pack(">II", 0x801, len(samples)))
        f.write(bytes(label for label, _ in samples))


def png(pixels):
    """An 8-bit gray PNG of a SIDE x SIDE image."""
    def chunk(kind, data):
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", crc))
    rows = b"".join(b"\0" + pixels[r * SIDE:(r + 1) * SIDE]
                    for r in range(SIDE))
    header = struct.pack(">IIBBBBB", SIDE, SIDE, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) +
            chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def write_folder(root, samples):
    for name in CLASS_NAMES:
        os.makedirs(os.path.join(root, name), exist_ok=True)
    for i, (label, pixels) in enumerate(samples):
        path = os.path.join(root, CLASS_NAMES[label], "%04d.png" % i)
        with open(path, "wb") as f:
            f.write(png(pixels))


def main():
    writers = {"idx": write_idx, "folder": write_folder}
    if len(sys.argv) != 5 or sys.argv[1] not in writers:
        sys.exit(__doc__)
    target, count, seed = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    rng = random.Random(seed)
    labels = [i % len(CLASS_NAMES) for i in range(count)]
    rng.shuffle(labels)
    writers[sys.argv[1]](target, [(label, bar_image(label, SIDE, rng))
                                  for label in labels])


if __name__ == "__main__":
    main()
