"""ONNX through the binding: export then import gives the same layers and
the same outputs, for files and bytes, for the fixture's trained Student
and for a pruned copy; what the import resets; corrupt and missing files.

Needs DG_FIXTURE_DIR, the output of make_fixture.py."""
import os
import tempfile
import unittest

import numpy as np

import diffguard as dg
import support

# Strided and padded convolution, both poolings, batch norm, a residual
# add, flatten, softmax.
SPECS = [("c4k3p1,relu,mp2,c6k3s2,relu,fc7,relu,fc5,softmax", (2, 11, 11)),
         ("c3k2,bn,relu,ap2,c3k1,add@3,relu,gap,flatten,fc4", (1, 9, 9))]


def layer_shapes(model):
    return [(l.kind, l.channels, l.height, l.width) for l in model.layers]


class RoundTrip(unittest.TestCase):
    def check_same(self, model, imported, x):
        self.assertEqual(imported.input_shape, model.input_shape)
        self.assertEqual(imported.output_size, model.output_size)
        np.testing.assert_allclose(imported.predict(x), model.predict(x),
                                   rtol=1e-5, atol=1e-6)

    def test_specs_through_bytes_and_files(self):
        rng = np.random.default_rng(2)
        for spec, shape in SPECS:
            with self.subTest(spec=spec):
                model = dg.Model.create(spec, shape, seed=5)
                x = rng.normal(size=(6,) + shape).astype(np.float32)
                data = model.to_onnx_bytes()
                self.assertGreater(len(data), 100)
                from_bytes = dg.Model.from_onnx_bytes(data)
                with tempfile.TemporaryDirectory() as tmp:
                    path = os.path.join(tmp, "m.onnx")
                    model.export_onnx(path)
                    with open(path, "rb") as f:
                        self.assertEqual(f.read(), data)
                    from_file = dg.Model.import_onnx(path)
                for imported in (from_bytes, from_file):
                    self.check_same(model, imported, x)
                self.assertEqual(model.to_onnx_bytes(), data)  # determinism
                # Again through ONNX: the flatten before fc4 is gone
                # (doc/onnx.md, "Round trips"), the outputs stay.
                again = dg.Model.from_onnx_bytes(from_bytes.to_onnx_bytes())
                self.check_same(model, again, x)

    def test_trained_student_keeps_its_layers_and_names(self):
        student = dg.Model.load(os.path.join(os.environ["DG_FIXTURE_DIR"],
                                             "student.dgm"))
        imported = dg.Model.from_onnx_bytes(student.to_onnx_bytes())
        self.assertEqual(layer_shapes(imported), layer_shapes(student))
        pixels, labels = support.bars(3, seed=4)
        x = pixels.astype(np.float32) / 255
        self.check_same(student, imported, x)
        self.assertEqual(student.class_names, support.CLASS_NAMES)
        # Carried in the ONNX metadata_props.
        self.assertEqual(imported.class_names, support.CLASS_NAMES)

    def test_pruned_units_export_as_zeros(self):
        student = dg.Model.load(os.path.join(os.environ["DG_FIXTURE_DIR"],
                                             "student.dgm"))
        with tempfile.TemporaryDirectory() as tmp:
            train = support.dataset(tmp, "train", 10, seed=1)
        pruner = dg.Pruner(student, 4)
        pruner.measure(train)
        pruned = pruner.prune(2, 0.5)
        imported = dg.Model.from_onnx_bytes(pruned.to_onnx_bytes())
        x, _ = train.batch(range(len(train)), student)
        self.check_same(pruned, imported, x)
        self.assertFalse(np.allclose(pruned.predict(x), student.predict(x)))


class Errors(unittest.TestCase):
    def test_corrupt_and_missing(self):
        data = bytearray(dg.Model.create("c2k3,relu,fc3",
                                         (1, 5, 5)).to_onnx_bytes())
        for broken in (b"", b"not an onnx model", data[:len(data) // 2]):
            with self.assertRaises(dg.DiffguardError) as e:
                dg.Model.from_onnx_bytes(broken)
            self.assertEqual(e.exception.status, dg.Status.FORMAT)
            self.assertIn("ONNX model", e.exception.detail)
        with self.assertRaises(dg.DiffguardError) as e:
            dg.Model.import_onnx("/nonexistent/m.onnx")
        self.assertEqual(e.exception.status, dg.Status.IO)
        self.assertIn("/nonexistent/m.onnx", e.exception.detail)

    def test_a_model_file_is_not_onnx(self):
        model_file = dg.Model.create("fc3", (1, 4, 4)).to_bytes()
        with self.assertRaises(dg.DiffguardError) as e:
            dg.Model.from_onnx_bytes(model_file)
        self.assertEqual(e.exception.status, dg.Status.FORMAT)


if __name__ == "__main__":
    unittest.main()
