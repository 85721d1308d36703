"""ctypes mirrors of the types and constants in diffguard.h.

Names, types, field order and values follow the header exactly;
test/python/struct_layout.py makes a C program that checks every size,
offset and value against the compiler's.
Option structs are filled by their *_init function; result structs get
struct_size from new_result().
"""
import collections
import ctypes
import enum
import keyword
from ctypes import (CFUNCTYPE, POINTER, c_char_p, c_double, c_float, c_int,
                    c_int32, c_uint32, c_uint64, c_void_p)


class Status(enum.IntEnum):
    """dg_status without its DG_ / DG_E_ prefix."""
    OK = 0
    INVALID_ARG = 1
    NOMEM = 2
    IO = 3
    FORMAT = 4
    UNSUPPORTED = 5
    STATE = 6
    SHAPE = 7
    BACKEND = 8
    ABI = 9
    INTERNAL = 10
    MISMATCH = 11
    CANCELLED = 12


class Rule(enum.IntEnum):
    """How a verdict decides, DG_RULE_* without the prefix: the values of
    RULE_VOTES and RULE_SCORE, named."""
    VOTES = 1
    SCORE = 2


# Constants, without their DG_ prefix.
MAX_MEMBERS = 16
LAYER_CONV, LAYER_RELU, LAYER_MAXPOOL, LAYER_AVGPOOL = 1, 2, 3, 4
LAYER_GLOBAL_AVGPOOL, LAYER_FLATTEN, LAYER_LINEAR, LAYER_BATCHNORM = 5, 6, 7, 8
LAYER_ADD, LAYER_SOFTMAX, LAYER_DROPOUT = 9, 10, 11
LAYER_CLIP, LAYER_SIGMOID, LAYER_HARDSIGMOID, LAYER_HARDSWISH = 12, 13, 14, 15
LAYER_PAD, LAYER_MUL, LAYER_CONCAT = 16, 17, 18
LAYER_FLAG_FROZEN = 1
PRUNE_MOST, PRUNE_LEAST = 1, 2
MEMBERS_PRUNED, MEMBERS_ROBUST = 1, 2
RULE_VOTES, RULE_SCORE = int(Rule.VOTES), int(Rule.SCORE)
OPTIMIZER_SGD, OPTIMIZER_ADAM = 1, 2
SCHEDULE_CONSTANT, SCHEDULE_STEP, SCHEDULE_COSINE = 0, 1, 2
PIXEL_GRAY8, PIXEL_RGB8, PIXEL_RGBA8 = 1, 2, 3
ATTACK_MIMIC_DSSIM, ATTACK_MIMIC_LINF, ATTACK_FGSM, ATTACK_PGD = 1, 2, 3, 4
ATTACK_PRESET_STRONG, ATTACK_PRESET_PAPER = 1, 2
ATTACK_ADADELTA, ATTACK_ADAM = 1, 2
LIMIT_FLOPS_PER_INPUT, LIMIT_ACTIVATION_BYTES_PER_INPUT = 1, 2
# A float, so the layout test (integers only) leaves it to test_attack.py.
ATTACK_STRONG_LAMBDA_BUDGET = 1e5


class dg_model(ctypes.Structure):
    """Opaque: only pointers to it cross the API."""


class dg_session(ctypes.Structure):
    """Opaque."""


class dg_dataset(ctypes.Structure):
    """Opaque."""


class dg_ensemble(ctypes.Structure):
    """Opaque."""


class dg_validator(ctypes.Structure):
    """Opaque."""


class dg_pruner(ctypes.Structure):
    """Opaque."""


class dg_advset(ctypes.Structure):
    """Opaque."""


class dg_eval(ctypes.Structure):
    """Opaque."""


class dg_scenario(ctypes.Structure):
    """Opaque."""


PROGRESS_FN = CFUNCTYPE(c_int, c_void_p, c_char_p, c_uint64, c_uint64,
                        c_double)
NOTE_FN = CFUNCTYPE(None, c_void_p, c_char_p)


class dg_layer_info(ctypes.Structure):
    _fields_ = [("struct_size", c_uint32), ("kind", c_int32),
                ("input0", c_int32), ("input1", c_int32), ("flags", c_uint32),
                ("channels", c_uint32), ("height", c_uint32),
                ("width", c_uint32), ("kernel", c_uint32),
                ("stride", c_uint32), ("padding", c_uint32),
                ("param_count", c_uint64), ("pruned_units", c_uint32)]


class dg_image_info(ctypes.Structure):
    _fields_ = [("struct_size", c_uint32), ("width", c_uint32),
                ("height", c_uint32), ("channels", c_uint32)]


class dg_train_opts(ctypes.Structure):
    _fields_ = [("struct_size", c_uint32), ("epochs", c_uint32),
                ("batch_size", c_uint32), ("optimizer", c_int32),
                ("learning_rate", c_float), ("momentum", c_float),
                ("weight_decay", c_float), ("schedule", c_int32),
                ("step_epochs", c_uint32), ("step_gamma", c_float),
                ("seed", c_uint64), ("checkpoint_path", c_char_p),
                ("distill_from", POINTER(dg_model)),
                ("distill_alpha", c_float), ("distill_temperature", c_float),
                ("progress", PROGRESS_FN), ("progress_user", c_void_p),
                ("adversarial_epsilon", c_float),
                ("patch_teacher", POINTER(dg_model)), ("patch_layer", c_int32),
                ("patch_cap", c_float), ("patch_cap_step", c_float),
                ("patch_cap_max", c_float), ("patch_weight", c_float),
                ("adversarial_steps", c_uint32),
                ("adversarial_replays", c_uint32)]


class dg_train_report(ctypes.Structure):
    _fields_ = [("struct_size", c_uint32), ("epochs_run", c_uint32),
                ("resumed_epoch", c_uint32), ("last_loss", c_float),
                ("last_accuracy", c_float), ("last_patch_distance", c_float)]


class dg_ensemble_opts(ctypes.Structure):
    _fields_ = [("struct_size", c_uint32), ("variants", c_uint32),
                ("members", c_uint32), ("rule", c_int32),
                ("prune_layers", c_int32 * 4), ("n_prune_layers", c_uint32),
                ("ratios", c_float * 8), ("n_ratios", c_uint32),
                ("prune_mode", c_int32), ("retrain_pruned", c_int32),
                ("epochs", c_uint32), ("batch_size", c_uint32),
                ("learning_rate", c_float), ("distill_alpha", c_float),
                ("distill_temperature", c_float), ("target_frr", c_float),
                ("holdout_fraction", c_float), ("seed", c_uint64),
                ("work_dir", c_char_p), ("progress", PROGRESS_FN),
                ("progress_user", c_void_p), ("harden", c_int32),
                ("harden_epsilon", c_float), ("harden_budget", c_float),
                ("harden_iterations", c_uint32), ("member_kind", c_int32),
                ("member_width", c_float), ("robust_epsilon", c_float),
                ("robust_epochs", c_uint32), ("robust_steps", c_uint32),
                ("robust_replays", c_uint32)]


class dg_ensemble_info(ctypes.Structure):
    _fields_ = [("struct_size", c_uint32), ("classes", c_uint32),
                ("variants", c_uint32), ("members", c_uint32),
                ("rule", c_int32), ("target_frr", c_float),
                ("student_hash", c_uint64)]


class dg_member_info(ctypes.Structure):
    _fields_ = [("struct_size", c_uint32), ("prune_layer", c_int32),
                ("ratio", c_float), ("mode", c_int32), ("seed", c_uint64),
                ("pruned_units", c_uint32), ("tail_layers", c_uint32),
                ("agreement", c_float), ("score", c_float)]


class dg_calibration(ctypes.Structure):
    _fields_ = [("struct_size", c_uint32), ("tau", c_uint32),
                ("theta", c_float), ("frr_votes", c_float),
                ("frr_score", c_float), ("samples", c_uint32),
                ("pooled", c_int32), ("frr_spread", c_float)]


class dg_validator_opts(ctypes.Structure):
    _fields_ = [("struct_size", c_uint32), ("members", c_uint32),
                ("rule", c_int32), ("max_batch", c_uint32)]


class dg_verdict(ctypes.Structure):
    _fields_ = [("struct_size", c_uint32), ("accepted", c_int32),
                ("label", c_int32), ("rule", c_int32),
                ("members", c_uint32), ("votes", c_uint32),
                ("score", c_float), ("threshold", c_float),
                ("member_label", c_int32 * MAX_MEMBERS),
                ("member_score", c_float * MAX_MEMBERS)]


class dg_attack_opts(ctypes.Structure):
    # "lambda" as in C; Python code reaches it with getattr, and option
    # keywords and records call it lambda_.
    _fields_ = [("struct_size", c_uint32), ("method", c_int32),
                ("feature_layer", c_int32), ("targeted", c_int32),
                ("budget", c_float), ("lambda", c_float),
                ("epsilon", c_float), ("step", c_float),
                ("iterations", c_uint32), ("optimizer", c_int32),
                ("learning_rate", c_float), ("patience", c_uint32),
                ("min_improvement", c_float), ("random_start", c_int32),
                ("batch_size", c_uint32), ("threads", c_uint32),
                ("seed", c_uint64), ("check_model", POINTER(dg_model)),
                ("progress", PROGRESS_FN), ("progress_user", c_void_p),
                ("adaptive_models", POINTER(POINTER(dg_model))),
                ("adaptive_model_classes", POINTER(c_int32)),
                ("n_adaptive_models", c_uint32),
                ("adaptive_draw", c_uint32), ("adaptive_weight", c_float),
                ("feature_weight", c_float), ("first_index", c_uint32)]


class dg_advset_item(ctypes.Structure):
    _fields_ = [("struct_size", c_uint32), ("source_index", c_uint32),
                ("source_label", c_int32), ("target_label", c_int32),
                ("student_label", c_int32), ("dssim", c_float),
                ("feature_distance", c_float), ("within_budget", c_int32),
                ("success", c_int32)]


EVAL_NO_DEFENCE, EVAL_GUARD, EVAL_POOL, EVAL_SQUEEZE = 0, 1, 2, 3
EVAL_SQUEEZE_DEFAULT_BITS = 2


class dg_eval_opts(ctypes.Structure):
    _fields_ = [("struct_size", c_uint32), ("squeeze_bits", c_uint32),
                ("baseline_fpr", c_double), ("progress", PROGRESS_FN),
                ("progress_user", c_void_p),
                ("patched_student", POINTER(dg_model))]


class dg_eval_info(ctypes.Structure):
    _fields_ = [("struct_size", c_uint32), ("clean", c_uint32),
                ("inputs", c_uint32), ("sets", c_uint32), ("rows", c_uint32),
                ("classes", c_uint32), ("variants", c_uint32),
                ("members", c_uint32), ("rule", c_int32),
                ("squeeze_bits", c_uint32), ("baseline_fpr", c_double),
                ("student_accuracy", c_double), ("latency_ms", c_double)]


class dg_eval_set(ctypes.Structure):
    _fields_ = [("struct_size", c_uint32), ("name", c_char_p),
                ("targeted", c_int32), ("first_input", c_uint32),
                ("attempts", c_uint32), ("within_budget", c_uint32),
                ("reached_target", c_uint32), ("left_source", c_uint32),
                ("fooling", c_uint32)]


class dg_eval_row(ctypes.Structure):
    _fields_ = [("struct_size", c_uint32), ("name", c_char_p),
                ("kind", c_int32), ("members", c_uint32), ("rule", c_int32),
                ("matched", c_int32), ("passes", c_uint32),
                ("threshold", c_float), ("clean", c_uint32),
                ("clean_correct", c_uint32),
                ("clean_correct_rejected", c_uint32),
                ("false_rejection_rate", c_double),
                ("accuracy_loss", c_double)]


class dg_eval_outcome(ctypes.Structure):
    _fields_ = [("struct_size", c_uint32), ("fooling", c_uint32),
                ("stopped", c_uint32), ("defence_rate", c_double),
                ("roc_auc", c_double), ("tpr_at_5pct_fpr", c_double),
                ("tpr_at_1pct_fpr", c_double)]


class dg_eval_decision(ctypes.Structure):
    _fields_ = [("struct_size", c_uint32), ("set", c_int32),
                ("truth", c_int32), ("target", c_int32), ("label", c_int32),
                ("accepted", c_int32), ("fooling", c_int32),
                ("suspicion", c_float)]


class dg_attempt_opts(ctypes.Structure):
    _fields_ = [("struct_size", c_uint32), ("targeted", c_int32),
                ("target_class", c_int32), ("target_images", c_int32),
                ("seed", c_uint64)]


class dg_advset_opts(ctypes.Structure):
    _fields_ = [("struct_size", c_uint32), ("count", c_uint32),
                ("target_class", c_int32), ("stop_on_success", c_int32),
                ("guard", POINTER(dg_ensemble)), ("guard_members", c_uint32),
                ("models", POINTER(POINTER(dg_model))), ("n_models", c_uint32),
                ("shard", c_uint32), ("shards", c_uint32),
                ("description", c_char_p)]


class dg_dataset_spec_opts(ctypes.Structure):
    _fields_ = [("struct_size", c_uint32), ("channels", c_uint32),
                ("height", c_uint32), ("width", c_uint32),
                ("classes", POINTER(c_int32)), ("n_classes", c_uint32),
                ("per_class", c_uint32), ("skip_per_class", c_uint32)]


SCENARIO_FULL, SCENARIO_QUICK = 0, 1
STAGE_MODEL, STAGE_GUARD, STAGE_ATTACK, STAGE_EVAL = 1, 2, 3, 4


class dg_scenario_opts(ctypes.Structure):
    _fields_ = [("struct_size", c_uint32), ("name", c_char_p),
                ("mode", c_int32), ("seed", c_uint64), ("dir", c_char_p),
                ("progress", PROGRESS_FN), ("progress_user", c_void_p),
                ("note", NOTE_FN), ("note_user", c_void_p)]


class dg_scenario_stage(ctypes.Structure):
    _fields_ = [("struct_size", c_uint32), ("name", c_char_p),
                ("kind", c_int32), ("index", c_uint32)]


class dg_scenario_info(ctypes.Structure):
    _fields_ = [("struct_size", c_uint32), ("name", c_char_p),
                ("mode", c_int32), ("mode_name", c_char_p),
                ("seed", c_uint64), ("dir", c_char_p),
                ("teacher_classes", c_char_p), ("student_classes", c_char_p),
                ("models", c_uint32), ("guards", c_uint32),
                ("sets", c_uint32), ("level_sets", c_uint32),
                ("clean_per_class", c_uint32), ("cut", c_int32),
                ("level_count", c_uint32), ("linf_iterations", c_uint32),
                ("dssim_iterations", c_uint32), ("sweep_epsilon", c_float),
                ("adaptive_weight", c_float), ("draw", c_uint32),
                ("surrogate_images", c_char_p),
                ("test_data", POINTER(dg_dataset)), ("sweep_count", c_uint32)]


class dg_scenario_model(ctypes.Structure):
    _fields_ = [("struct_size", c_uint32), ("name", c_char_p),
                ("architecture", c_char_p), ("classes", c_char_p),
                ("path", c_char_p), ("checkpoint", c_char_p),
                ("per_class", c_uint32), ("skip_per_class", c_uint32),
                ("epochs", c_uint32), ("batch", c_uint32),
                ("optimizer", c_char_p), ("learning_rate", c_double),
                ("schedule", c_char_p), ("model", POINTER(dg_model)),
                ("reused", c_int32), ("train_samples", c_uint32),
                ("resumed_epoch", c_uint32), ("epochs_run", c_uint32),
                ("last_loss", c_float), ("last_accuracy", c_float),
                ("train_seconds", c_double), ("test_correct", c_uint32),
                ("test_total", c_uint32), ("test_seconds", c_double)]


class dg_scenario_guard(ctypes.Structure):
    _fields_ = [("struct_size", c_uint32), ("name", c_char_p),
                ("path", c_char_p), ("work_dir", c_char_p),
                ("guard", POINTER(dg_ensemble)), ("reused", c_int32),
                ("build_seconds", c_double)]


class dg_scenario_set(ctypes.Structure):
    _fields_ = [("struct_size", c_uint32), ("name", c_char_p),
                ("label", c_char_p), ("level", c_int32), ("sweep", c_int32),
                ("layer", c_int32), ("method", c_int32),
                ("targeted", c_int32), ("budget", c_float),
                ("count", c_uint32), ("iterations", c_uint32),
                ("set", POINTER(dg_advset)), ("reused", c_int32),
                ("target_index", POINTER(c_uint32))]


#: Parts of a report (dg_report_opts.parts) and its text forms
#: (*_format_report): DG_REPORT_* and DG_FORMAT_*.
REPORT_JSON, REPORT_MARKDOWN, REPORT_CHARTS, REPORT_EXAMPLES = 1, 2, 4, 8
REPORT_ALL = 15
FORMAT_JSON, FORMAT_MARKDOWN, FORMAT_TEXT = 1, 2, 3


class dg_report_opts(ctypes.Structure):
    _fields_ = [("struct_size", c_uint32), ("parts", c_uint32),
                ("examples", c_uint32), ("every_m", c_int32)]


# Every struct mirrored here, for the layout test.
ALL_STRUCTS = (dg_layer_info, dg_train_opts, dg_train_report,
               dg_ensemble_opts, dg_ensemble_info, dg_member_info,
               dg_calibration, dg_validator_opts, dg_verdict,
               dg_attack_opts, dg_advset_item, dg_eval_opts, dg_eval_info,
               dg_eval_set, dg_eval_row, dg_eval_outcome, dg_eval_decision,
               dg_attempt_opts, dg_advset_opts, dg_dataset_spec_opts,
               dg_scenario_opts, dg_scenario_stage, dg_scenario_info,
               dg_scenario_model, dg_scenario_guard, dg_scenario_set,
               dg_report_opts)


def python_name(field):
    """A C field name as Python keywords and records spell it: lambda_ for
    lambda."""
    return field + "_" if keyword.iskeyword(field) else field


def c_name(name):
    """The C field of a Python keyword or record field name."""
    if name.endswith("_") and keyword.iskeyword(name[:-1]):
        return name[:-1]
    return name


def new_result(struct_type):
    """A zeroed result struct with struct_size set, for the library to fill."""
    return struct_type(struct_size=ctypes.sizeof(struct_type))


def record_type(name, struct_type, doc, exclude=(), defaults=None):
    """A namedtuple with the struct's fields but struct_size and `exclude`,
    named as python_name says; `defaults` as namedtuple takes them."""
    fields = [python_name(f) for f, _ in struct_type._fields_
              if f != "struct_size" and f not in exclude]
    cls = collections.namedtuple(name, fields, defaults=defaults)
    cls.__doc__ = doc
    return cls


def to_record(record, struct):
    """Copies a filled result struct into its namedtuple."""
    return record(*(getattr(struct, c_name(f)) for f in record._fields))
