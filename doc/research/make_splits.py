"""Writes the two data files the validation-split studies use, from Debian's
dataset-fashion-mnist, as uncompressed IDX in the current folder:

  val-images.idx, val-labels.idx   training images 50000-59999: the
                                   validation split, which neither the
                                   demo's Teacher, Student nor guard saw;
  sur-images.idx, sur-labels.idx   images 500-999 of each class among
                                   training images 0-49999: the attacker's
                                   own data for a surrogate (level b).
"""
import gzip

import numpy as np

FM = '/usr/share/datasets/fashion-mnist/'


def read(name, offset):
    with gzip.open(FM + name) as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def write(stem, images, labels):
    with open(stem + '-images.idx', 'wb') as f:
        f.write(bytes([0, 0, 8, 3]) + np.array([len(images), 28, 28], '>u4').tobytes())
        f.write(images.tobytes())
    with open(stem + '-labels.idx', 'wb') as f:
        f.write(bytes([0, 0, 8, 1]) + np.array([len(labels)], '>u4').tobytes())
        f.write(labels.tobytes())


labels = read('train-labels-idx1-ubyte.gz', 8)
images = read('train-images-idx3-ubyte.gz', 16).reshape(-1, 28, 28)
write('val', images[50000:], labels[50000:])
surrogate = np.sort(np.concatenate(
    [np.nonzero(labels[:50000] == c)[0][500:1000] for c in range(10)]))
write('sur', images[surrogate], labels[surrogate])
