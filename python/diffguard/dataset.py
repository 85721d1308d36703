"""Labelled image sets (dg_dataset)."""
import ctypes
import os

import numpy as np

from ._capi import lib
from ._structs import dg_dataset, dg_dataset_spec_opts
from ._support import Handle, c_strings, create, get_u32, handle_of


class Dataset(Handle):
    """A labelled image set held in memory as 8-bit pixels.  Read-only once
    loaded; calls that use it only borrow it."""
    _free = lib.dg_dataset_free

    @classmethod
    def from_arrays(cls, images, labels, class_names=None):
        """A data set copied from numpy arrays, for training, guard building
        and evaluation without files: images of shape (N, H, W) (gray) or
        (N, C, H, W) with C 1 or 3 (channels-last arrays need
        images.transpose(0, 3, 1, 2)), as uint8 pixels or as floats in
        [0, 1] (rounded to 8 bits); labels N integers from 0; class_names
        None or one name per class (the largest label + 1)."""
        images = np.asarray(images)
        if images.ndim == 3:
            images = images[:, None]
        if images.ndim != 4:
            raise ValueError("images must be (N, H, W) or (N, C, H, W), not "
                             "of shape %s" % (images.shape,))
        if images.dtype != np.uint8:
            if not np.issubdtype(images.dtype, np.floating):
                raise ValueError("images must be uint8 or floats in [0, 1], "
                                 "not %s" % images.dtype)
            if images.size and not (0 <= images.min() and
                                    images.max() <= 1):
                raise ValueError("float images must be in [0, 1]; scale "
                                 "them, or pass uint8 pixels")
            images = np.rint(images * 255).astype(np.uint8)
        images = np.ascontiguousarray(images)
        labels = np.ascontiguousarray(labels)
        if labels.shape != images.shape[:1] or not (
                np.issubdtype(labels.dtype, np.integer)):
            raise ValueError("labels must be %d integers, one per image"
                             % len(images))
        if labels.size and not (0 <= labels.min() and
                                labels.max() <= np.iinfo(np.int32).max):
            raise ValueError("labels must be integers from 0")
        names, n_names = (None, 0) if class_names is None else c_strings(
            class_names)
        return cls(create(lib.dg_dataset_from_pixels, dg_dataset, images,
                          *(int(n) for n in images.shape),
                          labels.astype(np.int32), names, n_names))

    @classmethod
    def load_idx(cls, images_path, labels_path):
        """An IDX image file (idx3, unsigned bytes) and its IDX label file,
        plain or gzip-compressed, as the MNIST family ships them."""
        return cls(create(lib.dg_dataset_load_idx, dg_dataset,
                          os.fsencode(images_path), os.fsencode(labels_path)))

    @classmethod
    def load_folder(cls, path, shape):
        """An image folder: one sub-folder of PNG or JPEG files per class,
        sorted by name, converted to shape (C, H, W) with C 1 or 3."""
        channels, height, width = shape
        return cls(create(lib.dg_dataset_load_folder, dg_dataset,
                          os.fsencode(path), channels, height, width))

    @classmethod
    def open(cls, spec, shape=None, classes=None, per_class=0, skip=0):
        """The data a spec names, as the dg commands' --data takes it:
        "fmnist:train", "fmnist:test", "idx:IMAGES,LABELS" or an image
        folder (converted to shape (C, H, W)); then only `classes`,
        relabelled 0..n-1 in that order (None: all), and of each the first
        `skip` samples passed over, then at most per_class (0: all), as
        select() does."""
        opts = dg_dataset_spec_opts()
        lib.dg_dataset_spec_opts_init(ctypes.byref(opts),
                                      ctypes.sizeof(opts))
        if shape is not None:
            opts.channels, opts.height, opts.width = shape
        if classes is not None:
            chosen = (ctypes.c_int32 * len(classes))(*classes)
            opts.classes, opts.n_classes = chosen, len(classes)
        opts.per_class, opts.skip_per_class = per_class, skip
        return cls(create(lib.dg_dataset_open_spec, dg_dataset,
                          os.fsencode(spec), ctypes.byref(opts)))

    @property
    def class_names(self):
        """The class names the source gives (folder names, Fashion-MNIST's),
        or None when it gives none (IDX files)."""
        names = []
        for k in range(self.class_count):
            name = ctypes.c_char_p()
            lib.dg_dataset_class_name(self._handle, k, ctypes.byref(name))
            if name.value is None:
                return None
            names.append(name.value.decode())
        return names

    def select(self, classes, per_class=0, skip=0):
        """A new Dataset of the samples of `classes`, relabelled 0..n-1 in
        that order: of each, the first `skip` passed over, then at most
        per_class (0: all)."""
        classes = np.ascontiguousarray(classes, np.int32)
        if classes.ndim != 1 or len(classes) == 0:
            raise ValueError("classes must be a non-empty sequence")
        return Dataset(create(lib.dg_dataset_select_from, dg_dataset,
                              self._handle, classes, len(classes), skip,
                              per_class))

    @property
    def count(self):
        """The number of samples."""
        return get_u32(lib.dg_dataset_count, self._handle)

    def __len__(self):
        return self.count

    @property
    def sample_shape(self):
        """(C, H, W) of one sample."""
        return get_u32(lib.dg_dataset_sample_shape, self._handle, count=3)

    @property
    def class_count(self):
        """The largest label + 1."""
        return get_u32(lib.dg_dataset_class_count, self._handle)

    def batch(self, indices, model=None):
        """Samples `indices` as model input: (x, labels), x an (N, C, H, W)
        float32 array preprocessed as `model` says (a Model of the same
        input shape), or scaled to [0, 1] without one; labels int32."""
        indices = np.ascontiguousarray(indices, np.uint32)
        if indices.ndim != 1 or len(indices) == 0:
            raise ValueError("indices must be a non-empty sequence")
        x = np.empty((len(indices),) + self.sample_shape, np.float32)
        labels = np.empty(len(indices), np.int32)
        lib.dg_dataset_batch(self._handle, handle_of(model), indices,
                             len(indices), x, x.size, labels)
        return x, labels
