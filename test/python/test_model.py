"""Models and sessions: every layer's output against a numpy forward pass
over the weights read from the model file (doc/model-format.md), shapes,
softmax sums, file round trips, class names, transfer, closed objects and
errors."""
import os
import struct
import tempfile
import unittest
import zlib

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

import diffguard as dg


def parse_model_file(data):
    """The layers of a model file as dicts, after checking magic and CRC."""
    assert data[:8] == b"DGMODEL\0", data[:8]
    assert struct.unpack_from("<I", data, len(data) - 4)[0] == \
        zlib.crc32(data[:-4])
    sections, pos = {}, 28
    while pos < len(data) - 4:
        (length,) = struct.unpack_from("<Q", data, pos + 4)
        sections[data[pos:pos + 4]] = data[pos + 12:pos + 12 + length]
        pos += 12 + length
    (n_layers,) = struct.unpack_from("<I", sections[b"HEAD"], 52)
    layr, off, layers = sections[b"LAYR"], 0, []
    for _ in range(n_layers):
        kind, input0, _, _, units, kernel, stride, padding = \
            struct.unpack_from("<iiiIIIII", layr, off)
        (n_params,) = struct.unpack_from("<I", layr, off + 40)
        off += 44
        params = []
        for _ in range(n_params):
            (count,) = struct.unpack_from("<Q", layr, off)
            params.append(np.frombuffer(layr, "<f4", count, off + 8))
            off += 8 + 4 * count
        (mask_len,) = struct.unpack_from("<I", layr, off)
        off += 4 + mask_len
        layers.append(dict(kind=kind, input0=input0, units=units,
                           kernel=kernel, stride=stride, padding=padding,
                           params=params))
    return layers


def windows(x, layer, fill):
    """(N, C, H', W', k, k) pooling or convolution windows of x."""
    p, k, s = layer["padding"], layer["kernel"], layer["stride"]
    x = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=fill)
    return sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::s, ::s]


def reference_forward(layers, x):
    """Every layer's output for a chain of the layer kinds used below."""
    outputs = []
    for layer in layers:
        assert layer["input0"] == len(outputs) - 1, "a chain only"
        kind, params = layer["kind"], layer["params"]
        if kind == dg.LAYER_CONV:
            k = layer["kernel"]
            w = params[0].reshape(layer["units"], x.shape[1], k, k)
            x = np.einsum("nchwij,ocij->nohw", windows(x, layer, 0.0), w,
                          dtype=np.float64) + params[1][None, :, None, None]
        elif kind == dg.LAYER_RELU:
            x = np.maximum(x, 0)
        elif kind == dg.LAYER_MAXPOOL:
            x = windows(x, layer, -np.inf).max(axis=(4, 5))
        elif kind == dg.LAYER_AVGPOOL:  # no padding in these models
            x = windows(x, layer, 0.0).mean(axis=(4, 5))
        elif kind == dg.LAYER_GLOBAL_AVGPOOL:
            x = x.mean(axis=(2, 3), keepdims=True)
        elif kind == dg.LAYER_LINEAR:
            w = params[0].reshape(layer["units"], -1)
            x = (x.reshape(len(x), -1) @ w.T.astype(np.float64) +
                 params[1])[:, :, None, None]
        elif kind == dg.LAYER_SOFTMAX:
            e = np.exp(x - x.max(axis=1, keepdims=True))
            x = e / e.sum(axis=1, keepdims=True)
        else:
            raise AssertionError("no reference for kind %d" % kind)
        outputs.append(x)
    return outputs


# Strided and padded convolution, max and average pooling with floors,
# global pooling, linear layers over C x H x W, softmax.
SPECS = [("c4k3p1,relu,mp2,c6k3s2,relu,fc7,relu,fc5,softmax", (2, 11, 11)),
         ("c3k2,relu,ap2,gap,fc4", (1, 9, 9))]


class ForwardPass(unittest.TestCase):
    def test_every_layer_matches_numpy(self):
        rng = np.random.default_rng(1)
        for spec, shape in SPECS:
            with self.subTest(spec=spec), \
                    dg.Model.create(spec, shape, seed=7) as model, \
                    dg.Session(model, max_batch=5) as session:
                layers = parse_model_file(model.to_bytes())
                x = rng.normal(size=(5,) + shape).astype(np.float32)
                session.run(x)
                want = reference_forward(layers, x.astype(np.float64))
                compared = 0
                for i, (info, ref) in enumerate(zip(model.layers, want)):
                    self.assertEqual(info.param_count, sum(
                        p.size for p in layers[i]["params"]))
                    try:
                        got = session.output(i)
                    except dg.DiffguardError as e:  # conv + relu fused
                        self.assertEqual(e.status, dg.Status.STATE)
                        self.assertIn("fused", e.detail)
                        continue
                    self.assertEqual(got.shape, (5, info.channels,
                                                 info.height, info.width))
                    np.testing.assert_allclose(got, ref, rtol=1e-4,
                                               atol=1e-5, err_msg=str(i))
                    compared += 1
                self.assertGreaterEqual(compared, len(layers) - 3)
                np.testing.assert_array_equal(
                    model.predict(x, batch_size=2),
                    session.output(-1).reshape(5, -1))

    def test_softmax_rows_sum_to_one(self):
        spec, shape = SPECS[0]
        with dg.Model.create(spec, shape) as model:
            p = model.predict(np.random.default_rng(2).normal(
                size=(70,) + shape))  # two runs of the default batch
            self.assertEqual(p.shape, (70, 5))
            np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-5)
            self.assertTrue((p >= 0).all())


class Files(unittest.TestCase):
    def test_round_trips(self):
        model = dg.Model.create(*SPECS[1], seed=3)
        model.class_names = ["a", "b", "c", "d"]
        x = np.random.default_rng(3).normal(size=(3, 1, 9, 9))
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "m.dgm")
            model.save(path)
            loaded = dg.Model.load(path)
            with open(path, "rb") as f:
                self.assertEqual(f.read(), model.to_bytes())
        copy = dg.Model.from_bytes(model.to_bytes())
        for other in (loaded, copy):
            self.assertEqual(other.class_names, ["a", "b", "c", "d"])
            self.assertEqual(other.layers, model.layers)
            np.testing.assert_array_equal(other.predict(x), model.predict(x))

    def test_corrupt_and_missing_files(self):
        data = bytearray(dg.Model.create("fc2", (1, 1, 1)).to_bytes())
        data[40] ^= 1
        with self.assertRaises(dg.DiffguardError) as e:
            dg.Model.from_bytes(data)
        self.assertEqual(e.exception.status, dg.Status.FORMAT)
        self.assertIn("checksum", e.exception.detail)
        with self.assertRaises(dg.DiffguardError) as e:
            dg.Model.load("/nonexistent/m.dgm")
        self.assertEqual(e.exception.status, dg.Status.IO)
        self.assertIn("/nonexistent/m.dgm", e.exception.detail)


class Description(unittest.TestCase):
    def test_shapes_and_names(self):
        model = dg.Model.create("c4k3,relu,mp2,fc3", (3, 10, 12))
        self.assertEqual(model.input_shape, (3, 10, 12))
        self.assertEqual(model.output_size, 3)
        self.assertEqual([l.kind for l in model.layers],
                         [dg.LAYER_CONV, dg.LAYER_RELU, dg.LAYER_MAXPOOL,
                          dg.LAYER_LINEAR])
        pool = model.layers[2]
        self.assertEqual((pool.channels, pool.height, pool.width), (4, 4, 5))
        self.assertEqual(model.class_names, ["", "", ""])
        model.class_names = ["cat", "dog", "émeu"]
        self.assertEqual(model.class_names, ["cat", "dog", "émeu"])
        with self.assertRaises(dg.DiffguardError) as e:
            model.class_names = ["one"]
        self.assertEqual(e.exception.status, dg.Status.SHAPE)
        self.assertIn("1 class names for 3 outputs", str(e.exception))

    def test_transfer_freezes_the_copied_layers(self):
        teacher = dg.Model.create("c4k3,relu,fc8,relu,fc5", (1, 8, 8))
        student = teacher.transfer("fc3")
        frozen = [bool(l.flags & dg.LAYER_FLAG_FROZEN)
                  for l in student.layers]
        self.assertEqual(frozen, [True, True, True, True, False])
        self.assertEqual(student.output_size, 3)
        student.set_frozen(0, False)
        self.assertFalse(student.layers[0].flags & dg.LAYER_FLAG_FROZEN)


class Errors(unittest.TestCase):
    def test_work_limits_refuse_and_restore(self):
        # "c2k3,relu,fc3" on 1x5x5: 324 + 18 + 108 FLOPs (doc/limits.md).
        self.assertEqual(dg.limit(dg.LIMIT_FLOPS_PER_INPUT), 64 * 10**9)
        self.assertEqual(dg.limit(99), 0)
        try:
            dg.set_limit(dg.LIMIT_FLOPS_PER_INPUT, 449)
            with self.assertRaises(dg.DiffguardError) as caught:
                dg.Model.create("c2k3,relu,fc3", (1, 5, 5))
            self.assertEqual(caught.exception.status, dg.Status.UNSUPPORTED)
            self.assertIn("DG_LIMIT_FLOPS_PER_INPUT", caught.exception.detail)
            dg.set_limit(dg.LIMIT_FLOPS_PER_INPUT, 450)
            dg.Model.create("c2k3,relu,fc3", (1, 5, 5)).close()
        finally:
            dg.set_limit(dg.LIMIT_FLOPS_PER_INPUT, 0)
        self.assertEqual(dg.limit(dg.LIMIT_FLOPS_PER_INPUT), 64 * 10**9)
        with self.assertRaises(dg.DiffguardError):
            dg.set_limit(99, 1)

    def test_bad_architecture_names_the_layer(self):
        with self.assertRaises(dg.DiffguardError) as e:
            dg.Model.create("c4k3,bogus", (1, 8, 8))
        self.assertEqual(e.exception.status, dg.Status.INVALID_ARG)
        self.assertEqual(e.exception.function, "dg_model_create")
        self.assertIn("bogus", e.exception.detail)
        self.assertEqual(e.exception.message,
                         dg._lib.dg_strerror(1).decode())

    def test_shapes_are_checked_before_calling_c(self):
        model = dg.Model.create("fc2", (1, 4, 4))
        session = dg.Session(model, max_batch=2)
        for bad in (np.zeros((1, 4, 4)), np.zeros((2, 1, 4, 5)),
                    np.zeros((0, 1, 4, 4))):
            with self.assertRaisesRegex(ValueError, "expected"):
                model.predict(bad)
        with self.assertRaisesRegex(ValueError, "up to 2"):
            session.run(np.zeros((3, 1, 4, 4)))
        with self.assertRaises(dg.DiffguardError) as e:
            session.output(5)
        self.assertEqual(e.exception.status, dg.Status.INVALID_ARG)

    def test_closed_objects_refuse_calls(self):
        model = dg.Model.create("fc2", (1, 4, 4))
        with dg.Session(model) as session:
            pass
        model.close()
        model.close()
        with self.assertRaisesRegex(ValueError, "Model is closed"):
            model.output_size
        with self.assertRaisesRegex(ValueError, "Session is closed"):
            session.run(np.zeros((1, 1, 4, 4)))


if __name__ == "__main__":
    unittest.main()
