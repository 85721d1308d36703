"""The C library: found and loaded once, its ABI checked, every function used
declared, and every failing dg_status turned into a DiffguardError.

This is the only module that loads the library and the only place that maps
status codes to exceptions.
"""
import ctypes
import ctypes.util
import os
from ctypes import (POINTER, c_char_p, c_float, c_int, c_int32, c_size_t,
                    c_uint8, c_uint32, c_uint64, c_void_p)

import numpy as np
from numpy.ctypeslib import ndpointer

from ._structs import (PROGRESS_FN, Status, dg_advset, dg_advset_item,
                       dg_advset_opts,
                       dg_attack_opts, dg_calibration, dg_dataset,
                       dg_ensemble, dg_ensemble_info, dg_ensemble_opts,
                       dg_image_info, dg_layer_info, dg_member_info,
                       dg_model, dg_pruner,
                       dg_session, dg_train_opts, dg_train_report,
                       dg_validator, dg_validator_opts, dg_verdict,
                       dg_attempt_opts, dg_dataset_spec_opts, dg_eval, dg_eval_decision,
                       dg_eval_info, dg_eval_opts, dg_eval_outcome,
                       dg_eval_row, dg_eval_set, dg_scenario,
                       dg_scenario_guard, dg_scenario_info,
                       dg_scenario_model, dg_scenario_opts,
                       dg_scenario_set, dg_scenario_stage, dg_report_opts)

#: The DG_ABI_VERSION this binding was written for.
ABI_VERSION = 1
#: The file name of that ABI's library (its soname).
LIBRARY_NAME = "libdiffguard.so.%d" % ABI_VERSION


class LibraryError(ImportError):
    """libdiffguard could not be found, loaded, or has another ABI."""


class DiffguardError(Exception):
    """A libdiffguard call failed.

    status is a Status (or the raw int for a code this binding does not
    know), message the dg_strerror text, detail dg_last_error_detail and
    function the C function that failed.
    """

    def __init__(self, status, message, detail, function):
        try:
            status = Status(status)
        except ValueError:
            pass
        super().__init__("%s: %s: %s" % (function, message, detail)
                         if detail else "%s: %s" % (function, message))
        self.status = status
        self.message = message
        self.detail = detail
        self.function = function


def _candidates():
    """(where, name or path) pairs to try, in order."""
    env = os.environ.get("DIFFGUARD_LIBRARY")
    if env:
        # An explicit choice is never silently replaced by another library.
        return [("DIFFGUARD_LIBRARY", env)]
    candidates = []
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        LIBRARY_NAME)
    if os.path.exists(here):
        candidates.append(("next to the package", here))
    found = ctypes.util.find_library("diffguard")
    if found:
        candidates.append(("ctypes.util.find_library", found))
    return candidates


def _load():
    tried = []
    for where, name in _candidates():
        try:
            lib = ctypes.CDLL(name)
        except OSError as e:
            tried.append("%s (%s): %s" % (name, where, e))
            continue
        try:
            abi_version = lib.dg_abi_version
        except AttributeError:
            raise LibraryError("%s (%s) is not libdiffguard: it has no "
                               "dg_abi_version" % (name, where)) from None
        abi_version.restype = c_uint32
        abi_version.argtypes = []
        abi = abi_version()
        if abi != ABI_VERSION:
            raise LibraryError(
                "%s (%s) has ABI version %d; this binding was written for %d"
                % (name, where, abi, ABI_VERSION))
        return lib
    raise LibraryError(
        "libdiffguard was not found%s. Set DIFFGUARD_LIBRARY to the path of "
        "%s (after `ninja -C build`: build/lib/%s), copy it next to the "
        "diffguard package, or install it where the dynamic linker finds it "
        "(`meson install -C build && ldconfig`)."
        % ((": tried " + "; ".join(tried)) if tried else "", LIBRARY_NAME,
           LIBRARY_NAME))


lib = _load()


def _errcheck(status, func, _args):
    if status != Status.OK:
        # Read first: the detail is kept only until the next failing call.
        detail = lib.dg_last_error_detail().decode("utf-8", "replace")
        message = lib.dg_strerror(status).decode("utf-8", "replace")
        raise DiffguardError(status, message, detail, func.__name__)
    return status


def _p(t):
    return POINTER(t)


def _pp(t):
    return POINTER(POINTER(t))


def _array(dtype):
    return ndpointer(dtype, flags="C_CONTIGUOUS")


def _optional_array(dtype):
    """As _array, also taking None for NULL."""
    base = _array(dtype)

    class Optional(base):
        @classmethod
        def from_param(cls, obj):
            return None if obj is None else base.from_param(obj)
    return Optional


_F32, _I32, _U32 = _array(np.float32), _array(np.int32), _array(np.uint32)
_U8 = _array(np.uint8)
_F32_OPT, _I32_OPT = _optional_array(np.float32), _optional_array(np.int32)
_F64_OPT = _optional_array(np.float64)
_u32p = _p(c_uint32)
_M, _S, _D = _p(dg_model), _p(dg_session), _p(dg_dataset)
_E, _V = _p(dg_ensemble), _p(dg_validator)
_P, _A = _p(dg_pruner), _p(dg_advset)
_EV = _p(dg_eval)
_TEXT = [c_char_p, c_size_t, _p(c_size_t)]

# name: (argument types, result type); None as result type means dg_status,
# checked by _errcheck.
_PROTOTYPES = {
    "dg_strerror": ([c_int], c_char_p),
    "dg_last_error_detail": ([], c_char_p),
    "dg_version_string": ([], c_char_p),
    "dg_limit": ([c_int32], c_uint64),
    "dg_set_limit": ([c_int32, c_uint64], None),
    "dg_model_load_file": ([c_char_p, _pp(dg_model)], None),
    "dg_model_load_memory": ([c_void_p, c_size_t, _pp(dg_model)], None),
    "dg_model_save_file": ([_M, c_char_p], None),
    "dg_model_save_memory": ([_M, c_void_p, c_size_t, _p(c_size_t)], None),
    "dg_model_create": ([c_char_p, c_uint32, c_uint32, c_uint32, c_uint64,
                         _pp(dg_model)], None),
    "dg_model_free": ([_M], "void"),
    "dg_model_input_shape": ([_M, _u32p, _u32p, _u32p], None),
    "dg_model_layer_count": ([_M, _u32p], None),
    "dg_model_output_size": ([_M, _u32p], None),
    "dg_model_layer_info": ([_M, c_uint32, _p(dg_layer_info)], None),
    "dg_model_class_name": ([_M, c_uint32, _p(c_char_p)], None),
    "dg_model_set_class_names": ([_M, _p(c_char_p), c_uint32], None),
    "dg_model_set_frozen": ([_M, c_uint32, c_int32], None),
    "dg_train_opts_init": ([_p(dg_train_opts), c_size_t], None),
    "dg_model_train": ([_M, _D, _p(dg_train_opts), _p(dg_train_report)],
                       None),
    "dg_model_train_file": ([_M, _D, _p(dg_train_opts), c_char_p,
                             _p(dg_train_report)], None),
    "dg_model_evaluate": ([_M, _D, _U32, c_size_t, _u32p, _u32p], None),
    "dg_model_transfer": ([_M, c_int32, c_char_p, c_uint64, _pp(dg_model)],
                          None),
    "dg_session_create": ([_M, c_uint32, _pp(dg_session)], None),
    "dg_session_run": ([_S, _F32, c_size_t, c_uint32], None),
    "dg_session_output": ([_S, c_int32, _pp(ctypes.c_float), _u32p, _u32p,
                           _u32p, _u32p], None),
    "dg_session_free": ([_S], "void"),
    "dg_image_load_file": ([_M, c_char_p, _F32, c_size_t], None),
    "dg_image_probe_file": ([c_char_p, _p(dg_image_info)], None),
    "dg_dataset_load_idx": ([c_char_p, c_char_p, _pp(dg_dataset)], None),
    "dg_dataset_load_folder": ([c_char_p, c_uint32, c_uint32, c_uint32,
                                _pp(dg_dataset)], None),
    "dg_dataset_select": ([_D, _I32, c_uint32, c_uint32, _pp(dg_dataset)],
                          None),
    "dg_dataset_select_from": ([_D, _I32, c_uint32, c_uint32, c_uint32,
                                _pp(dg_dataset)], None),
    "dg_dataset_spec_opts_init": ([_p(dg_dataset_spec_opts), c_size_t],
                                  None),
    "dg_dataset_open_spec": ([c_char_p, _p(dg_dataset_spec_opts),
                              _pp(dg_dataset)], None),
    "dg_dataset_class_name": ([_D, c_uint32, _p(c_char_p)], None),
    "dg_dataset_from_pixels": ([_U8, c_uint32, c_uint32, c_uint32, c_uint32,
                                _I32, _p(c_char_p), c_uint32,
                                _pp(dg_dataset)], None),
    "dg_dataset_count": ([_D, _u32p], None),
    "dg_dataset_sample_shape": ([_D, _u32p, _u32p, _u32p], None),
    "dg_dataset_class_count": ([_D, _u32p], None),
    "dg_dataset_batch": ([_D, _M, _U32, c_uint32, _F32, c_size_t, _I32],
                         None),
    "dg_dataset_free": ([_D], "void"),
    "dg_guard_opts_init": ([_p(dg_ensemble_opts), c_size_t], None),
    "dg_guard_build": ([_M, _D, _D, _p(dg_ensemble_opts),
                           _pp(dg_ensemble)], None),
    "dg_guard_build_shard": ([_M, _D, _D, _p(dg_ensemble_opts), c_uint32,
                              c_uint32], None),
    "dg_guard_merge": ([_M, _D, _D, _p(dg_ensemble_opts), _pp(dg_ensemble)],
                       None),
    "dg_shard_parse": ([c_char_p, _u32p, _u32p], None),
    "dg_guard_save_file": ([_E, c_char_p], None),
    "dg_guard_work_dir_remove": ([c_char_p], None),
    "dg_guard_load_file": ([c_char_p, _M, _pp(dg_ensemble)], None),
    "dg_guard_load_memory": ([c_void_p, c_size_t, _M, _pp(dg_ensemble)],
                                None),
    "dg_guard_get_info": ([_E, _p(dg_ensemble_info)], None),
    "dg_guard_member": ([_E, c_uint32, c_uint32, _p(dg_member_info)],
                           None),
    "dg_guard_member_model": ([_E, c_uint32, c_uint32, _pp(dg_model)],
                                 None),
    "dg_guard_calibration": ([_E, c_uint32, c_uint32, _p(dg_calibration)],
                                None),
    "dg_guard_free": ([_E], "void"),
    "dg_validator_opts_init": ([_p(dg_validator_opts), c_size_t], None),
    "dg_validator_create": ([_E, _p(dg_validator_opts), _pp(dg_validator)],
                            None),
    "dg_validate": ([_V, _F32, c_size_t, c_uint32, _p(dg_verdict)], None),
    "dg_validate_labeled": ([_V, _F32, c_size_t, c_uint32, _I32,
                             _p(dg_verdict)], None),
    "dg_validator_free": ([_V], "void"),
    "dg_pruner_create": ([_M, c_int32, _pp(dg_pruner)], None),
    "dg_pruner_measure": ([_P, _D, PROGRESS_FN, c_void_p], None),
    "dg_pruner_unit_count": ([_P, _u32p], None),
    "dg_pruner_activations": ([_P, c_uint32, _F32, c_size_t], None),
    "dg_pruner_prune": ([_P, c_uint32, c_float, c_int32, _pp(dg_model)],
                        None),
    "dg_pruner_free": ([_P], "void"),
    "dg_model_import_onnx_file": ([c_char_p, _pp(dg_model)], None),
    "dg_model_import_onnx_memory": ([c_void_p, c_size_t, _pp(dg_model)],
                                    None),
    "dg_model_export_onnx_file": ([_M, c_char_p], None),
    "dg_model_export_onnx_memory": ([_M, c_void_p, c_size_t, _p(c_size_t)],
                                    None),
    "dg_attack_opts_init": ([_p(dg_attack_opts), c_size_t, c_int32], None),
    "dg_attack_run": ([_M, _p(dg_attack_opts), _F32, _F32_OPT, _I32_OPT,
                       c_uint32, _F32, _F32, _F32, _U8], None),
    "dg_dssim": ([_F32, _F32, c_uint32, c_uint32, c_uint32, _p(c_float)],
                 None),
    "dg_advset_create": ([_p(dg_attack_opts), c_uint32, c_uint32, c_uint32,
                          c_char_p, _pp(dg_advset)], None),
    "dg_advset_add": ([_A, _p(dg_advset_item), _F32, c_size_t], None),
    "dg_advset_save_file": ([_A, c_char_p], None),
    "dg_advset_load_file": ([c_char_p, _pp(dg_advset)], None),
    "dg_advset_merge": ([_pp(dg_advset), c_uint32,
                         _pp(dg_advset)], None),
    "dg_advset_count": ([_A, _u32p], None),
    "dg_advset_shape": ([_A, _u32p, _u32p, _u32p], None),
    "dg_advset_settings": ([_A, _p(dg_attack_opts)], None),
    "dg_advset_description": ([_A, _p(c_char_p)], None),
    "dg_advset_item_get": ([_A, c_uint32, _p(dg_advset_item)], None),
    "dg_advset_pixels": ([_A, c_uint32, _pp(c_uint8)], None),
    "dg_advset_batch": ([_A, _M, _U32, c_uint32, _F32, c_size_t], None),
    "dg_advset_free": ([_A], "void"),
    "dg_advset_opts_init": ([_p(dg_advset_opts), c_size_t], None),
    "dg_advset_make": ([_M, _M, _D, _p(dg_attack_opts), _p(dg_advset_opts),
                        _pp(dg_advset), _U32], None),
    "dg_image_save_png": ([c_char_p, _U8, c_uint32, c_uint32, c_size_t,
                           c_int32], None),
    "dg_eval_opts_init": ([_p(dg_eval_opts), c_size_t], None),
    "dg_eval_run": ([_E, _D, _p(_A), _p(c_char_p), c_uint32,
                     _p(dg_eval_opts), _pp(dg_eval)], None),
    "dg_eval_free": ([_EV], "void"),
    "dg_eval_get_info": ([_EV, _p(dg_eval_info)], None),
    "dg_eval_get_set": ([_EV, c_uint32, _p(dg_eval_set)], None),
    "dg_eval_get_row": ([_EV, c_uint32, _p(dg_eval_row)], None),
    "dg_eval_get_outcome": ([_EV, c_uint32, c_uint32, _p(dg_eval_outcome)],
                            None),
    "dg_eval_roc": ([_EV, c_uint32, c_uint32, _F64_OPT, _F64_OPT, c_size_t,
                     _p(c_size_t)], None),
    "dg_eval_get_decision": ([_EV, c_uint32, c_uint32,
                              _p(dg_eval_decision)], None),
    "dg_eval_classify": ([_M, _F32, c_size_t, c_uint32, _I32], None),
    "dg_attempt_opts_init": ([_p(dg_attempt_opts), c_size_t], None),
    "dg_eval_choose_attempts": ([_M, _D, _p(dg_attempt_opts), c_uint32,
                                 _U32, _I32, _U32, _I32], None),
    "dg_scenario_opts_init": ([_p(dg_scenario_opts), c_size_t], None),
    "dg_scenario_create": ([_p(dg_scenario_opts), _pp(dg_scenario)], None),
    "dg_scenario_free": ([_p(dg_scenario)], "void"),
    "dg_scenario_next_stage": ([_p(dg_scenario), _p(dg_scenario_stage)],
                               None),
    "dg_scenario_run_stage": ([_p(dg_scenario)], None),
    "dg_scenario_run": ([_p(dg_scenario)], None),
    "dg_scenario_get_info": ([_p(dg_scenario), _p(dg_scenario_info)], None),
    "dg_scenario_get_model": ([_p(dg_scenario), c_uint32,
                               _p(dg_scenario_model)], None),
    "dg_scenario_get_guard": ([_p(dg_scenario), c_uint32,
                               _p(dg_scenario_guard)], None),
    "dg_scenario_get_set": ([_p(dg_scenario), c_uint32,
                             _p(dg_scenario_set)], None),
    "dg_scenario_get_eval": ([_p(dg_scenario), c_uint32, _pp(dg_eval)],
                             None),
    # The reports (lib/report); _TEXT: char *text, capacity, size_t *length.
    "dg_report_opts_init": ([_p(dg_report_opts), c_size_t], None),
    "dg_eval_write_report": ([_EV, c_char_p, _p(dg_report_opts)], None),
    "dg_eval_format_report": ([_EV, c_int32] + _TEXT, None),
    "dg_scenario_write_report": ([_p(dg_scenario), _p(dg_report_opts)],
                                 None),
    "dg_scenario_format_report": ([_p(dg_scenario), c_int32] + _TEXT, None),
    "dg_model_format_report": ([_M, c_char_p, c_int32] + _TEXT, None),
    "dg_model_format_accuracy": ([_M, _U32, c_size_t, c_char_p, c_char_p,
                                  c_int32] + _TEXT, None),
    "dg_guard_format_report": ([_E, c_int32, _p(dg_report_opts)] + _TEXT,
                               None),
    "dg_verdict_format_report": ([_p(dg_verdict), _M, c_char_p, c_int32]
                                 + _TEXT, None),
    "dg_advset_write_examples": ([_A, _D, _U32, c_char_p,
                                  _p(dg_report_opts)], None),
    "dg_session_top_classes": ([_S, c_uint32, c_uint32, _U32,
                                _array(np.float64)], None),
}

for _name, (_args, _res) in _PROTOTYPES.items():
    _fn = getattr(lib, _name)
    _fn.argtypes = _args
    if _res is None:
        _fn.restype = c_int
        _fn.errcheck = _errcheck
    else:
        _fn.restype = None if _res == "void" else _res
