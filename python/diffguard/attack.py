"""The attacks a defence is evaluated with (dg_attack_run): Teacher-feature
mimicry under a DSSIM budget or in an L-infinity box, FGSM and PGD, each
optionally adaptive (extra whole models' loss in the objective); DSSIM;
adversarial sets (dg_advset); PNG output.  doc/attack.md has the math.

Images here are pixels in [0, 1], float32 arrays of shape (N, C, H, W) of
the model's input shape; the library maps them to model input through the
model's preprocessing.
"""
import collections
import ctypes
import os
import threading

import numpy as np

from ._capi import lib
from ._structs import (ATTACK_PRESET_STRONG, PIXEL_GRAY8, PIXEL_RGB8,
                       dg_advset, dg_advset_item, dg_advset_opts,
                       dg_attack_opts, dg_model,
                       new_result, record_type, to_record)
from ._support import (Handle, as_input, create, fill_options, get_u32,
                       report_options)

AttackSettings = record_type(
    "AttackSettings", dg_attack_opts,
    "The settings of an attack (dg_attack_opts without its callback and "
    "check model, adaptive models and classes; lambda is lambda_).  "
    "attack_settings() makes them, an AdversarialSet records them (the "
    "adaptive fields as defaults: the file does not store them); pass them "
    "on with **s._asdict().",
    exclude=("check_model", "progress", "progress_user", "adaptive_models",
             "adaptive_model_classes", "n_adaptive_models"))

AdversarialItem = record_type(
    "AdversarialItem", dg_advset_item,
    "One attempt of an adversarial set (dg_advset_item): source_index, "
    "source_label and target_label (-1 for untargeted FGSM or PGD); "
    "student_label (-1: not measured), dssim, feature_distance, "
    "within_budget and success default to -1, NaN, NaN, False, False.",
    defaults=(-1, float("nan"), float("nan"), False, False))


class AttackResult(collections.namedtuple(
        "AttackResult", "adversarial dssim feature_distance within_budget")):
    """What attack() returns for N images: adversarial (N, C, H, W) float32
    pixels on the 1/255 grid; dssim, DSSIM(x', x_s), and feature_distance,
    the objective at x' (the L2 feature distance for mimicry, the
    cross-entropy of the label for FGSM and PGD), (N,) float32; and
    within_budget, an (N,) bool array.  A failed attack has within_budget
    False, the source as adversarial and NaN dssim and feature_distance."""


def _options(preset, options):
    """A dg_attack_opts from a preset and keyword options, and its
    Progress."""
    return fill_options(
        dg_attack_opts,
        lambda opts, size: lib.dg_attack_opts_init(opts, size, preset),
        options)


def attack_settings(preset=ATTACK_PRESET_STRONG, **options):
    """The AttackSettings of a preset (ATTACK_PRESET_STRONG or
    ATTACK_PRESET_PAPER) with the keyword options of attack() applied."""
    opts, _ = _options(preset, options)
    return to_record(AttackSettings, opts)


def guard_members(guard, members=None):
    """The differentiators of a Guard as whole Models for attack()'s
    adaptive_models, with their classes for adaptive_model_classes: the
    first `members` (default: the guard's M, those it consults) of every
    class.  Returns (models, classes)."""
    info = guard.info
    members = info.members if members is None else members
    if not 1 <= members <= info.variants:
        raise ValueError("members %d; the guard has 1 to %d per class"
                         % (members, info.variants))
    models, classes = [], []
    for cls in range(info.classes):
        for rank in range(members):
            models.append(guard.member_model(cls, rank))
            classes.append(cls)
    return models, classes


def _set_adaptive(opts, models, classes):
    """Points opts at the adaptive models and their classes; returns the
    ctypes arrays, which must live as long as opts is used."""
    if models is None:
        if classes is not None:
            raise ValueError("adaptive_model_classes without adaptive_models")
        return ()
    models = list(models)
    handles = (ctypes.POINTER(dg_model) * max(len(models), 1))(
        *[m._handle for m in models])
    opts.adaptive_models = handles
    opts.n_adaptive_models = len(models)
    if classes is None:
        return (handles,)
    classes = np.ascontiguousarray(classes, np.int32)
    if classes.shape != (len(models),):
        raise ValueError("adaptive_model_classes has shape %s; expected "
                         "(%d,)" % (classes.shape, len(models)))
    opts.adaptive_model_classes = classes.ctypes.data_as(
        ctypes.POINTER(ctypes.c_int32))
    return handles, classes


def attack(model, sources, targets=None, labels=None,
           preset=ATTACK_PRESET_STRONG, progress=None, adaptive_models=None,
           adaptive_model_classes=None, **options):
    """Attacks N images with a Model (the Teacher for mimicry, the
    classifier itself for FGSM and PGD) and returns an AttackResult.

    sources are (N, C, H, W) pixels in [0, 1]; mimicry needs targets of the
    same shape.  labels (N ints) are for FGSM and PGD the class to reach
    (targeted) or to leave (targeted=0), and for mimicry the target class,
    needed only with check_model.  Keywords are the fields of
    dg_attack_opts (method=ATTACK_PGD, budget=, lambda_=, epsilon=,
    iterations=, seed=, threads=, check_model=<Model>, ...) over the
    preset's values, plus progress=callable(stage, done, total, metric)
    returning True to stop.  Results depend on seed and batch_size, not on
    threads.

    Adaptive attacks: adaptive_models, a list of whole classifier Models
    (a surrogate Student, guard_members(guard)[0], ...), add their mean
    loss towards labels (untargeted FGSM and PGD: away from them) with
    weight adaptive_weight=; adaptive_model_classes (one int per model, -1
    for all) limits each model to the images whose label is its class;
    adaptive_draw=k uses a random k of them per image and step;
    feature_weight=0 drops the feature term (mimicry then needs no
    targets).  labels are required with adaptive models."""
    opts, call = _options(preset, dict(options, progress=progress))
    keep_alive = _set_adaptive(opts, adaptive_models,  # noqa: F841
                               adaptive_model_classes)
    shape = model.input_shape
    sources = as_input(sources, shape)
    n = len(sources)
    if targets is not None:
        targets = as_input(targets, shape)
        if len(targets) != n:
            raise ValueError("%d targets for %d sources" % (len(targets), n))
    if labels is not None:
        labels = np.ascontiguousarray(labels, np.int32)
        if labels.shape != (n,):
            raise ValueError("labels has shape %s; expected (%d,)"
                             % (labels.shape, n))
    adversarial = np.empty_like(sources)
    dssim_out = np.empty(n, np.float32)
    distance = np.empty(n, np.float32)
    within = np.empty(n, np.uint8)
    call.call(lib.dg_attack_run, model._handle, ctypes.byref(opts), sources,
              targets, labels, n, adversarial, dssim_out, distance, within)
    return AttackResult(adversarial, dssim_out, distance, within.astype(bool))


def dssim(a, b):
    """DSSIM = (1 - MS-SSIM(a, b)) / 2 of two images of the same shape,
    (C, H, W) or (H, W), with pixels in [0, 1]."""
    a = np.ascontiguousarray(a, np.float32)
    b = np.ascontiguousarray(b, np.float32)
    if a.shape != b.shape or a.ndim not in (2, 3):
        raise ValueError("images of shapes %s and %s; expected two of the "
                         "same shape (C, H, W) or (H, W)" % (a.shape, b.shape))
    c, h, w = a.shape if a.ndim == 3 else (1,) + a.shape
    out = ctypes.c_float()
    lib.dg_dssim(a, b, c, h, w, ctypes.byref(out))
    return out.value


class AdversarialSet(Handle):
    """The attempts of an attack run, their outcomes and 8-bit pixels
    (dg_advset), stored as a checksummed file (doc/attack.md).  Calls from
    several threads are serialised."""
    _free = lib.dg_advset_free

    def __init__(self, ptr):
        super().__init__(ptr)
        self._lock = threading.RLock()

    @classmethod
    def create(cls, shape, description="", settings=None,
               preset=ATTACK_PRESET_STRONG, **options):
        """An empty set for images of shape (C, H, W), recording the
        attack's settings: an AttackSettings, or a preset and the keyword
        options of attack() (keywords also change a given AttackSettings);
        description is free text of at most 1023 bytes."""
        if settings is not None:
            options = dict(settings._asdict(), **options)
        opts, _ = _options(preset, options)
        channels, height, width = shape
        return cls(create(lib.dg_advset_create, dg_advset, ctypes.byref(opts),
                          channels, height, width, description.encode()))

    @classmethod
    def make(cls, teacher, student, data, count=100, models=None,
             preset=ATTACK_PRESET_STRONG, progress=None, **options):
        """An attack run as `dg attack` makes it (dg_advset_make): count
        attempts among the samples of data (a Dataset in the Student's
        classes) the Student gets right, attacked (mimicry through the
        Teacher, FGSM and PGD through the Student) and classified by the
        Student.  Keywords are the fields of dg_advset_opts
        (target_class=, stop_on_success=, guard=<Guard>, guard_members=,
        shard=, shards=, description=), models= a list of whole Models for
        an adaptive attack, and attack()'s options over the preset.
        Returns (set, target_index): each attempt's target image in data,
        2**32 - 1 for none."""
        run_keys = {name for name, _ in dg_advset_opts._fields_}
        run = {k: v for k, v in options.items() if k in run_keys}
        opts, call = _options(preset, dict(
            {k: v for k, v in options.items() if k not in run_keys},
            progress=progress))
        run_opts, _ = fill_options(dg_advset_opts, lib.dg_advset_opts_init,
                                   dict(run, count=count))
        models = list(models or ())
        handles = (ctypes.POINTER(dg_model) * max(len(models), 1))(
            *[m._handle for m in models])
        run_opts.models, run_opts.n_models = handles, len(models)
        out = ctypes.POINTER(dg_advset)()
        target_index = np.empty(count, np.uint32)
        call.call(lib.dg_advset_make, teacher._handle, student._handle,
                  data._handle, ctypes.byref(opts), ctypes.byref(run_opts),
                  ctypes.byref(out), target_index)
        made = cls(out)
        return made, target_index[:made.count]

    @classmethod
    def load(cls, path):
        """Reads a set file; a corrupt one fails with Status.FORMAT."""
        return cls(create(lib.dg_advset_load_file, dg_advset,
                          os.fsencode(path)))

    @classmethod
    def merge(cls, parts):
        """The set an unsharded `dg attack` writes, from the sets of its
        shards (dg attack --shard I/N) in any order (dg_advset_merge);
        parts of other runs, or a shard missing, fail with
        Status.MISMATCH."""
        parts = list(parts)
        handles = (ctypes.POINTER(dg_advset) * len(parts))(
            *(p._handle for p in parts))
        return cls(create(lib.dg_advset_merge, dg_advset, handles,
                          len(parts)))

    def save(self, path):
        """Writes the set atomically."""
        with self._lock:
            lib.dg_advset_save_file(self._handle, os.fsencode(path))

    def add(self, pixels, item=None, **fields):
        """Appends an attempt: pixels of shape (C, H, W) in [0, 1] (rounded
        to 8 bits) and an AdversarialItem, or its fields as keywords
        (keywords also change a given item)."""
        item = AdversarialItem(**fields) if item is None \
            else item._replace(**fields)
        pixels = np.ascontiguousarray(pixels, np.float32)
        if pixels.shape != self.shape:
            raise ValueError("pixels has shape %s; expected %s"
                             % (pixels.shape, self.shape))
        c_item = new_result(dg_advset_item)
        for name, kind in dg_advset_item._fields_[1:]:
            # numpy scalars welcome: float() and int() take them all.
            setattr(c_item, name, (float if kind is ctypes.c_float else int)(
                getattr(item, name)))
        with self._lock:
            lib.dg_advset_add(self._handle, ctypes.byref(c_item), pixels,
                              pixels.size)

    @property
    def count(self):
        """The number of attempts."""
        with self._lock:
            return get_u32(lib.dg_advset_count, self._handle)

    def __len__(self):
        return self.count

    @property
    def shape(self):
        """(C, H, W) of every image."""
        with self._lock:
            return get_u32(lib.dg_advset_shape, self._handle, count=3)

    @property
    def settings(self):
        """The AttackSettings recorded (threads come back 0)."""
        opts = new_result(dg_attack_opts)
        with self._lock:
            lib.dg_advset_settings(self._handle, ctypes.byref(opts))
        return to_record(AttackSettings, opts)

    @property
    def description(self):
        """The free description."""
        text = ctypes.c_char_p()
        with self._lock:
            lib.dg_advset_description(self._handle, ctypes.byref(text))
        return text.value.decode("utf-8", "replace")

    def item(self, index):
        """Attempt `index` as an AdversarialItem."""
        c_item = new_result(dg_advset_item)
        with self._lock:
            lib.dg_advset_item_get(self._handle, index, ctypes.byref(c_item))
        item = to_record(AdversarialItem, c_item)
        return item._replace(within_budget=bool(item.within_budget),
                             success=bool(item.success))

    def items(self):
        """Every AdversarialItem, in order."""
        return [self.item(i) for i in range(self.count)]

    def pixels(self, index):
        """A copy of the 8-bit pixels of attempt `index`, a (C, H, W) uint8
        array."""
        data = ctypes.POINTER(ctypes.c_uint8)()
        with self._lock:
            lib.dg_advset_pixels(self._handle, index, ctypes.byref(data))
            return np.ctypeslib.as_array(data, shape=self.shape).copy()

    def batch(self, indices=None, model=None):
        """Attempts `indices` (default: all) as an (N, C, H, W) float32
        array: preprocessed for `model` (a Model of the same input shape),
        or scaled to [0, 1] without one."""
        if indices is None:
            indices = np.arange(self.count)
        indices = np.ascontiguousarray(indices, np.uint32)
        if indices.ndim != 1 or len(indices) == 0:
            raise ValueError("indices must be a non-empty sequence")
        out = np.empty((len(indices),) + self.shape, np.float32)
        with self._lock:
            lib.dg_advset_batch(self._handle, None if model is None
                                else model._handle, indices, len(indices),
                                out, out.size)
        return out

    def write_examples(self, data, target_index, folder, examples=8):
        """The example images dg attack --examples writes, into folder
        (made if needed): for `examples` attempts, the successful ones
        first, their source, adversarial image and amplified difference,
        and sheet.png with the targets; data is the Dataset the set was
        made from and target_index make()'s (2**32 - 1: no target)."""
        target_index = np.ascontiguousarray(target_index, np.uint32)
        if len(target_index) != self.count:
            raise ValueError("target_index has %d entries for %d attempts"
                             % (len(target_index), self.count))
        with self._lock:
            lib.dg_advset_write_examples(
                self._handle, data._handle, target_index, os.fsencode(folder),
                ctypes.byref(report_options({"examples": examples})))


def save_png(path, pixels):
    """Writes 8-bit pixels as a PNG file, atomically: a uint8 array of shape
    (H, W) (gray) or (H, W, 3) (RGB, interleaved).  A planar (C, H, W) image
    such as AdversarialSet.pixels gives is pixels.transpose(1, 2, 0)."""
    pixels = np.ascontiguousarray(pixels)
    if pixels.dtype != np.uint8:
        raise TypeError("pixels are %s; expected uint8" % pixels.dtype)
    if pixels.ndim == 2:
        pixel_format = PIXEL_GRAY8
    elif pixels.ndim == 3 and pixels.shape[2] == 3:
        pixel_format = PIXEL_RGB8
    else:
        raise ValueError("pixels has shape %s; expected (H, W) or (H, W, 3)"
                         % (pixels.shape,))
    height, width = pixels.shape[:2]
    lib.dg_image_save_png(os.fsencode(path), pixels, width, height,
                          pixels.strides[0], pixel_format)
