"""Training through the binding: a synthetic task learnt to high held-out
accuracy, the report and progress callback, cancelling from the callback,
training into a file, transfer with frozen layers, evaluation's confusion
matrix, option keywords."""
import os
import tempfile
import unittest

import numpy as np

import diffguard as dg
import support


class Training(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.train = support.dataset(cls.tmp.name, "train", 48, seed=1)
        cls.held = support.dataset(cls.tmp.name, "held", 40, seed=2)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_learns_the_bars(self):
        model = dg.Model.create(support.STUDENT_ARCH, (1, 8, 8), seed=3)
        self.assertLess(model.evaluate(self.held).accuracy, 0.6)
        calls = []
        report = model.train(self.train, epochs=10, batch_size=16,
                             learning_rate=5e-3,
                             progress=lambda *a: calls.append(a))
        self.assertEqual(report.epochs_run, 10)
        self.assertEqual(report.resumed_epoch, 0)
        self.assertGreater(report.last_accuracy, 0.9)
        self.assertTrue(calls)
        self.assertTrue(all(stage == "train" for stage, *_ in calls))
        self.assertEqual(calls[-1][1], calls[-1][2])  # done == total
        result = model.evaluate(self.held)
        self.assertEqual((result.total, result.confusion.shape), (160, (4, 4)))
        self.assertEqual(result.confusion.sum(), 160)
        self.assertEqual(np.trace(result.confusion), result.correct)
        self.assertGreaterEqual(result.accuracy, 0.95)

    def test_the_callback_can_stop_training(self):
        model = dg.Model.create(support.STUDENT_ARCH, (1, 8, 8))
        with self.assertRaises(dg.DiffguardError) as e:
            model.train(self.train, progress=lambda *a: True)
        self.assertEqual(e.exception.status, dg.Status.CANCELLED)

        def fail(*_):
            raise KeyError("from the callback")
        with self.assertRaisesRegex(KeyError, "from the callback"):
            model.train(self.train, progress=fail)

    def test_training_into_a_file_drops_the_checkpoint(self):
        path = os.path.join(self.tmp.name, "trained.dgm")
        checkpoint = path + ".ckpt"
        a = dg.Model.create(support.STUDENT_ARCH, (1, 8, 8), seed=4)
        b = dg.Model.create(support.STUDENT_ARCH, (1, 8, 8), seed=4)
        a.train(self.train, epochs=2)
        report = b.train(self.train, epochs=2, checkpoint_path=checkpoint,
                         save_to=path)
        self.assertEqual(report.epochs_run, 2)
        self.assertFalse(os.path.exists(checkpoint))
        x, _ = self.held.batch(range(8))
        np.testing.assert_array_equal(dg.Model.load(path).predict(x),
                                      a.predict(x))

    def test_transfer_keeps_frozen_layers(self):
        teacher = dg.Model.create(support.STUDENT_ARCH, (1, 8, 8), seed=5)
        student = teacher.transfer("fc2")
        two = self.train.select([0, 1])
        student.train(two, epochs=2, batch_size=16, distill_from=None,
                      optimizer=dg.OPTIMIZER_SGD, learning_rate=0.05)
        x, _ = two.batch(range(8))
        # Layer 4 (relu after the second convolution) is frozen in both.
        with dg.Session(teacher, 8) as t, dg.Session(student, 8) as s:
            np.testing.assert_array_equal(t.run(x, 4), s.run(x, 4))
            self.assertEqual(s.run(x).shape, (8, 2, 1, 1))

    def test_patch_moves_the_cut_away_from_the_teacher(self):
        teacher = dg.Model.create(support.STUDENT_ARCH, (1, 8, 8), seed=6)
        student = teacher.transfer("fc4")
        report = student.patch(teacher, self.train, epochs=2, batch_size=16,
                               patch_cap=2, patch_cap_max=4,
                               patch_weight=0.05)
        self.assertGreater(report.last_patch_distance, 0)
        x, _ = self.train.batch(range(8))
        with dg.Session(teacher, 8) as t, dg.Session(student, 8) as s:
            self.assertGreater(np.abs(t.run(x, 4) - s.run(x, 4)).max(), 0)
        plain = dg.Model.create(support.STUDENT_ARCH, (1, 8, 8))
        self.assertTrue(np.isnan(plain.train(self.train, epochs=1)
                                 .last_patch_distance))

    def test_unknown_or_bad_options(self):
        model = dg.Model.create("fc4", (1, 8, 8))
        with self.assertRaisesRegex(TypeError, "unknown option 'epoch'.*"
                                               "epochs"):
            model.train(self.train, epoch=1)
        with self.assertRaisesRegex(TypeError, "unknown option 'struct_size'"):
            model.train(self.train, struct_size=4)
        with self.assertRaises(dg.DiffguardError) as e:
            model.train(self.train, batch_size=0)
        self.assertEqual(e.exception.status, dg.Status.INVALID_ARG)
        self.assertTrue(e.exception.detail)


if __name__ == "__main__":
    unittest.main()
