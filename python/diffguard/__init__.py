"""diffguard: Python binding of libdiffguard, the defence of transfer-learned
image classifiers against Teacher-feature mimicry attacks.

The shared library is found through the DIFFGUARD_LIBRARY environment
variable (a path), then next to this package (libdiffguard.so.1), then by
ctypes.util.find_library("diffguard"); importing fails with a LibraryError
if none loads or its ABI is not the one this binding was written for.

Images are float32 numpy arrays in NCHW order, already preprocessed for the
model (Model.load_image and Dataset.batch make them); the attack API
(attack, dssim, AdversarialSet) takes pixels in [0, 1] instead.  Every
failing C call raises DiffguardError with .status, .message and .detail.
Every object has close() and is a context manager; objects may be released
in any order.
"""
from ._capi import (ABI_VERSION, LIBRARY_NAME, DiffguardError, LibraryError,
                    lib as _lib)
from ._structs import (ATTACK_ADADELTA, ATTACK_ADAM, ATTACK_FGSM,
                       ATTACK_MIMIC_DSSIM, ATTACK_MIMIC_LINF, ATTACK_PGD,
                       ATTACK_PRESET_PAPER, ATTACK_PRESET_STRONG,
                       ATTACK_STRONG_LAMBDA_BUDGET, EVAL_GUARD,
                       EVAL_NO_DEFENCE, EVAL_POOL, EVAL_SQUEEZE,
                       EVAL_SQUEEZE_DEFAULT_BITS, LAYER_ADD, LAYER_AVGPOOL,
                       LAYER_BATCHNORM, LAYER_CLIP, LAYER_CONCAT, LAYER_CONV,
                       LAYER_DROPOUT,
                       LAYER_FLAG_FROZEN, LAYER_FLATTEN, LAYER_GLOBAL_AVGPOOL,
                       LAYER_HARDSIGMOID, LAYER_HARDSWISH, LAYER_LINEAR,
                       LAYER_MAXPOOL, LAYER_MUL, LAYER_PAD, LAYER_RELU,
                       LAYER_SIGMOID,
                       LAYER_SOFTMAX,
                       LIMIT_ACTIVATION_BYTES_PER_INPUT,
                       LIMIT_FLOPS_PER_INPUT, MAX_MEMBERS, MEMBERS_PRUNED,
                       MEMBERS_ROBUST,
                       OPTIMIZER_ADAM, OPTIMIZER_SGD, PRUNE_LEAST, PRUNE_MOST,
                       REPORT_ALL, REPORT_CHARTS, REPORT_EXAMPLES,
                       REPORT_JSON, REPORT_MARKDOWN,
                       RULE_SCORE, RULE_VOTES, Rule, SCENARIO_FULL,
                       SCENARIO_QUICK, SCHEDULE_CONSTANT, SCHEDULE_COSINE,
                       SCHEDULE_STEP, STAGE_ATTACK, STAGE_EVAL, STAGE_GUARD,
                       STAGE_MODEL, Status)
from .attack import (AdversarialItem, AdversarialSet, AttackResult,
                     AttackSettings, attack, attack_settings, dssim,
                     guard_members, save_png)
from .dataset import Dataset
from .evaluation import (EvalDecision, EvalInfo, EvalOutcome, EvalRow,
                         EvalSet, GuardEvaluation, choose_attempts, classify)
from .guard import (Calibration, Guard, GuardInfo, MemberInfo, Pruner,
                    Validator, Verdict, parse_shard)
from .model import Evaluation, LayerInfo, Model, Session, TrainReport
from .scenario import (Scenario, ScenarioGuard, ScenarioInfo, ScenarioModel,
                       ScenarioSet, ScenarioStage)

__all__ = [
    # Classes and functions
    "AdversarialItem", "AdversarialSet", "AttackResult", "AttackSettings",
    "Calibration", "Dataset", "DiffguardError", "EvalDecision", "EvalInfo",
    "EvalOutcome", "EvalRow", "EvalSet", "Evaluation", "Guard",
    "GuardEvaluation",
    "GuardInfo", "LayerInfo", "LibraryError", "MemberInfo", "Model",
    "Pruner", "Rule", "Scenario", "ScenarioGuard", "ScenarioInfo",
    "ScenarioModel", "ScenarioSet", "ScenarioStage", "Session", "Status",
    "TrainReport", "Validator", "Verdict",
    "attack", "attack_settings", "choose_attempts", "classify", "dssim",
    "guard_members", "library_version", "limit", "parse_shard", "save_png",
    "set_limit",
    # Constants: diffguard.h's without their DG_ prefix, and the ABI
    "ABI_VERSION", "LIBRARY_NAME", "ATTACK_ADADELTA", "ATTACK_ADAM",
    "ATTACK_FGSM", "ATTACK_MIMIC_DSSIM", "ATTACK_MIMIC_LINF", "ATTACK_PGD",
    "ATTACK_PRESET_PAPER", "ATTACK_PRESET_STRONG",
    "ATTACK_STRONG_LAMBDA_BUDGET", "EVAL_GUARD", "EVAL_NO_DEFENCE",
    "EVAL_POOL", "EVAL_SQUEEZE", "EVAL_SQUEEZE_DEFAULT_BITS", "LAYER_ADD", "LAYER_AVGPOOL",
    "LAYER_BATCHNORM", "LAYER_CLIP", "LAYER_CONCAT", "LAYER_CONV",
    "LAYER_DROPOUT",
    "LAYER_FLAG_FROZEN", "LAYER_FLATTEN", "LAYER_GLOBAL_AVGPOOL",
    "LAYER_HARDSIGMOID", "LAYER_HARDSWISH", "LAYER_LINEAR", "LAYER_MAXPOOL",
    "LAYER_MUL", "LAYER_PAD", "LAYER_RELU", "LAYER_SIGMOID", "LAYER_SOFTMAX", "LIMIT_ACTIVATION_BYTES_PER_INPUT",
    "LIMIT_FLOPS_PER_INPUT", "MAX_MEMBERS", "OPTIMIZER_ADAM",
    "MEMBERS_PRUNED", "MEMBERS_ROBUST", "OPTIMIZER_SGD", "PRUNE_LEAST", "PRUNE_MOST",
    "REPORT_ALL", "REPORT_CHARTS", "REPORT_EXAMPLES", "REPORT_JSON",
    "REPORT_MARKDOWN", "RULE_SCORE", "RULE_VOTES",
    "SCENARIO_FULL", "SCENARIO_QUICK", "SCHEDULE_CONSTANT", "SCHEDULE_COSINE",
    "SCHEDULE_STEP", "STAGE_ATTACK", "STAGE_EVAL", "STAGE_GUARD",
    "STAGE_MODEL"]

#: The binding's version; equals the libdiffguard release it was made with.
__version__ = "0.1.0"


def library_version():
    """"MAJOR.MINOR.PATCH" of the library actually loaded."""
    return _lib.dg_version_string().decode()


def limit(which):
    """The work limit `which` (LIMIT_*) on models in force, or 0 for one
    the library does not know (doc/limits.md)."""
    return _lib.dg_limit(which)


def set_limit(which, value):
    """Sets the work limit `which` (LIMIT_*) for the whole process, for
    models made afterwards; 0 restores the default (doc/limits.md)."""
    _lib.dg_set_limit(which, value)
