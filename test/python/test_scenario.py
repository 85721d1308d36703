"""The demonstration scenario through the binding (Scenario): its folder's
settings.json (the same settings accepted, others refused), what it says
and reports before any stage runs, and its errors.  The whole pipeline runs in the
slow test cli_demo."""
import os
import tempfile
import unittest

import diffguard as dg


class ScenarioTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = os.path.join(self.tmp.name, "demo")

    def tearDown(self):
        self.tmp.cleanup()

    def test_before_any_stage(self):
        notes = []
        with dg.Scenario(self.dir, quick=True, seed=3,
                         note=notes.append) as s:
            self.assertTrue(os.path.exists(
                os.path.join(self.dir, "settings.json")))
            info = s.info
            self.assertEqual((info.name, info.mode, info.mode_name),
                             ("fmnist-split", dg.SCENARIO_QUICK, "quick"))
            self.assertEqual((info.seed, info.student_classes), (3, "5-9"))
            self.assertEqual((info.level_count, info.sweep_count), (20, 20))
            self.assertEqual((info.sets, info.level_sets, info.cut),
                             (2, 0, -1))
            self.assertEqual([m.name for m in s.models],
                             ["teacher", "student", "surrogate-student",
                              "patched-student"])
            self.assertEqual(s.models[2].skip_per_class, 500)
            self.assertEqual([g.name for g in s.guards],
                             ["guard", "surrogate-guard"])
            self.assertEqual([x.name for x in s.sets],
                             ["targeted", "untargeted"])
            stage = s.next_stage()
            self.assertEqual((stage.name, stage.kind),
                             ("teacher", dg.STAGE_MODEL))
            with self.assertRaises(dg.DiffguardError) as e:
                s.evaluation()
            self.assertEqual(e.exception.status, dg.Status.STATE)
            # The report's examples need the attack stage's sets, which
            # are not made yet: nothing to write; the rest needs the
            # eval stage.
            s.write_report(parts=dg.REPORT_EXAMPLES)
            self.assertEqual(sorted(os.listdir(self.dir)), ["settings.json"])
            for call in (s.write_report, lambda: s.report("json")):
                with self.assertRaises(dg.DiffguardError) as e:
                    call()
                self.assertEqual(e.exception.status, dg.Status.STATE)
        self.assertEqual(notes, [])

    def test_a_folder_holds_one_experiment(self):
        dg.Scenario(self.dir, quick=True).close()
        dg.Scenario(self.dir, quick=True).close()
        with self.assertRaises(dg.DiffguardError) as e:
            dg.Scenario(self.dir, quick=True, seed=2)
        self.assertEqual(e.exception.status, dg.Status.MISMATCH)
        with self.assertRaises(dg.DiffguardError) as e:
            dg.Scenario(self.dir, name="fmnist-swap", quick=True)
        self.assertEqual(e.exception.status, dg.Status.MISMATCH)

    def test_unknown_scenario(self):
        with self.assertRaises(dg.DiffguardError) as e:
            dg.Scenario(self.dir, name="mnist")
        self.assertEqual(e.exception.status, dg.Status.INVALID_ARG)
        self.assertFalse(os.path.exists(self.dir))


if __name__ == "__main__":
    unittest.main()
