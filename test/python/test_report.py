"""The reports through the binding (lib/report): an evaluation's JSON read
back against the evaluation's own numbers, its files, the model's, the
guard's and the accuracy reports against the objects they describe, a
session's top classes against a softmax of its outputs, example images,
and the refusals."""
import json
import math
import os
import tempfile
import unittest

import numpy as np

import diffguard as dg
import support


def same(reported, value):
    """A JSON number against the library's float: null stands for NaN."""
    if reported is None:
        return math.isnan(value)
    return math.isclose(reported, value, rel_tol=1e-7, abs_tol=1e-12)


class Reports(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        (cls.train, cls.student, cls.guard, cls.clean, cls.swaps,
         cls.result) = support.evaluated_guard(
             cls.tmp.name, description="swapped bars",
             succeeded=lambda i: i % 2)

    @classmethod
    def tearDownClass(cls):
        cls.result.close()
        cls.tmp.cleanup()

    def folder(self, name):
        return os.path.join(self.tmp.name, name)

    def test_eval_json_holds_the_evaluations_numbers(self):
        report = json.loads(self.result.report("json"))
        info = self.result.info
        self.assertEqual(report["clean"]["samples"], info.clean)
        self.assertTrue(same(report["clean"]["student_accuracy"],
                             info.student_accuracy))
        swaps = report["attack"]["swaps"]
        self.assertEqual(swaps["attempts"], len(self.swaps))
        self.assertEqual(swaps["fooling"], self.result.sets[0].fooling)
        self.assertEqual(swaps["description"], "swapped bars")
        defence = report["defence"]
        self.assertEqual(defence["m"], info.members)
        rows = self.result.rows
        guard_rows = [k for k, r in enumerate(rows)
                      if r.kind == dg.EVAL_GUARD]
        self.assertEqual(len(defence["by_members"]), len(guard_rows))
        for entry, k in zip(defence["by_members"], guard_rows):
            self.assertEqual(entry["m"], rows[k].members)
            self.assertTrue(same(entry["false_rejection_rate"],
                                 rows[k].false_rejection_rate))
            outcome = self.result.outcome(k, 0)
            self.assertEqual(entry["swaps"]["fooling"], outcome.fooling)
            self.assertEqual(entry["swaps"]["stopped"], outcome.stopped)
            self.assertTrue(same(entry["swaps"]["defence_rate"],
                                 outcome.defence_rate))
            self.assertTrue(same(entry["swaps"]["roc_auc"], outcome.roc_auc))
        none = [k for k, r in enumerate(rows)
                if r.kind == dg.EVAL_NO_DEFENCE][0]
        self.assertEqual(report["baselines"]["no_defence"]["forward_passes"],
                         rows[none].passes)

    def test_eval_files_are_its_text(self):
        folder = self.folder("eval")
        self.result.write_report(folder)
        with open(os.path.join(folder, "eval.json")) as f:
            self.assertEqual(f.read(), self.result.report("json"))
        with open(os.path.join(folder, "eval.md")) as f:
            self.assertEqual(f.read(), self.result.report("markdown"))
        for chart in ("defence-vs-members.png", "cost-vs-members.png",
                      "roc-swaps.png"):
            with open(os.path.join(folder, chart), "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        self.assertIn("swaps: defence", self.result.report())

    def test_parts_choose_the_files(self):
        folder = self.folder("json-only")
        self.result.write_report(folder, parts=dg.REPORT_JSON)
        self.assertEqual(os.listdir(folder), ["eval.json"])
        with self.assertRaises(dg.DiffguardError) as e:
            self.result.write_report(folder, parts=0x100)
        self.assertEqual(e.exception.status, dg.Status.INVALID_ARG)
        with self.assertRaises(ValueError):
            self.result.report("html")

    def test_model_report(self):
        report = json.loads(self.student.report("student.dgm", "json"))
        self.assertEqual(report["file"], "student.dgm")
        layers = self.student.layers
        self.assertEqual(len(report["layers"]), len(layers))
        self.assertEqual(report["total_parameters"],
                         sum(l.param_count for l in layers))
        self.assertNotIn("file", json.loads(self.student.report(form="json")))
        self.assertTrue(self.student.report("x").startswith("model  "))
        with self.assertRaises(dg.DiffguardError) as e:
            self.student.report(form="markdown")
        self.assertEqual(e.exception.status, dg.Status.UNSUPPORTED)

    def test_guard_report_is_its_members(self):
        classes = json.loads(self.guard.report("json"))
        info = self.guard.info
        self.assertEqual(len(classes), info.classes)
        for c, entry in enumerate(classes):
            for r, member in enumerate(entry["differentiators"]):
                mine = self.guard.member(c, r)
                self.assertEqual(member["prune_layer"], mine.prune_layer)
                self.assertTrue(same(member["score"], mine.score))
            self.assertEqual(len(entry["calibration"]), info.variants)
        default_only = json.loads(self.guard.report("json", every_m=False))
        self.assertEqual([c["calibration"][0]["members"]
                          for c in default_only],
                         [info.members] * info.classes)

    def test_accuracy_report(self):
        evaluation = self.student.evaluate(self.clean)
        report = json.loads(self.student.accuracy_report(
            evaluation, "student.dgm", "clean", "json"))
        self.assertEqual(report["correct"], evaluation.correct)
        self.assertEqual(report["samples"], evaluation.total)
        self.assertEqual(report["confusion"], evaluation.confusion.tolist())
        self.assertIn("confusion matrix", self.student.accuracy_report(
            evaluation))

    def test_top_classes_are_a_softmax_of_the_outputs(self):
        x, _ = self.clean.batch(range(4), self.student)
        with dg.Session(self.student, 4) as s:
            logits = s.run(x).reshape(4, -1).astype(np.float64)
            k = logits.shape[1]
            classes, probabilities = s.top_classes(2, k)
        p = np.exp(logits[2] - logits[2].max())
        p /= p.sum()
        np.testing.assert_array_equal(classes, np.argsort(-p, kind="stable"))
        np.testing.assert_allclose(probabilities, p[classes], rtol=1e-12)

    def test_examples(self):
        folder = self.folder("examples")
        target_index = np.full(len(self.swaps), 2**32 - 1, np.uint32)
        self.swaps.write_examples(self.clean, target_index, folder, 2)
        names = sorted(os.listdir(folder))
        self.assertIn("sheet.png", names)
        # The successful attempts (odd ones) come first.
        self.assertIn("001_adversarial.png", names)
        self.assertEqual(len(names), 2 * 3 + 1)
        with self.assertRaises(ValueError):
            self.swaps.write_examples(self.clean, target_index[:1], folder)


if __name__ == "__main__":
    unittest.main()
