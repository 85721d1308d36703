"""The defence: pruners (dg_pruner), guards (dg_guard) and validators
(dg_validator)."""
import collections
import ctypes
import os
import threading

import numpy as np

from ._capi import lib
from ._structs import (PRUNE_MOST, Rule, dg_calibration, dg_ensemble,
                       dg_ensemble_info, dg_ensemble_opts, dg_member_info,
                       dg_model, dg_pruner, dg_validator, dg_validator_opts,
                       dg_verdict, new_result, record_type, to_record)
from ._support import (Handle, Progress, as_input, create, fill_options,
                       format_code, formatted, get_u32, handle_of, query,
                       report_options)
from .model import Model

GuardInfo = record_type("GuardInfo", dg_ensemble_info,
                        "A guard's shape and defaults (dg_ensemble_info).")
MemberInfo = record_type("MemberInfo", dg_member_info,
                         "One differentiator of a class (dg_member_info).")
Calibration = record_type("Calibration", dg_calibration,
                          "Thresholds of a class for M members "
                          "(dg_calibration).")


class Verdict(collections.namedtuple(
        "Verdict", "accepted label rule members votes score threshold "
                   "member_labels member_scores")):
    """Why an input was accepted (dg_verdict): accepted is a bool, label the
    phase-1 class, rule a Rule (Rule.VOTES or Rule.SCORE), members M, votes how many of the M
    differentiators agreed with label, score their mean P(label),
    threshold tau or theta; member_labels and member_scores hold M items."""

    @classmethod
    def _from_c(cls, v):
        m = v.members
        return cls(bool(v.accepted), v.label, Rule(v.rule), m, v.votes, v.score,
                   v.threshold, tuple(v.member_label[:m]),
                   tuple(v.member_score[:m]))


class Pruner(Handle):
    """Mean activations of one layer's units per class, and copies of the
    model with some of a class's units pruned (dg_pruner): the first step of
    a differentiator.  Calls from several threads are serialised."""
    _free = lib.dg_pruner_free

    def __init__(self, model, layer):
        """A pruner of a Model for the units (channels, or features) of
        `layer`'s output, usually the ReLU after a convolution or linear
        layer; the masks go on the layer that made the units."""
        super().__init__(create(lib.dg_pruner_create, dg_pruner,
                                model._handle, layer))
        self.model = model
        self.layer = layer
        self._lock = threading.Lock()

    def measure(self, dataset, progress=None):
        """Adds the mean activation of every unit per class over a Dataset
        whose labels are classes of the model (channels are averaged over
        space).  progress=callable(stage, done, total, metric) returning True
        stops it."""
        call = Progress(progress)
        with self._lock:
            call.call(lib.dg_pruner_measure, self._handle, dataset._handle,
                      call.c_callback, None)

    @property
    def unit_count(self):
        """The number of units measured."""
        with self._lock:
            return get_u32(lib.dg_pruner_unit_count, self._handle)

    def activations(self, cls):
        """The mean activation of each unit over the samples of class cls,
        a float32 array of unit_count values."""
        out = np.empty(self.unit_count, np.float32)
        with self._lock:
            lib.dg_pruner_activations(self._handle, cls, out, out.size)
        return out

    def prune(self, cls, fraction, mode=PRUNE_MOST):
        """A new Model: a copy with round(fraction * unit_count) units of
        class cls masked, the most (PRUNE_MOST) or least (PRUNE_LEAST)
        activated, ties broken by unit index; their weights and biases are
        zero."""
        with self._lock:
            return Model(create(lib.dg_pruner_prune, dg_model, self._handle,
                                cls, fraction, mode))


def parse_shard(spec):
    """(index, count) of a shard spec: "I/N", "auto/N" or "auto", auto
    reading Slurm's, OpenMPI's, PMI's or a Kubernetes indexed Job's
    variables (dg_shard_parse)."""
    return get_u32(lib.dg_shard_parse, spec.encode(), count=2)


class Guard(Handle):
    """The differentiator ensemble of a Student (dg_guard), built or
    loaded.  Immutable; share it between threads, one Validator each."""
    _free = lib.dg_guard_free

    def __init__(self, ptr, student):
        super().__init__(ptr)
        self.student = student

    @classmethod
    def build(cls, student, train, holdout=None, **options):
        """Builds the guard of a Model from its training Dataset (and an
        optional held-out one).  Keywords are the fields of
        dg_guard_opts (variants=, members=, rule=RULE_VOTES,
        prune_layers=[-1], ratios=[...], epochs=, target_frr=, work_dir=,
        ...) plus progress=callable(stage, done, total, metric) returning
        True to stop.  A work_dir is kept (a rerun resumes from it): call
        Guard.remove_work_dir once the guard is saved.  Slow: minutes at
        the defaults."""
        return cls._made_by(lib.dg_guard_build, student, train, holdout,
                            options)

    @staticmethod
    def build_shard(student, train, holdout=None, shard="auto", **options):
        """Makes shard (index, count) of the guard's differentiators, or the
        one a spec names ("I/N", "auto/N", "auto": see parse_shard), in
        work_dir (required; shared by the shards and the merge).  Builds
        no guard: once every shard is done, Guard.merge with the same
        arguments makes the one Guard.build would make, byte for byte
        (doc/scale-out.md)."""
        index, count = parse_shard(shard) if isinstance(shard, str) else shard
        opts, progress = fill_options(dg_ensemble_opts,
                                      lib.dg_guard_opts_init, options)
        progress.call(lib.dg_guard_build_shard, student._handle,
                      train._handle, handle_of(holdout), ctypes.byref(opts),
                      index, count)

    @classmethod
    def merge(cls, student, train, holdout=None, **options):
        """The guard from the work_dir the shards of Guard.build_shard
        filled, with their arguments: DiffguardError with Status.STATE
        naming the differentiators missing, Status.MISMATCH naming a part
        made with other settings, Student or data, or under another
        name."""
        return cls._made_by(lib.dg_guard_merge, student, train, holdout,
                            options)

    @classmethod
    def _made_by(cls, fn, student, train, holdout, options):
        """The guard fn (dg_guard_build or dg_guard_merge) makes."""
        opts, progress = fill_options(dg_ensemble_opts,
                                      lib.dg_guard_opts_init, options)
        return cls(progress.call(create, fn, dg_ensemble, student._handle,
                                 train._handle, handle_of(holdout),
                                 ctypes.byref(opts)),
                   student)

    @classmethod
    def load(cls, path, student):
        """Loads a guard file made for this Student (Status.MISMATCH if
        not)."""
        return cls(create(lib.dg_guard_load_file, dg_ensemble,
                          os.fsencode(path), student._handle), student)

    @classmethod
    def from_bytes(cls, data, student):
        """Loads a guard from the bytes of a guard file."""
        data = bytes(data)
        return cls(create(lib.dg_guard_load_memory, dg_ensemble, data,
                          len(data), student._handle), student)

    def save(self, path):
        """Writes the guard file atomically."""
        lib.dg_guard_save_file(self._handle, os.fsencode(path))

    @staticmethod
    def remove_work_dir(path):
        """Removes the files a build with work_dir=path made, then the
        folder if nothing else is in it (dg_guard_work_dir_remove)."""
        lib.dg_guard_work_dir_remove(os.fsencode(path))

    @property
    def info(self):
        """A GuardInfo."""
        return to_record(GuardInfo, query(lib.dg_guard_get_info,
                                          new_result(dg_ensemble_info),
                                          self._handle))

    def report(self, form="text", every_m=True):
        """What dg guard info prints of each class as a str, "text" or
        "json" (a list with an object per class): the differentiators and
        the calibration of every M, or of the default M only."""
        return formatted(lib.dg_guard_format_report, self._handle,
                         format_code(form),
                         ctypes.byref(report_options({"every_m": every_m})))

    def member(self, cls, rank):
        """The MemberInfo of class cls's differentiator of rank (0: best)."""
        return to_record(MemberInfo, query(lib.dg_guard_member,
                                           new_result(dg_member_info),
                                           self._handle,
                                           cls, rank))

    def member_model(self, cls, rank):
        """Class cls's differentiator of rank (0: best) as a whole Model:
        the Student's layers it shares followed by its own, for example to
        export it to ONNX and run it in another runtime."""
        return Model(create(lib.dg_guard_member_model, dg_model,
                            self._handle, cls, rank))

    def members(self, cls):
        """Every MemberInfo of class cls, best first."""
        return [self.member(cls, r) for r in range(self.info.variants)]

    def calibration(self, cls, members=None):
        """The Calibration of class cls for `members` (default: the guard's
        M) differentiators."""
        if members is None:
            members = self.info.members
        return to_record(Calibration, query(lib.dg_guard_calibration,
                                            new_result(dg_calibration),
                                            self._handle,
                                            cls, members))


class Validator(Handle):
    """Two-phase validation over a Guard (dg_validator).  Keywords are the
    fields of dg_validator_opts: members (M, 0: the guard's), rule (RULE_*,
    0: the guard's), max_batch (default 64).  One thread at a time; calls
    from several are serialised."""
    _free = lib.dg_validator_free

    def __init__(self, guard, **options):
        opts, _ = fill_options(dg_validator_opts, lib.dg_validator_opts_init,
                               options)
        super().__init__(create(lib.dg_validator_create, dg_validator,
                                guard._handle, ctypes.byref(opts)))
        self.guard = guard
        self.max_batch = opts.max_batch
        self._input_shape = guard.student.input_shape
        self._lock = threading.Lock()

    def validate(self, x, labels=None):
        """Validates (N, C, H, W) Student inputs, max_batch at a time, and
        returns N Verdicts.  With labels (N ints: the host's own Student
        predictions) phase 1 takes them instead of running the Student."""
        x = as_input(x, self._input_shape)
        if labels is not None:
            labels = np.ascontiguousarray(labels, np.int32)
            if labels.shape != (len(x),):
                raise ValueError("labels has shape %s; expected (%d,)"
                                 % (labels.shape, len(x)))
        verdicts = []
        with self._lock:
            for start in range(0, len(x), self.max_batch):
                chunk = x[start:start + self.max_batch]
                out = (dg_verdict * len(chunk))()
                for v in out:
                    v.struct_size = ctypes.sizeof(dg_verdict)
                if labels is None:
                    lib.dg_validate(self._handle, chunk, chunk.size,
                                    len(chunk), out)
                else:
                    lib.dg_validate_labeled(
                        self._handle, chunk, chunk.size, len(chunk),
                        labels[start:start + self.max_batch], out)
                verdicts.extend(Verdict._from_c(v) for v in out)
        return verdicts
