"""The evaluation of a guard (dg_eval): the guard at every M and rule, the
whole pool and feature squeezing judged on a host's clean data and
adversarial sets; and the choice of attack attempts (doc/EVALUATION.md
defines every number)."""
import ctypes
import os

import numpy as np

from ._capi import lib
from ._structs import (dg_advset, dg_attempt_opts, dg_eval,
                       dg_eval_decision, dg_eval_info, dg_eval_opts,
                       dg_eval_outcome, dg_eval_row, dg_eval_set, new_result,
                       record_type, to_record)
from ._support import (Handle, create, fill_options, format_code, formatted,
                       query, report_options)

EvalInfo = record_type("EvalInfo", dg_eval_info,
                       "What was evaluated (dg_eval_info).")
EvalSet = record_type("EvalSet", dg_eval_set,
                      "What one set's attack did (dg_eval_set); name is "
                      "a str.")
EvalRow = record_type("EvalRow", dg_eval_row,
                      "One defence and its clean costs (dg_eval_row); name "
                      "is a str.")
EvalOutcome = record_type("EvalOutcome", dg_eval_outcome,
                          "One defence against one set (dg_eval_outcome).")
EvalDecision = record_type("EvalDecision", dg_eval_decision,
                           "One defence's decision on one input "
                           "(dg_eval_decision).")


def _named(record, struct):
    """to_record, with the library's name string decoded."""
    r = to_record(record, struct)
    return r._replace(name=r.name.decode("utf-8", "replace"))


class GuardEvaluation(Handle):
    """A Guard judged on clean data and adversarial sets (dg_eval).  Read
    only once made: any thread may read it."""
    _free = lib.dg_eval_free

    def __init__(self, guard, clean, sets=None, progress=None, **options):
        """Evaluates guard on the clean Dataset (labelled in the Student's
        classes) and sets, a dict of name: AdversarialSet.  Keywords are
        the fields of dg_eval_opts (squeeze_bits=, baseline_fpr=,
        patched_student=<Model patched by Model.patch>: a last row) plus
        progress=callable(stage, done, total, metric) returning True to
        stop."""
        sets = dict(sets or {})
        options["progress"] = progress
        opts, prog = fill_options(dg_eval_opts, lib.dg_eval_opts_init,
                                  options)
        handles = (ctypes.POINTER(dg_advset) * max(len(sets), 1))(
            *(s._handle for s in sets.values()))
        names = (ctypes.c_char_p * max(len(sets), 1))(
            *(n.encode() for n in sets))
        super().__init__(prog.call(create, lib.dg_eval_run, dg_eval,
                                   guard._handle, clean._handle, handles,
                                   names, len(sets), ctypes.byref(opts)))
        # The result copies the names; the inputs may go.
        self._read_info()

    def _read_info(self):
        self.info = to_record(EvalInfo, query(lib.dg_eval_get_info,
                                              new_result(dg_eval_info),
                                              self._handle))

    @property
    def sets(self):
        """EvalSet per set, in the order given."""
        return [_named(EvalSet, query(lib.dg_eval_get_set,
                                      new_result(dg_eval_set), self._handle,
                                      s))
                for s in range(self.info.sets)]

    @property
    def rows(self):
        """EvalRow per defence: the guard with votes at M = 1..variants,
        with score at M = 1..variants, no defence, the pool, feature
        squeezing at baseline_fpr and at the guard's FRR."""
        return [_named(EvalRow, query(lib.dg_eval_get_row,
                                      new_result(dg_eval_row), self._handle,
                                      k))
                for k in range(self.info.rows)]

    def outcome(self, row, set_index):
        """EvalOutcome of row against set set_index."""
        return to_record(EvalOutcome, query(lib.dg_eval_get_outcome,
                                            new_result(dg_eval_outcome),
                                            self._handle, row, set_index))

    def decision(self, row, input_index):
        """EvalDecision of row on input input_index (the clean inputs,
        then every set's attempts)."""
        return to_record(EvalDecision, query(lib.dg_eval_get_decision,
                                             new_result(dg_eval_decision),
                                             self._handle, row, input_index))

    def roc(self, row, set_index):
        """The ROC curve of row on a set: (fpr, tpr) float64 arrays from
        (0, 0) to (1, 1)."""
        n = ctypes.c_size_t()
        lib.dg_eval_roc(self._handle, row, set_index, None, None, 0,
                        ctypes.byref(n))
        fpr, tpr = np.empty(n.value), np.empty(n.value)
        lib.dg_eval_roc(self._handle, row, set_index, fpr, tpr, n.value,
                        ctypes.byref(n))
        return fpr[:n.value], tpr[:n.value]


    def write_report(self, folder, **options):
        """Writes the report dg eval --report writes into folder (made if
        needed): eval.json, eval.md and the charts; keywords are the
        fields of dg_report_opts (parts=REPORT_JSON | ...)."""
        lib.dg_eval_write_report(self._handle, os.fsencode(folder),
                                 ctypes.byref(report_options(options)))

    def report(self, form="text"):
        """The report as a str: "json" (eval.json), "markdown" (eval.md)
        or "text" (the tables dg eval prints)."""
        return formatted(lib.dg_eval_format_report, self._handle,
                         format_code(form))


class BorrowedEvaluation(GuardEvaluation):
    """An evaluation that another object made and owns (Scenario.evaluation):
    it keeps that object alive, and closing it frees nothing."""

    @staticmethod
    def _free(_ptr):
        pass

    def __init__(self, ptr, owner):  # pylint: disable=super-init-not-called
        Handle.__init__(self, ptr)
        self._owner = owner
        self._read_info()


def classify(student, pixels):
    """The Student's class of each (N, C, H, W) image with pixels in [0, 1],
    as an int32 array."""
    pixels = np.ascontiguousarray(pixels, np.float32)
    labels = np.empty(len(pixels), np.int32)
    lib.dg_eval_classify(student._handle, pixels, pixels.size, len(pixels),
                         labels)
    return labels


def choose_attempts(student, data, count, **options):
    """count attack attempts among the samples of data the Student gets
    right.  Keywords are the fields of dg_attempt_opts (targeted=,
    target_class=, target_images=, seed=).  Returns a dict of arrays:
    source_index, source_label, target_index (2**32 - 1: none) and
    target_label (-1: none)."""
    opts, _ = fill_options(dg_attempt_opts, lib.dg_attempt_opts_init,
                           options)
    out = {"source_index": np.empty(count, np.uint32),
           "source_label": np.empty(count, np.int32),
           "target_index": np.empty(count, np.uint32),
           "target_label": np.empty(count, np.int32)}
    lib.dg_eval_choose_attempts(student._handle, data._handle,
                                ctypes.byref(opts), count,
                                out["source_index"], out["source_label"],
                                out["target_index"], out["target_label"])
    return out
