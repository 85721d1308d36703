"""The pruner through the binding, on the fixture's Student (support.py's
STUDENT_ARCH: c8k3p1,relu,mp2,c16k3p1,relu,gap,fc4): mean activations
against numpy over the Student's own layer outputs, which units a pruned
copy loses, progress, release order and errors.

Needs DG_FIXTURE_DIR, the output of make_fixture.py."""
import gc
import os
import tempfile
import unittest

import numpy as np

import diffguard as dg
import support

CONV, RELU = 3, 4  # the second convolution and its ReLU
UNITS = 16


def student():
    return dg.Model.load(os.path.join(os.environ["DG_FIXTURE_DIR"],
                                      "student.dgm"))


class Pruning(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.data = support.dataset(cls.tmp.name, "train", 12, seed=1)
        cls.student = student()
        cls.x, cls.labels = cls.data.batch(range(len(cls.data)), cls.student)
        cls.pruner = dg.Pruner(cls.student, RELU)
        cls.pruner.measure(cls.data)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def relu_output(self, model):
        with dg.Session(model, len(self.x)) as session:
            return session.run(self.x, RELU)

    def test_activations_are_class_means(self):
        self.assertEqual(self.pruner.unit_count, UNITS)
        out = self.relu_output(self.student)
        for cls in range(4):
            got = self.pruner.activations(cls)
            self.assertEqual((got.shape, got.dtype), ((UNITS,), np.float32))
            want = out[self.labels == cls].mean(axis=(0, 2, 3))
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)

    def test_measuring_again_keeps_the_means(self):
        pruner = dg.Pruner(self.student, RELU)
        pruner.measure(self.data)
        first = pruner.activations(1)
        pruner.measure(self.data)
        np.testing.assert_allclose(pruner.activations(1), first, rtol=1e-5)

    def check_pruned(self, cls, fraction, mode):
        model = self.pruner.prune(cls, fraction, mode)
        count = int(round(fraction * UNITS))
        self.assertEqual(model.layers[CONV].pruned_units, count)
        self.assertEqual(self.student.layers[CONV].pruned_units, 0)
        means = self.pruner.activations(cls)
        # Most (or least) activated first, ties by unit index.
        order = sorted(range(UNITS), key=lambda u: (
            -means[u] if mode == dg.PRUNE_MOST else means[u], u))
        gone = sorted(order[:count])
        out = self.relu_output(model)
        dead = [u for u in range(UNITS) if not out[:, u].any()]
        self.assertEqual(sorted(set(gone) - set(dead)), [])
        kept = [u for u in range(UNITS) if u not in gone]
        np.testing.assert_array_equal(out[:, kept],
                                      self.relu_output(self.student)[:,
                                                                     kept])
        return gone

    def test_prune_most_and_least(self):
        most = self.check_pruned(2, 0.25, dg.PRUNE_MOST)
        least = self.check_pruned(2, 0.25, dg.PRUNE_LEAST)
        self.assertFalse(set(most) & set(least))
        self.check_pruned(0, 0.5, dg.PRUNE_MOST)
        self.assertEqual(self.pruner.prune(1, 0).layers[CONV].pruned_units, 0)

    def test_progress(self):
        seen = []
        pruner = dg.Pruner(self.student, RELU)
        pruner.measure(self.data,
                       progress=lambda *a: seen.append(a[:3]) and False)
        self.assertTrue(seen)
        self.assertEqual({s for s, _, _ in seen}, {"measure"})
        self.assertEqual(seen[-1][1:], (len(self.data), len(self.data)))
        with self.assertRaises(dg.DiffguardError) as e:
            pruner.measure(self.data, progress=lambda *_: True)
        self.assertEqual(e.exception.status, dg.Status.CANCELLED)

    def test_errors(self):
        for layer, words in ((7, "pruner layer 7 of 7"),
                             (-1, "pruner layer -1 of 7")):
            with self.assertRaises(dg.DiffguardError) as e:
                dg.Pruner(self.student, layer)
            self.assertEqual(e.exception.status, dg.Status.INVALID_ARG)
            self.assertIn(words, e.exception.detail)
        with self.assertRaises(dg.DiffguardError) as e:
            self.pruner.activations(4)
        self.assertEqual(e.exception.status, dg.Status.INVALID_ARG)
        self.assertIn("class 4 of 4", e.exception.detail)
        with self.assertRaises(dg.DiffguardError) as e:
            self.pruner.prune(0, 1.5)
        self.assertEqual(e.exception.status, dg.Status.INVALID_ARG)


class Lifetime(unittest.TestCase):
    def test_the_pruner_keeps_its_model(self):
        with tempfile.TemporaryDirectory() as tmp:
            data = support.dataset(tmp, "train", 4, seed=1)
        x, _ = data.batch(range(len(data)))
        model = student()
        pruner = dg.Pruner(model, RELU)
        model.close()  # the C pruner holds a reference of its own
        del model, pruner.model
        gc.collect()
        pruner.measure(data)
        data.close()
        pruned = pruner.prune(3, 0.5)
        pruner.close()
        gc.collect()
        self.assertEqual(pruned.layers[CONV].pruned_units, UNITS // 2)
        self.assertEqual(pruned.predict(x).shape, (len(x), 4))


if __name__ == "__main__":
    unittest.main()
