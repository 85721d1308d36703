"""The demonstration scenario of `dg demo` (dg_scenario, experimental): a
Teacher and a Student on Fashion-MNIST, a patched Student, a guard, attack
sets, the threat levels' attacker and sets, and the guard's evaluation on
all of them, as stages whose files go to one folder and are reused by a
later run (doc/EVALUATION.md)."""
import ctypes

from ._capi import lib
from ._structs import (NOTE_FN, SCENARIO_FULL, SCENARIO_QUICK, dg_eval,
                       dg_scenario, dg_scenario_guard, dg_scenario_info,
                       dg_scenario_model, dg_scenario_opts, dg_scenario_set,
                       dg_scenario_stage, new_result, record_type, to_record)
from ._support import (Handle, create, fill_options, format_code, formatted,
                       query, report_options)
from .evaluation import BorrowedEvaluation

ScenarioStage = record_type("ScenarioStage", dg_scenario_stage,
                            "A stage (dg_scenario_stage); name is None "
                            "when every stage ran.")
ScenarioInfo = record_type("ScenarioInfo", dg_scenario_info,
                           "The settings and what the stages found "
                           "(dg_scenario_info).", exclude=("test_data",))
ScenarioModel = record_type("ScenarioModel", dg_scenario_model,
                            "One model (dg_scenario_model).",
                            exclude=("model",))
ScenarioGuard = record_type("ScenarioGuard", dg_scenario_guard,
                            "One guard (dg_scenario_guard).",
                            exclude=("guard",))
ScenarioSet = record_type("ScenarioSet", dg_scenario_set,
                          "One adversarial set (dg_scenario_set).",
                          exclude=("set", "target_index"))


def _decoded(record, struct):
    """to_record, with the library's strings decoded."""
    r = to_record(record, struct)
    return r._replace(**{k: v.decode("utf-8", "replace")
                         for k, v in r._asdict().items()
                         if isinstance(v, bytes)})


class Scenario(Handle):
    """The scenario in folder `directory` (dg_scenario_create): name
    "fmnist-split" or "fmnist-swap", quick for the small settings, seed;
    progress=callable(stage, done, total, metric) returning True to stop,
    note=callable(text) told what each stage does.  A folder made with
    other settings fails with Status.MISMATCH.  One thread at a time."""
    _free = lib.dg_scenario_free

    def __init__(self, directory, name="fmnist-split", quick=False, seed=1,
                 progress=None, note=None):
        opts, self._progress = fill_options(
            dg_scenario_opts, lib.dg_scenario_opts_init,
            {"dir": directory, "name": name, "seed": seed,
             "mode": SCENARIO_QUICK if quick else SCENARIO_FULL,
             "progress": progress})
        # The library keeps both callbacks until the scenario is freed.
        self._note = NOTE_FN(lambda _user, text: note(text.decode())) \
            if note else NOTE_FN()
        opts.note = self._note
        super().__init__(create(lib.dg_scenario_create, dg_scenario,
                                ctypes.byref(opts)))

    def next_stage(self):
        """The ScenarioStage run_stage() runs next."""
        stage = query(lib.dg_scenario_next_stage,
                      new_result(dg_scenario_stage), self._handle)
        return _decoded(ScenarioStage, stage)

    def run_stage(self):
        """Runs the next stage; a stopped or failed one stays next."""
        self._progress.call(lib.dg_scenario_run_stage, self._handle)

    def run(self):
        """Runs every stage still to run."""
        self._progress.call(lib.dg_scenario_run, self._handle)

    @property
    def info(self):
        """ScenarioInfo, as of the stages run so far."""
        return _decoded(ScenarioInfo, query(lib.dg_scenario_get_info,
                                            new_result(dg_scenario_info),
                                            self._handle))

    def _records(self, get, struct, record, count):
        """record of each of count results of get (0 to count - 1)."""
        return [_decoded(record, query(get, new_result(struct), self._handle,
                                       k))
                for k in range(count)]

    @property
    def models(self):
        """ScenarioModel of the Teacher, the Student, the surrogate Student
        and the patched Student."""
        return self._records(lib.dg_scenario_get_model, dg_scenario_model,
                             ScenarioModel, self.info.models)

    @property
    def guards(self):
        """ScenarioGuard of the guard and the attacker's surrogate guard."""
        return self._records(lib.dg_scenario_get_guard, dg_scenario_guard,
                             ScenarioGuard, self.info.guards)

    @property
    def sets(self):
        """ScenarioSet of the attack stage's sets, then the level sets."""
        info = self.info
        return self._records(lib.dg_scenario_get_set, dg_scenario_set,
                             ScenarioSet, info.sets + info.level_sets)

    def write_report(self, **options):
        """Writes the report dg demo writes into the folder: the examples
        of the attack stage's sets (after that stage), the charts,
        report.json and report.md (after the eval stage); keywords are
        the fields of dg_report_opts (parts=, examples=)."""
        lib.dg_scenario_write_report(self._handle,
                                     ctypes.byref(report_options(options)))

    def report(self, form="text"):
        """The report as a str: "json" (report.json), "markdown"
        (report.md) or "text" (the tables dg demo prints)."""
        return formatted(lib.dg_scenario_format_report, self._handle,
                         format_code(form))

    def evaluation(self, which=0):
        """The eval stage's GuardEvaluation on the attack stage's sets
        (which=0) or on the level sets (1); it lives as long as the
        scenario, which it keeps."""
        out = ctypes.POINTER(dg_eval)()
        lib.dg_scenario_get_eval(self._handle, which, ctypes.byref(out))
        return BorrowedEvaluation(out, self)
