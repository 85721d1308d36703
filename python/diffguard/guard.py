"""The defence: guards (dg_ensemble) and validators (dg_validator)."""
import collections
import ctypes
import os
import threading

import numpy as np

from ._capi import lib
from ._structs import (dg_calibration, dg_ensemble, dg_ensemble_info,
                       dg_ensemble_opts, dg_member_info, dg_validator,
                       dg_validator_opts, dg_verdict, new_result, record_type,
                       to_record)
from ._support import (Handle, as_input, create, fill_options, handle_of,
                       query)

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
    phase-1 class, rule a RULE_* value, members M, votes how many of the M
    differentiators agreed with label, score their mean P(label),
    threshold tau or theta; member_labels and member_scores hold M items."""

    @classmethod
    def _from_c(cls, v):
        m = v.members
        return cls(bool(v.accepted), v.label, v.rule, m, v.votes, v.score,
                   v.threshold, tuple(v.member_label[:m]),
                   tuple(v.member_score[:m]))


class Guard(Handle):
    """The differentiator ensemble of a Student (dg_ensemble), built or
    loaded.  Immutable; share it between threads, one Validator each."""
    _free = lib.dg_ensemble_free

    def __init__(self, ptr, student):
        super().__init__(ptr)
        self.student = student

    @classmethod
    def build(cls, student, train, holdout=None, **options):
        """Builds the guard of a Model from its training Dataset (and an
        optional held-out one).  Keywords are the fields of
        dg_ensemble_opts (variants=, members=, rule=RULE_VOTES,
        prune_layers=[-1], ratios=[...], epochs=, target_frr=, work_dir=,
        ...) plus progress=callable(stage, done, total, metric) returning
        True to stop.  Slow: minutes at the defaults."""
        opts, progress = fill_options(dg_ensemble_opts,
                                      lib.dg_ensemble_opts_init, options)
        return cls(progress.call(create, lib.dg_ensemble_build, dg_ensemble,
                                 student._handle, train._handle,
                                 handle_of(holdout), ctypes.byref(opts)),
                   student)

    @classmethod
    def load(cls, path, student):
        """Loads a guard file made for this Student (Status.MISMATCH if
        not)."""
        return cls(create(lib.dg_ensemble_load_file, dg_ensemble,
                          os.fsencode(path), student._handle), student)

    @classmethod
    def from_bytes(cls, data, student):
        """Loads a guard from the bytes of a guard file."""
        data = bytes(data)
        return cls(create(lib.dg_ensemble_load_memory, dg_ensemble, data,
                          len(data), student._handle), student)

    def save(self, path):
        """Writes the guard file atomically."""
        lib.dg_ensemble_save_file(self._handle, os.fsencode(path))

    @property
    def info(self):
        """A GuardInfo."""
        return to_record(GuardInfo, query(lib.dg_ensemble_get_info,
                                          new_result(dg_ensemble_info),
                                          self._handle))

    def member(self, cls, rank):
        """The MemberInfo of class cls's differentiator of rank (0: best)."""
        return to_record(MemberInfo, query(lib.dg_ensemble_member,
                                           new_result(dg_member_info),
                                           self._handle,
                                           cls, rank))

    def members(self, cls):
        """Every MemberInfo of class cls, best first."""
        return [self.member(cls, r) for r in range(self.info.variants)]

    def calibration(self, cls, members=None):
        """The Calibration of class cls for `members` (default: the guard's
        M) differentiators."""
        if members is None:
            members = self.info.members
        return to_record(Calibration, query(lib.dg_ensemble_calibration,
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
