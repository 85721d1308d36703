"""The evaluation through the binding: a small guard judged on clean bars
and on a set of swapped images (a clean image of another class as the
"adversarial" one), its guard rows checked against the Validator's own
verdicts, the baselines' shape, ROC curves, the choice of attempts
against the Student's predictions, and a whole attack run against the same
run made call by call."""
import tempfile
import unittest

import numpy as np

import diffguard as dg
import support


class Evaluation(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        (cls.train, cls.student, cls.guard, cls.clean, cls.swaps,
         cls.result) = support.evaluated_guard(cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls.result.close()
        cls.tmp.cleanup()

    def test_description(self):
        info = self.result.info
        self.assertEqual(info.clean, len(self.clean))
        self.assertEqual(info.inputs, len(self.clean) + len(self.swaps))
        self.assertEqual(info.rows, 2 * info.variants + 4)
        self.assertEqual(info.squeeze_bits, dg.EVAL_SQUEEZE_DEFAULT_BITS)
        sets = self.result.sets
        self.assertEqual([s.name for s in sets], ["swaps"])
        self.assertEqual(sets[0].attempts, len(self.swaps))
        kinds = [r.kind for r in self.result.rows]
        self.assertEqual(kinds[-4:], [dg.EVAL_NO_DEFENCE, dg.EVAL_POOL,
                                      dg.EVAL_SQUEEZE, dg.EVAL_SQUEEZE])

    def test_guard_rows_are_the_validators_verdicts(self):
        x, labels = self.clean.batch(range(len(self.clean)), self.student)
        inputs = np.concatenate([x, self.swaps.batch(model=self.student)])
        for k, row in enumerate(self.result.rows):
            if row.kind != dg.EVAL_GUARD:
                continue
            with dg.Validator(self.guard, members=row.members,
                              rule=row.rule) as v:
                verdicts = v.validate(inputs)
            rejected = 0
            for i, verdict in enumerate(verdicts):
                d = self.result.decision(k, i)
                self.assertEqual(bool(d.accepted), verdict.accepted)
                self.assertEqual(d.label, verdict.label)
                if i < len(self.clean) and verdict.label == labels[i]:
                    rejected += not verdict.accepted
            self.assertEqual(row.clean_correct_rejected, rejected)

    def test_roc_ends_and_area(self):
        for k, row in enumerate(self.result.rows):
            if row.kind == dg.EVAL_NO_DEFENCE:
                continue
            fpr, tpr = self.result.roc(k, 0)
            self.assertEqual((fpr[0], tpr[0], fpr[-1], tpr[-1]),
                             (0, 0, 1, 1))
            auc = self.result.outcome(k, 0).roc_auc
            if not np.isnan(auc):
                self.assertAlmostEqual(np.trapz(tpr, fpr), auc, places=9)

    def test_attempts_and_classify(self):
        pixels, labels = support.bars(10, seed=5)  # the clean set's
        predicted = dg.classify(self.student, pixels / 255.0)
        chosen = dg.choose_attempts(self.student, self.clean, 8, seed=3)
        for s, label in zip(chosen["source_index"], chosen["source_label"]):
            self.assertEqual(predicted[s], label)
            self.assertEqual(labels[s], label)
        self.assertTrue((chosen["target_label"] != chosen["source_label"])
                        .all())
        with self.assertRaises(dg.DiffguardError) as e:
            dg.choose_attempts(self.student, self.clean, 1000)
        self.assertEqual(e.exception.status, dg.Status.INVALID_ARG)

    def test_a_whole_attack_run_is_its_steps(self):
        fgsm = dict(method=dg.ATTACK_FGSM, targeted=0, epsilon=0.2, seed=4)
        made, target_index = dg.AdversarialSet.make(
            self.student, self.student, self.clean, count=6,
            description="fgsm", **fgsm)
        chosen = dg.choose_attempts(self.student, self.clean, 6, seed=4,
                                    targeted=0, target_images=0)
        x, _ = self.clean.batch(chosen["source_index"])
        result = dg.attack(self.student, x, labels=chosen["source_label"],
                           **fgsm)
        got = dg.classify(self.student, result.adversarial)
        items = made.items()
        self.assertEqual(made.description, "fgsm")
        self.assertEqual([i.source_index for i in items],
                         list(chosen["source_index"]))
        self.assertEqual([i.student_label for i in items], list(got))
        self.assertEqual([i.success for i in items],
                         list(result.within_budget
                              & (got != chosen["source_label"])))
        np.testing.assert_allclose(made.batch(), result.adversarial,
                                   atol=1e-6)
        self.assertTrue((target_index == 2**32 - 1).all())
        # Adaptive: the guard's members of each target class join in.
        pgd = dict(method=dg.ATTACK_PGD, iterations=2, epsilon=0.1,
                   step=0.05)
        made, _ = dg.AdversarialSet.make(self.student, self.student,
                                         self.clean, count=4,
                                         guard=self.guard, **pgd)
        self.assertEqual(len(made), 4)
        with self.assertRaises(dg.DiffguardError) as e:
            dg.AdversarialSet.make(self.student, self.student, self.clean,
                                   count=4, guard=self.guard,
                                   guard_members=99, **pgd)
        self.assertIn("per class", e.exception.detail)

    def test_errors(self):
        with self.assertRaises(dg.DiffguardError) as e:
            dg.GuardEvaluation(self.guard, self.clean, squeeze_bits=9)
        self.assertEqual(e.exception.status, dg.Status.INVALID_ARG)
        with self.assertRaises(dg.DiffguardError):
            self.result.outcome(999, 0)


if __name__ == "__main__":
    unittest.main()
