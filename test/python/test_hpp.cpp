// test_hpp.cpp - include/diffguard.hpp: errors carry status and detail,
// handles are move-only and outlive what they were made from, the pointer
// and vector overloads agree, data sets, training and the guard of the
// interop fixture (make_fixture.py).
//
// usage: test_hpp FIXTURE_DIR (it also writes tiny-*.idx there)
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "diffguard.hpp"

static int failures;

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            std::printf("%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                    \
        }                                                                  \
    } while (0)

// Runs f, which must throw dg::Error with `status` and a detail holding
// `detail`.
template <typename F>
static void expect_error(F f, dg_status status, const std::string &detail)
{
    try {
        f();
        CHECK(!"no dg::Error thrown");
    } catch (const dg::Error &e) {
        CHECK(e.status() == status);
        CHECK(e.detail().find(detail) != std::string::npos);
        CHECK(std::string(e.what()).find(e.detail()) != std::string::npos);
    }
}

static_assert(!std::is_copy_constructible<dg::Model>::value, "move-only");
static_assert(!std::is_copy_assignable<dg::Validator>::value, "move-only");
static_assert(std::is_nothrow_move_constructible<dg::Guard>::value,
              "moves do not throw");

static void errors_and_handles()
{
    expect_error([] { dg::Model::create("c4k3,bogus", {1, 8, 8}); },
                 DG_E_INVALID_ARG, "bogus");
    dg::Model a = dg::Model::create("fc3,softmax", {1, 2, 2});
    dg_model *raw = a.get();
    dg::Model b = std::move(a);
    CHECK(a.get() == nullptr && b.get() == raw);

    // The session keeps its model alive.
    std::vector<dg::Session> sessions;
    {
        dg::Model m = dg::Model::create("fc3,softmax", {1, 2, 2});
        sessions.emplace_back(m, 2);
    }
    std::vector<float> x = {0, 1, 2, 3, 4, 5, 6, 7};
    sessions[0].run(x, 2);
    dg::Tensor t = sessions[0].output();
    CHECK(t.batch == 2 && t.channels == 3 && t.size() == 6);
    CHECK(std::fabs(t.data[0] + t.data[1] + t.data[2] - 1) < 1e-5);
    sessions[0].run(x.data(), x.size(), 2);
    CHECK(sessions[0].output().data[5] == t.data[5]);
    expect_error([&] { sessions[0].run(x, 3); }, DG_E_SHAPE, "batch 3");
    CHECK(dg::train_options().epochs == 4);
    CHECK(dg::validator_options().max_batch == 64);
    CHECK(dg::ensemble_options().variants == 6);
}

// Eight 1x2x2 samples, label i % 2: class 1 is bright.
static dg::Dataset tiny_dataset(const std::string &dir)
{
    const unsigned char images_head[] = {0, 0, 8, 3, 0, 0, 0, 8,
                                         0, 0, 0, 2, 0, 0, 0, 2};
    const unsigned char labels_head[] = {0, 0, 8, 1, 0, 0, 0, 8};
    std::ofstream images(dir + "/tiny-images.idx", std::ios::binary);
    std::ofstream labels(dir + "/tiny-labels.idx", std::ios::binary);
    images.write(reinterpret_cast<const char *>(images_head),
                 sizeof images_head);
    labels.write(reinterpret_cast<const char *>(labels_head),
                 sizeof labels_head);
    for (int i = 0; i < 8; i++) {
        const char label = static_cast<char>(i % 2);
        labels.put(label);
        for (int k = 0; k < 4; k++) images.put(label ? '\xf0' : '\x10');
    }
    images.close();
    labels.close();
    return dg::Dataset::load_idx(dir + "/tiny-images.idx",
                                 dir + "/tiny-labels.idx");
}

static void datasets_and_training(const std::string &dir)
{
    dg::Dataset ds = tiny_dataset(dir);
    CHECK(ds.count() == 8 && ds.class_count() == 2);
    CHECK(ds.sample_shape().size() == 4);
    std::vector<std::int32_t> labels;
    std::vector<float> x = ds.batch({0, 1}, nullptr, &labels);
    CHECK(x.size() == 8 && labels == std::vector<std::int32_t>({0, 1}));
    CHECK(std::fabs(x[4] - 240.0f / 255) < 1e-6f);
    CHECK(ds.select({1}).count() == 4);

    dg::Model m = dg::Model::create("fc2", {1, 2, 2});
    dg_train_opts o = dg::train_options();
    o.epochs = 30;
    o.batch_size = 4;
    o.learning_rate = 0.1f;
    CHECK(m.train(ds, o).epochs_run == 30);
    dg::Evaluation e = m.evaluate(ds);
    CHECK(e.total == 8 && e.correct == 8);
    CHECK(e.confusion == std::vector<std::uint32_t>({4, 0, 0, 4}));
}

static void guard_of_the_fixture(const std::string &fixture)
{
    dg::Model student = dg::Model::load(fixture + "/student.dgm");
    dg::Validator validator = [&] {
        dg::Guard guard = dg::Guard::load(fixture + "/guard.dg", student);
        CHECK(guard.info().classes == student.output_size());
        CHECK(guard.calibration(0, guard.info().members).samples > 0);
        CHECK(guard.member(0, 0).tail_layers > 0);
        // The Student's shared layers plus the best member's own: a
        // pruned copy of the Student's shape.
        dg::Model best = guard.member_model(0, 0);
        CHECK(best.output_size() == student.output_size());
        CHECK(best.layer_count() == student.layer_count());
        return dg::Validator(guard);  // outlives the guard
    }();
    std::vector<float> x = student.load_image(fixture + "/image1.png");
    dg_verdict v = validator.validate(x, 1)[0];
    CHECK(v.label == 1 && v.members == 3);
    dg_verdict w = validator.validate_labeled(x, {v.label})[0];
    CHECK(w.votes == v.votes && w.score == v.score);
    std::int32_t label = 2;
    CHECK(validator.validate_labeled(x.data(), x.size(), 1, &label)[0].label ==
          2);
    dg::Model other = dg::Model::create("fc4", student.input_shape());
    expect_error([&] { dg::Guard::load(fixture + "/guard.dg", other); },
                 DG_E_MISMATCH, "guard.dg");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s FIXTURE_DIR\n", argv[0]);
        return 2;
    }
    errors_and_handles();
    datasets_and_training(argv[1]);
    guard_of_the_fixture(argv[1]);
    std::printf("%d failures\n", failures);
    return failures != 0;
}
