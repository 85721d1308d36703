"""The defence through the binding: a small guard on the synthetic bars,
its description, clean inputs mostly accepted, every verdict consistent
with its M, rule and calibration, host labels, batches split at max_batch,
each differentiator as a whole model, file round trips, another Student refused, and errors."""
import math
import os
import tempfile
import unittest

import numpy as np

import diffguard as dg
import support

M = support.GUARD_OPTIONS["members"]
V = support.GUARD_OPTIONS["variants"]


class Defence(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.train, cls.holdout, cls.student, cls.guard = \
            support.student_and_guard(cls.tmp.name)
        test = support.dataset(cls.tmp.name, "test", 25, seed=9)
        cls.x, _ = test.batch(range(len(test)), cls.student)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_description(self):
        info = self.guard.info
        self.assertEqual((info.classes, info.variants, info.members,
                          info.rule), (4, V, M, dg.RULE_SCORE))
        self.assertAlmostEqual(info.target_frr, 0.1, places=6)
        for cls in range(4):
            members = self.guard.members(cls)
            self.assertEqual(len(members), V)
            # -1 means the last convolution: layer 3 of STUDENT_ARCH.
            self.assertEqual({m.prune_layer for m in members}, {0, 3})
            scores = [m.score for m in members]
            self.assertEqual(scores, sorted(scores, reverse=True))
            for m in range(1, V + 1):
                c = self.guard.calibration(cls, m)
                self.assertTrue(1 <= c.tau <= m, c)
                self.assertGreater(c.samples, 0)
                t = self.guard.info.target_frr
                self.assertAlmostEqual(
                    c.frr_spread, math.sqrt(t * (1 - t) / c.samples), 6)
            self.assertEqual(self.guard.calibration(cls),
                             self.guard.calibration(cls, M))

    def check_verdicts(self, verdicts, members, rule):
        predicted = self.student.predict(self.x).argmax(axis=1)
        self.assertEqual(len(verdicts), len(self.x))
        for v, label in zip(verdicts, predicted):
            self.assertEqual((v.label, v.rule, v.members), (label, rule,
                                                           members))
            self.assertEqual(len(v.member_labels), members)
            self.assertEqual(len(v.member_scores), members)
            self.assertEqual(v.votes, v.member_labels.count(v.label))
            self.assertAlmostEqual(v.score, np.mean(v.member_scores),
                                   places=5)
            c = self.guard.calibration(v.label, members)
            if rule == dg.RULE_VOTES:
                self.assertEqual(v.threshold, c.tau)
                self.assertEqual(v.accepted, v.votes >= c.tau)
            else:
                self.assertAlmostEqual(v.threshold, c.theta, places=6)
                self.assertEqual(v.accepted, v.score >= c.theta)

    def test_clean_inputs_are_mostly_accepted(self):
        with dg.Validator(self.guard) as validator:
            verdicts = validator.validate(self.x)
        self.check_verdicts(verdicts, M, dg.RULE_SCORE)
        self.assertGreaterEqual(np.mean([v.accepted for v in verdicts]), 0.8)

    def test_every_members_count_and_rule(self):
        for rule in (dg.RULE_VOTES, dg.RULE_SCORE):
            for members in range(1, V + 1):
                with self.subTest(rule=rule, members=members):
                    validator = dg.Validator(self.guard, members=members,
                                             rule=rule)
                    self.check_verdicts(validator.validate(self.x), members,
                                        rule)

    def test_host_labels_and_batches(self):
        whole = dg.Validator(self.guard).validate(self.x)
        small = dg.Validator(self.guard, max_batch=7)
        predicted = self.student.predict(self.x).argmax(axis=1)
        self.assertEqual(small.validate(self.x, labels=predicted), whole)
        other = (predicted + 1) % 4
        verdicts = small.validate(self.x, labels=other)
        self.assertEqual([v.label for v in verdicts], list(other))
        # Mostly rejected: the differentiators disagree with wrong labels.
        self.assertLessEqual(np.mean([v.accepted for v in verdicts]), 0.2)

    def test_member_models(self):
        # Phase 1 told the member's class: each member's score is the
        # probability its whole model gives that class.
        validator = dg.Validator(self.guard, members=V)
        for cls in range(4):
            verdicts = validator.validate(self.x, labels=[cls] * len(self.x))
            for rank in range(V):
                model = self.guard.member_model(cls, rank)
                self.assertEqual(model.input_shape, self.student.input_shape)
                y = model.predict(self.x).astype(np.float64)
                p = np.exp(y - y.max(axis=1, keepdims=True))
                p /= p.sum(axis=1, keepdims=True)
                scores = [v.member_scores[rank] for v in verdicts]
                np.testing.assert_allclose(p[:, cls], scores, atol=1e-5)
                self.assertEqual(list(p.argmax(axis=1)),
                                 [v.member_labels[rank] for v in verdicts])
        with self.assertRaises(dg.DiffguardError) as e:
            self.guard.member_model(4, 0)
        self.assertEqual(e.exception.status, dg.Status.INVALID_ARG)
        self.assertIn("class 4", e.exception.detail)

    def test_files(self):
        path = os.path.join(self.tmp.name, "bars.dg")
        self.guard.save(path)
        want = dg.Validator(self.guard).validate(self.x)
        with open(path, "rb") as f:
            data = f.read()
        for loaded in (dg.Guard.load(path, self.student),
                       dg.Guard.from_bytes(data, self.student)):
            self.assertEqual(loaded.info, self.guard.info)
            self.assertEqual(dg.Validator(loaded).validate(self.x), want)
        other = dg.Model.create(support.STUDENT_ARCH, (1, 8, 8), seed=99)
        with self.assertRaises(dg.DiffguardError) as e:
            dg.Guard.load(path, other)
        self.assertEqual(e.exception.status, dg.Status.MISMATCH)
        self.assertIn(path, e.exception.detail)

    def test_remove_work_dir(self):
        work = os.path.join(self.tmp.name, "guard.work")
        os.mkdir(work)
        made = ["settings.fingerprint", "class0-variant1.dgm",
                "class2-variant0.dgm.tmpAb12Cd"]
        for name in made + ["notes.txt", "class0-variant1.dgm.bak"]:
            open(os.path.join(work, name), "w").close()
        dg.Guard.remove_work_dir(work)
        self.assertEqual(sorted(os.listdir(work)),
                         ["class0-variant1.dgm.bak", "notes.txt"])
        for name in os.listdir(work):
            os.unlink(os.path.join(work, name))
        dg.Guard.remove_work_dir(work)
        self.assertFalse(os.path.exists(work))
        dg.Guard.remove_work_dir(work)  # already gone

    def test_shards_merge_into_the_same_guard(self):
        work = os.path.join(self.tmp.name, "shards.work")
        args = (self.student, self.train, self.holdout)
        options = dict(support.GUARD_OPTIONS, work_dir=work)
        dg.Guard.build_shard(*args, shard=(1, 2), **options)
        with self.assertRaises(dg.DiffguardError) as e:
            dg.Guard.merge(*args, **options)
        self.assertEqual(e.exception.status, dg.Status.STATE)
        self.assertIn("lacks 8 of the 16 differentiators (class 0 variant "
                      "0, class 0 variant 2", e.exception.detail)
        os.environ.update(OMPI_COMM_WORLD_RANK="0", OMPI_COMM_WORLD_SIZE="2")
        try:
            dg.Guard.build_shard(*args, shard="auto", **options)
        finally:
            del os.environ["OMPI_COMM_WORLD_RANK"]
            del os.environ["OMPI_COMM_WORLD_SIZE"]
        merged = dg.Guard.merge(*args, **options)
        paths = [os.path.join(self.tmp.name, n) for n in ("a.dg", "b.dg")]
        self.guard.save(paths[0])
        merged.save(paths[1])
        with open(paths[0], "rb") as a, open(paths[1], "rb") as b:
            self.assertEqual(a.read(), b.read())
        dg.Guard.remove_work_dir(work)

    def test_parse_shard(self):
        self.assertEqual(dg.parse_shard("2/5"), (2, 5))
        os.environ["JOB_COMPLETION_INDEX"] = "3"
        try:
            self.assertEqual(dg.parse_shard("auto/4"), (3, 4))
            with self.assertRaises(dg.DiffguardError) as e:
                dg.parse_shard("auto")
            self.assertIn("auto/N", e.exception.detail)
        finally:
            del os.environ["JOB_COMPLETION_INDEX"]
        with self.assertRaises(dg.DiffguardError) as e:
            dg.parse_shard("5/5")
        self.assertEqual(e.exception.status, dg.Status.INVALID_ARG)

    def test_errors(self):
        with self.assertRaises(dg.DiffguardError) as e:
            dg.Validator(self.guard, members=V + 1)
        self.assertEqual(e.exception.status, dg.Status.INVALID_ARG)
        self.assertIn("members", e.exception.detail)
        with self.assertRaisesRegex(TypeError, "unknown option 'member'"):
            dg.Validator(self.guard, member=2)
        with self.assertRaisesRegex(ValueError, "ratios takes 1 to 8"):
            dg.Guard.build(self.student, self.train, ratios=[0.1] * 9)
        with self.assertRaisesRegex(ValueError, "labels has shape"):
            dg.Validator(self.guard).validate(self.x, labels=[0])
        with self.assertRaises(dg.DiffguardError) as e:
            dg.Guard.build(self.student, self.train, progress=lambda *a: 1,
                           **support.GUARD_OPTIONS)
        self.assertEqual(e.exception.status, dg.Status.CANCELLED)


if __name__ == "__main__":
    unittest.main()
