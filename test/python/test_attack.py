"""The attack API through the binding, on the fixture's Student (synthetic
bars, support.py): DSSIM; presets; PGD and FGSM against a numpy
cross-entropy and their L-infinity box; mimicry against the Student's own
features and DSSIM; seeds and threads; progress; adversarial sets round
trip through a file; PNG output; errors.

Needs DG_FIXTURE_DIR, the output of make_fixture.py."""
import os
import tempfile
import unittest
import warnings

import numpy as np

import diffguard as dg
import support

# The Student's last hidden layer (global average pool), before fc4: what
# mimicry matches by default.
FEATURE_LAYER = 5


def cross_entropy(logits, labels):
    """Cross-entropy of labels[i] for each row of logits, in float64."""
    logits = logits.astype(np.float64)
    top = logits.max(axis=1, keepdims=True)
    log_sum = np.log(np.exp(logits - top).sum(axis=1)) + top[:, 0]
    return log_sum - logits[np.arange(len(labels)), labels]


class Fixture(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.student = dg.Model.load(os.path.join(os.environ["DG_FIXTURE_DIR"],
                                                 "student.dgm"))
        pixels, cls.labels = support.bars(4, seed=11)  # 16 unseen images
        cls.x = pixels.astype(np.float32) / 255

    def features(self, x):
        with dg.Session(self.student, len(x)) as session:
            return session.run(x, FEATURE_LAYER).reshape(len(x), -1)


class Dssim(Fixture):
    def test_identical_images_are_zero(self):
        for image in self.x[:3]:
            self.assertEqual(dg.dssim(image, image), 0.0)
            self.assertEqual(dg.dssim(image[0], image[0]), 0.0)  # (H, W)

    def test_grows_with_noise_and_is_symmetric(self):
        rng = np.random.default_rng(1)
        a = self.x[0]
        noise = rng.uniform(-1, 1, a.shape).astype(np.float32)
        values = [dg.dssim(a, np.clip(a + s * noise, 0, 1))
                  for s in (0.02, 0.1, 0.4)]
        self.assertTrue(0 < values[0] < values[1] < values[2] <= 0.5, values)
        b = np.clip(a + 0.1 * noise, 0, 1)
        self.assertAlmostEqual(dg.dssim(a, b), dg.dssim(b, a), places=6)

    def test_shapes_are_checked(self):
        with self.assertRaisesRegex(ValueError, "same shape"):
            dg.dssim(self.x[0], self.x[0][:, :4])
        with self.assertRaisesRegex(ValueError, "same shape"):
            dg.dssim(self.x[:2], self.x[:2])


class Settings(unittest.TestCase):
    def test_presets(self):
        strong = dg.attack_settings()
        self.assertEqual(strong, dg.attack_settings(dg.ATTACK_PRESET_STRONG))
        self.assertEqual((strong.method, strong.optimizer, strong.iterations),
                         (dg.ATTACK_MIMIC_DSSIM, dg.ATTACK_ADAM, 1000))
        self.assertAlmostEqual(strong.budget, 0.01, places=7)
        self.assertAlmostEqual(strong.lambda_ * strong.budget,
                               dg.ATTACK_STRONG_LAMBDA_BUDGET, delta=1)
        paper = dg.attack_settings(dg.ATTACK_PRESET_PAPER)
        self.assertEqual((paper.optimizer, paper.iterations, paper.patience),
                         (dg.ATTACK_ADADELTA, 2000, 0))
        self.assertAlmostEqual(paper.budget, 0.003, places=7)
        self.assertEqual(paper.lambda_, 1e10)

    def test_keywords(self):
        s = dg.attack_settings(method=dg.ATTACK_PGD, lambda_=3.0, seed=9)
        self.assertEqual((s.method, s.lambda_, s.seed),
                         (dg.ATTACK_PGD, 3.0, 9))
        self.assertEqual(dg.attack_settings(**s._asdict()), s)
        with self.assertRaisesRegex(TypeError, "unknown option 'bogus'.*"
                                               "lambda_"):
            dg.attack_settings(bogus=1)
        with self.assertRaises(dg.DiffguardError) as e:
            dg.attack_settings(7)
        self.assertEqual(e.exception.status, dg.Status.INVALID_ARG)
        self.assertIn("preset 7", e.exception.detail)


class SignAttacks(Fixture):
    def check_box(self, result, epsilon):
        n = len(self.x)
        self.assertEqual(result.adversarial.shape, self.x.shape)
        self.assertEqual(result.adversarial.dtype, np.float32)
        for name in ("dssim", "feature_distance", "within_budget"):
            self.assertEqual(getattr(result, name).shape, (n,), name)
        self.assertEqual(result.within_budget.dtype, bool)
        self.assertTrue(result.within_budget.all())
        self.assertLessEqual(np.abs(result.adversarial - self.x).max(),
                             epsilon + 1e-6)
        scaled = result.adversarial * 255
        np.testing.assert_allclose(scaled, np.round(scaled), atol=1e-3)
        for adv, src, value in zip(result.adversarial, self.x, result.dssim):
            self.assertAlmostEqual(value, dg.dssim(adv, src), places=6)

    def test_pgd_raises_the_true_class_loss(self):
        result = dg.attack(self.student, self.x, labels=self.labels,
                           method=dg.ATTACK_PGD, targeted=0, epsilon=0.1,
                           step=0.02, iterations=20)
        self.check_box(result, 0.1)
        before = cross_entropy(self.student.predict(self.x), self.labels)
        after = cross_entropy(self.student.predict(result.adversarial),
                              self.labels)
        np.testing.assert_allclose(result.feature_distance, after,
                                   rtol=1e-4, atol=1e-5)
        self.assertTrue((after > before).all(), (before, after))
        self.assertGreater(after.mean(), 5 * before.mean())

    def test_targeted_fgsm_lowers_the_target_loss(self):
        targets = (self.labels + 1) % 4
        result = dg.attack(self.student, self.x, labels=targets,
                           method=dg.ATTACK_FGSM, epsilon=0.1)
        self.check_box(result, 0.1)
        before = cross_entropy(self.student.predict(self.x), targets)
        after = cross_entropy(self.student.predict(result.adversarial),
                              targets)
        np.testing.assert_allclose(result.feature_distance, after,
                                   rtol=1e-4, atol=1e-5)
        self.assertTrue((after < before).all(), (before, after))

    def test_seed_not_threads_decides(self):
        def run(**options):
            return dg.attack(self.student, self.x, labels=self.labels,
                             method=dg.ATTACK_PGD, targeted=0, epsilon=0.1,
                             step=0.02, iterations=5, random_start=1,
                             batch_size=4, **options)
        one, two = run(seed=3, threads=1), run(seed=3, threads=2)
        for a, b in zip(one, two):
            np.testing.assert_array_equal(a, b)
        other = run(seed=4, threads=2)
        self.assertFalse(np.array_equal(one.adversarial, other.adversarial))


class Mimicry(Fixture):
    def test_moves_features_toward_the_target_within_budget(self):
        sources, targets = self.x[self.labels == 0], self.x[self.labels == 1]
        budget = 0.05
        result = dg.attack(self.student, sources, targets, budget=budget,
                           lambda_=dg.ATTACK_STRONG_LAMBDA_BUDGET / budget,
                           iterations=200)
        self.assertTrue(result.within_budget.all())
        self.assertTrue((result.dssim < budget).all(), result.dssim)
        for adv, src, value in zip(result.adversarial, sources,
                                   result.dssim):
            self.assertAlmostEqual(value, dg.dssim(adv, src), places=6)
        goal = self.features(targets)
        after = np.linalg.norm(self.features(result.adversarial) - goal,
                               axis=1)
        before = np.linalg.norm(self.features(sources) - goal, axis=1)
        np.testing.assert_allclose(result.feature_distance, after, rtol=1e-4)
        self.assertTrue((after < 0.75 * before).all(), (before, after))

    def test_an_unreachable_budget_fails_cleanly(self):
        sources, targets = self.x[:4], self.x[4:8]
        result = dg.attack(self.student, sources, targets, budget=1e-9,
                           lambda_=1.0, iterations=3)
        self.assertFalse(result.within_budget.any())
        np.testing.assert_array_equal(result.adversarial, sources)
        self.assertTrue(np.isnan(result.dssim).all())
        self.assertTrue(np.isnan(result.feature_distance).all())


class Adaptive(Fixture):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.guard = dg.Guard.load(os.path.join(os.environ["DG_FIXTURE_DIR"],
                                               "guard.dg"), cls.student)

    def test_guard_members_are_whole_models_per_class(self):
        info = self.guard.info
        models, classes = dg.guard_members(self.guard)
        self.assertEqual(len(models), info.classes * info.members)
        self.assertEqual(classes, [c for c in range(info.classes)
                                   for _ in range(info.members)])
        np.testing.assert_array_equal(
            models[0].predict(self.x),
            self.guard.member_model(0, 0).predict(self.x))
        self.assertEqual(len(dg.guard_members(self.guard, 1)[0]),
                         info.classes)
        with self.assertRaisesRegex(ValueError, "members 0"):
            dg.guard_members(self.guard, 0)

    def test_through_the_members_alone(self):
        """No feature term, no targets: the cross-entropy of the target
        class's members, which the attack fools and whose loss it reports
        (a numpy cross-entropy averaged over them)."""
        targets = (self.labels + 1) % 4
        models, classes = dg.guard_members(self.guard)
        result = dg.attack(self.student, self.x, labels=targets,
                           method=dg.ATTACK_MIMIC_LINF, epsilon=0.3,
                           step=0.02, iterations=60, feature_weight=0,
                           adaptive_models=models,
                           adaptive_model_classes=classes)
        self.assertTrue(result.within_budget.all())
        losses = []
        for m, c in zip(models, classes):
            rows = targets == c
            loss = np.full(len(self.x), np.nan)
            loss[rows] = cross_entropy(m.predict(result.adversarial[rows]),
                                       targets[rows])
            losses.append(loss)
        np.testing.assert_allclose(result.feature_distance,
                                   np.nanmean(losses, axis=0), rtol=1e-3,
                                   atol=1e-4)
        fooled = [(m.predict(result.adversarial[targets == c]).argmax(1)
                   == c).mean() for m, c in zip(models, classes)]
        self.assertGreaterEqual(min(fooled), 0.75, fooled)

    def test_options_are_checked(self):
        with self.assertRaisesRegex(ValueError, "without adaptive_models"):
            dg.attack(self.student, self.x, self.x, labels=self.labels,
                      adaptive_model_classes=[0])
        with self.assertRaisesRegex(ValueError, "shape"):
            dg.attack(self.student, self.x, self.x, labels=self.labels,
                      adaptive_models=[self.student],
                      adaptive_model_classes=[0, 1])
        with self.assertRaises(dg.DiffguardError) as e:
            dg.attack(self.student, self.x, self.x,
                      adaptive_models=[self.student])
        self.assertIn("labels", e.exception.detail)
        s = dg.attack_settings(adaptive_weight=2.0, adaptive_draw=3,
                               feature_weight=0.0)
        self.assertEqual((s.adaptive_weight, s.adaptive_draw,
                          s.feature_weight), (2.0, 3, 0.0))
        self.assertNotIn("adaptive_models", s._fields)


class Progress(Fixture):
    def test_reports_and_stops(self):
        seen = []

        def progress(stage, done, total, metric):
            seen.append((stage, done, total))
            return False
        dg.attack(self.student, self.x, labels=self.labels,
                  method=dg.ATTACK_PGD, iterations=3, batch_size=8,
                  progress=progress)
        self.assertTrue(seen)
        self.assertEqual({s for s, _, _ in seen}, {"attack"})
        self.assertEqual(seen[-1][1:], (16 * 3, 16 * 3))
        # The callback runs every 0.1 s, so only a long attack can be
        # stopped: minutes of mimicry without early stop, if it were not.
        long_run = dict(iterations=100000, patience=0, threads=1)
        with self.assertRaises(dg.DiffguardError) as e:
            dg.attack(self.student, self.x, self.x[::-1],
                      progress=lambda *_: True, **long_run)
        self.assertEqual(e.exception.status, dg.Status.CANCELLED)

        def fail(*_):
            raise KeyError("from the callback")
        with self.assertRaisesRegex(KeyError, "from the callback"):
            dg.attack(self.student, self.x, self.x[::-1], progress=fail,
                      **long_run)


class Errors(Fixture):
    def test_checked_in_python(self):
        with self.assertRaisesRegex(ValueError, "expected"):
            dg.attack(self.student, self.x[:, :, :4], self.x)
        with self.assertRaisesRegex(ValueError, "3 targets for 16"):
            dg.attack(self.student, self.x, self.x[:3])
        with self.assertRaisesRegex(ValueError, "labels has shape"):
            dg.attack(self.student, self.x, labels=[1, 2],
                      method=dg.ATTACK_FGSM)

    def test_checked_in_c(self):
        bad = self.x.copy()
        bad[2, 0, 3, 4] = 1.5
        for call, words in [
                (lambda: dg.attack(self.student, bad, self.x),
                 "pixel 28 of image 2 is 1.5, not in [0,1]"),
                (lambda: dg.attack(self.student, self.x),
                 "mimicry needs target images"),
                (lambda: dg.attack(self.student, self.x,
                                   method=dg.ATTACK_FGSM), "need labels"),
                (lambda: dg.attack(self.student, self.x, labels=self.labels
                                   + 3, method=dg.ATTACK_PGD),
                 "the model has 4 classes"),
                (lambda: dg.attack(self.student, self.x, self.x,
                                   budget=0.7), "DSSIM budget 0.7")]:
            with self.subTest(words=words), \
                    self.assertRaises(dg.DiffguardError) as e:
                call()
            self.assertEqual(e.exception.status, dg.Status.INVALID_ARG)
            self.assertIn(words, e.exception.detail)


class AdversarialSets(Fixture):
    def make(self):
        """A set of a PGD run on the fixture, and the run."""
        settings = dg.attack_settings(method=dg.ATTACK_PGD, targeted=0,
                                      epsilon=0.1, step=0.02, iterations=10)
        result = dg.attack(self.student, self.x, labels=self.labels,
                           **settings._asdict())
        predicted = self.student.predict(result.adversarial).argmax(axis=1)
        advset = dg.AdversarialSet.create(self.x.shape[1:], "bars, classes "
                                          "0-3", settings, threads=2)
        for i in range(len(self.x)):
            advset.add(result.adversarial[i], source_index=i,
                       source_label=self.labels[i], target_label=-1,
                       student_label=predicted[i], dssim=result.dssim[i],
                       feature_distance=result.feature_distance[i],
                       within_budget=result.within_budget[i],
                       success=predicted[i] != self.labels[i])
        return advset, settings, result, predicted

    def test_file_round_trip(self):
        advset, settings, result, predicted = self.make()
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "pgd.dgadv")
            advset.save(path)
            loaded = dg.AdversarialSet.load(path)
        pixels = np.round(result.adversarial * 255).astype(np.uint8)
        for s in (advset, loaded):
            self.assertEqual((len(s), s.shape), (16, (1, 8, 8)))
            self.assertEqual(s.settings, settings)  # threads come back 0
            self.assertEqual(s.description, "bars, classes 0-3")
            for i, item in enumerate(s.items()):
                self.assertEqual(item, dg.AdversarialItem(
                    i, self.labels[i], -1, predicted[i],
                    np.float32(result.dssim[i]),
                    np.float32(result.feature_distance[i]), True,
                    bool(predicted[i] != self.labels[i])))
                np.testing.assert_array_equal(s.pixels(i), pixels[i])
            np.testing.assert_allclose(s.batch(), pixels / 255, rtol=1e-6)
            np.testing.assert_allclose(s.batch([3, 1], self.student),
                                       result.adversarial[[3, 1]],
                                       atol=1e-6)

    def test_parts_merge_into_the_whole_set(self):
        advset, settings, _, _ = self.make()
        n = len(advset)
        mark = " [shard %d/3 of " + str(n) + " attempts]"
        ranges = [(0, 5), (5, 11), (11, n)]
        parts = []
        for index, (first, end) in enumerate(ranges):
            part = dg.AdversarialSet.create(
                (1, 8, 8), advset.description + mark % index, settings)
            for i in range(first, end):
                part.add(advset.pixels(i) / 255, advset.item(i))
            parts.append(part)
        merged = dg.AdversarialSet.merge(parts[::-1])  # any order
        with tempfile.TemporaryDirectory() as tmp:
            paths = [os.path.join(tmp, name) for name in ("whole", "merged")]
            advset.save(paths[0])
            merged.save(paths[1])
            with open(paths[0], "rb") as a, open(paths[1], "rb") as b:
                self.assertEqual(a.read(), b.read())
        for wrong, words in [(parts[:2], "2 parts of a run in 3 shards"),
                             ([parts[0], parts[0], parts[2]],
                              "shard 0 of 3 given twice"),
                             ([advset], "not a shard of an attack run")]:
            with self.subTest(words=words), \
                    self.assertRaises(dg.DiffguardError) as e:
                dg.AdversarialSet.merge(wrong)
            self.assertEqual(e.exception.status, dg.Status.MISMATCH)
            self.assertIn(words, e.exception.detail)
        other = dg.AdversarialSet.create(
            (1, 8, 8), advset.description + mark % 1,
            settings._replace(seed=settings.seed + 1))
        for i in range(*ranges[1]):
            other.add(advset.pixels(i) / 255, advset.item(i))
        with self.assertRaises(dg.DiffguardError) as e:
            dg.AdversarialSet.merge([parts[0], other, parts[2]])
        self.assertIn("its seed differs", e.exception.detail)

    def test_corrupt_files_and_errors(self):
        advset, _, _, _ = self.make()
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "set")
            advset.save(path)
            with open(path, "rb") as f:
                data = bytearray(f.read())
            for broken in (data[:-9], data[:20], data[:60] + bytes([data[60]
                                                                    ^ 1])
                           + data[61:]):
                with open(path, "wb") as f:
                    f.write(broken)
                with self.assertRaises(dg.DiffguardError) as e:
                    dg.AdversarialSet.load(path)
                self.assertEqual(e.exception.status, dg.Status.FORMAT)
        with self.assertRaises(dg.DiffguardError) as e:
            advset.item(16)
        self.assertEqual(e.exception.status, dg.Status.INVALID_ARG)
        self.assertIn("item 16 of 16", e.exception.detail)
        with self.assertRaisesRegex(ValueError, "expected \\(1, 8, 8\\)"):
            advset.add(np.zeros((1, 8, 7)), source_index=0, source_label=0,
                       target_label=1)
        with self.assertRaises(TypeError):  # source_label is required
            advset.add(self.x[0], source_index=0, target_label=1)
        with self.assertRaises(dg.DiffguardError) as e:
            advset.batch([0], dg.Model.create("fc2", (1, 4, 4)))
        self.assertEqual(e.exception.status, dg.Status.SHAPE)


class Png(unittest.TestCase):
    def test_round_trip_through_load_image(self):
        rng = np.random.default_rng(5)
        gray = rng.integers(0, 256, (6, 9), dtype=np.uint8)
        rgb = rng.integers(0, 256, (6, 9, 3), dtype=np.uint8)
        with tempfile.TemporaryDirectory() as tmp:
            for pixels, channels in ((gray, 1), (rgb, 3)):
                path = os.path.join(tmp, "%d.png" % channels)
                dg.save_png(path, pixels)
                model = dg.Model.create("fc2", (channels, 6, 9))
                planar = pixels.reshape(6, 9, channels).transpose(2, 0, 1)
                np.testing.assert_allclose(model.load_image(path),
                                           planar / 255, atol=1e-6)
        with self.assertRaisesRegex(TypeError, "uint8"):
            dg.save_png("x.png", gray.astype(np.float32))

    def test_conversion_warns(self):
        rgb = np.zeros((6, 9, 3), dtype=np.uint8)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "rgb.png")
            dg.save_png(path, rgb)
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                dg.Model.create("fc2", (3, 6, 9)).load_image(path)
            with self.assertWarnsRegex(UserWarning, "9x6 with 3 channel"):
                x = dg.Model.create("fc2", (1, 4, 4)).load_image(path)
            self.assertEqual(x.shape, (1, 4, 4))
        with self.assertRaisesRegex(ValueError, "expected"):
            dg.save_png("x.png", rgb[:, :, :2])


if __name__ == "__main__":
    unittest.main()
