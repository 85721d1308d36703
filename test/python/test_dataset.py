"""Data sets: IDX files, image folders and numpy arrays against the pixels
written, selection, batches with and without a model, and errors."""
import os
import tempfile
import unittest

import numpy as np

import diffguard as dg
import support


class Datasets(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.pixels, self.labels = support.bars(5, seed=4)
        self.idx = support.write_idx(os.path.join(self.tmp.name, "bars"),
                                     self.pixels, self.labels)
        self.ds = dg.Dataset.load_idx(*self.idx)

    def tearDown(self):
        self.ds.close()
        self.tmp.cleanup()

    def test_idx_batches_hold_the_pixels_written(self):
        self.assertEqual((len(self.ds), self.ds.count), (20, 20))
        self.assertEqual(self.ds.sample_shape, (1, 8, 8))
        self.assertEqual(self.ds.class_count, 4)
        x, labels = self.ds.batch(range(20))
        self.assertEqual((x.dtype, x.shape), (np.float32, (20, 1, 8, 8)))
        np.testing.assert_allclose(x, self.pixels / 255.0, rtol=1e-6)
        np.testing.assert_array_equal(labels, self.labels)
        # A model's default preprocessing is the same scaling.
        model = dg.Model.create("fc4", (1, 8, 8))
        np.testing.assert_array_equal(self.ds.batch([3, 1], model)[0],
                                      x[[3, 1]])

    def test_arrays_hold_what_the_idx_file_holds(self):
        x, labels = self.ds.batch(range(20))
        gray = self.pixels[:, 0]  # (N, H, W)
        for images in (gray, self.pixels, self.pixels / 255.0,
                       (self.pixels / 255.0).astype(np.float32)):
            ds = dg.Dataset.from_arrays(images, self.labels.tolist())
            self.assertEqual((len(ds), ds.sample_shape, ds.class_count),
                             (20, (1, 8, 8), 4))
            self.assertIsNone(ds.class_names)
            got, got_labels = ds.batch(range(20))
            np.testing.assert_array_equal(got, x)
            np.testing.assert_array_equal(got_labels, labels)
        named = dg.Dataset.from_arrays(gray, self.labels, support.CLASS_NAMES)
        self.assertEqual(named.class_names, support.CLASS_NAMES)
        # Colour, planar: channel c of sample i is its gray image + c.
        rgb = np.stack([gray + c for c in range(3)], axis=1)
        colour = dg.Dataset.from_arrays(rgb, self.labels)
        self.assertEqual(colour.sample_shape, (3, 8, 8))
        np.testing.assert_allclose(colour.batch([5])[0][0, 2],
                                   (gray[5] + 2) / 255.0, rtol=1e-6)

    def test_training_on_arrays_is_training_on_the_file(self):
        models = []
        for ds in (self.ds, dg.Dataset.from_arrays(self.pixels, self.labels)):
            model = dg.Model.create(support.STUDENT_ARCH, (1, 8, 8), seed=5)
            model.train(ds, epochs=2, batch_size=8, learning_rate=5e-3)
            models.append(model.predict(self.ds.batch(range(20))[0]))
        np.testing.assert_allclose(models[0], models[1], rtol=1e-5,
                                   atol=1e-6)

    def test_array_errors(self):
        gray = self.pixels[:, 0]
        for images, labels, message in (
                (gray[0], self.labels, "must be \\(N, H, W\\)"),
                (gray.astype(np.int16), self.labels, "uint8 or floats"),
                (gray * 1.0, self.labels, "in \\[0, 1\\]"),
                (gray, self.labels[:3], "20 integers"),
                (gray, self.labels * 0.5, "20 integers"),
                (gray, self.labels - 1, "from 0")):
            with self.assertRaisesRegex(ValueError, message):
                dg.Dataset.from_arrays(images, labels)
        with self.assertRaises(dg.DiffguardError) as e:
            dg.Dataset.from_arrays(gray, self.labels, ["a", "b"])
        self.assertEqual(e.exception.status, dg.Status.MISMATCH)
        self.assertIn("2 class names for labels 0 to 3", e.exception.detail)
        with self.assertRaises(dg.DiffguardError) as e:
            dg.Dataset.from_arrays(np.zeros((2, 2, 4, 4), np.uint8), [0, 1])
        self.assertIn("channels is 2", e.exception.detail)

    def test_select_relabels_in_the_order_given(self):
        sub = self.ds.select([2, 0], per_class=3)
        self.assertEqual((len(sub), sub.class_count), (6, 2))
        x, labels = sub.batch(range(6))
        np.testing.assert_array_equal(labels, [1, 0, 1, 0, 1, 0])
        originals = [0, 2, 4, 6, 8, 10]  # labels 0 2 0 2 0 2
        np.testing.assert_array_equal(x, self.ds.batch(originals)[0])
        # Past the first three of each class: class 0 is samples 0, 4, 8,
        # 12, 16 and class 2 samples 2, 6, 10, 14, 18.
        later = self.ds.select([2, 0], per_class=1, skip=3)
        x, labels = later.batch(range(2))
        np.testing.assert_array_equal(labels, [1, 0])
        np.testing.assert_array_equal(x, self.ds.batch([12, 14])[0])
        # The same offset when the data is opened by spec.
        opened = dg.Dataset.open("idx:%s,%s" % self.idx, classes=[2, 0],
                                 per_class=1, skip=3)
        x, labels = opened.batch(range(2))
        np.testing.assert_array_equal(labels, [1, 0])
        np.testing.assert_array_equal(x, self.ds.batch([12, 14])[0])

    def test_folder(self):
        root = os.path.join(self.tmp.name, "folder")
        for i, (image, label) in enumerate(zip(self.pixels, self.labels)):
            os.makedirs(os.path.join(root, support.CLASS_NAMES[label]),
                        exist_ok=True)
            support.write_png(os.path.join(
                root, support.CLASS_NAMES[label], "%02d.png" % i), image[0])
        ds = dg.Dataset.load_folder(root, (1, 8, 8))
        self.assertEqual((len(ds), ds.class_count), (20, 4))
        x, labels = ds.batch(range(20))
        # Classes are the sorted folder names; files keep their order.
        order = sorted(support.CLASS_NAMES)
        want = sorted(range(20), key=lambda i: (
            order.index(support.CLASS_NAMES[self.labels[i]]), i))
        np.testing.assert_array_equal(
            labels, [order.index(support.CLASS_NAMES[self.labels[i]])
                     for i in want])
        np.testing.assert_allclose(x, self.pixels[want] / 255.0, rtol=1e-6)
        self.assertEqual(ds.class_names, order)
        # The same folder by spec, two classes in the order asked, two
        # samples each, their names following.
        picked = dg.Dataset.open(root, (1, 8, 8), classes=[3, 0],
                                 per_class=2)
        self.assertEqual(picked.class_names, [order[3], order[0]])
        x2, labels2 = picked.batch(range(4))
        firsts = {c: [i for i in want if order.index(
            support.CLASS_NAMES[self.labels[i]]) == c][:2] for c in (0, 3)}
        np.testing.assert_array_equal(labels2[np.argsort(labels2,
                                                         kind="stable")],
                                      [0, 0, 1, 1])
        np.testing.assert_allclose(
            np.concatenate([x2[labels2 == 0], x2[labels2 == 1]]),
            self.pixels[firsts[3] + firsts[0]] / 255.0, rtol=1e-6)

    def test_errors(self):
        with self.assertRaises(dg.DiffguardError) as e:
            self.ds.batch([20])
        self.assertEqual(e.exception.status, dg.Status.INVALID_ARG)
        self.assertIn("indices[0] is 20", e.exception.detail)
        with self.assertRaises(dg.DiffguardError) as e:
            self.ds.batch([0], dg.Model.create("fc4", (1, 4, 4)))
        self.assertEqual(e.exception.status, dg.Status.SHAPE)
        with self.assertRaises(dg.DiffguardError) as e:
            dg.Dataset.load_idx(os.path.join(self.tmp.name, "none"),
                                os.path.join(self.tmp.name, "none"))
        self.assertEqual(e.exception.status, dg.Status.IO)
        with self.assertRaisesRegex(ValueError, "non-empty"):
            self.ds.batch([])
        with self.assertRaisesRegex(ValueError, "non-empty"):
            self.ds.select([])
        with self.assertRaises(dg.DiffguardError) as e:
            dg.Dataset.open("nope:x")
        self.assertEqual(e.exception.status, dg.Status.INVALID_ARG)
        self.assertIn("unknown data spec", e.exception.detail)
        self.assertIsNone(self.ds.class_names)


if __name__ == "__main__":
    unittest.main()
