/// @file diffguard.hpp
/// @brief A header-only C++11 wrapper of diffguard.h.
///
/// Every object owns its handle through a std::unique_ptr with the matching
/// dg_*_free as deleter, so objects are move-only and released exactly once.
/// The library reference-counts what objects share (a session its model, a
/// guard its Student, a validator its guard), so objects may be destroyed in
/// any order.  Every failing call throws dg::Error, which carries the status
/// and dg_last_error_detail().  Option structs come from dg::train_options(),
/// dg::ensemble_options() and dg::validator_options(), already filled by
/// their *_init function; change fields, then pass them.  Thread rules are
/// those of diffguard.h.
#ifndef DIFFGUARD_HPP
#define DIFFGUARD_HPP

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "diffguard.h"

/// The C++ wrapper of libdiffguard.
namespace dg {

/// A failed libdiffguard call.
class Error : public std::runtime_error {
public:
    /// Records `status` and dg_last_error_detail() of the failed `function`.
    Error(dg_status status, const char *function)
        : Error(status, function, dg_last_error_detail()) {}

    /// The status the C call returned.
    dg_status status() const noexcept { return status_; }
    /// dg_last_error_detail() right after the failing call.
    const std::string &detail() const noexcept { return detail_; }

private:
    Error(dg_status status, const char *function, std::string detail)
        : std::runtime_error(std::string(function) + ": " +
                             dg_strerror(status) +
                             (detail.empty() ? "" : ": " + detail)),
          status_(status), detail_(std::move(detail)) {}

    dg_status status_;
    std::string detail_;
};

namespace detail {

/// The one place that turns a status into an exception.
inline void check(dg_status status, const char *function)
{
    if (status != DG_OK) throw Error(status, function);
}

template <typename T, void (*Free)(T *)> struct Deleter {
    void operator()(T *p) const noexcept { Free(p); }
};

template <typename T, void (*Free)(T *)>
using Handle = std::unique_ptr<T, Deleter<T, Free>>;

} // namespace detail

// Calls a dg_* function and throws dg::Error, naming it, if it fails.
#define DIFFGUARD_HPP_CALL(fn, ...) ::dg::detail::check(fn(__VA_ARGS__), #fn)

/// Per-sample shape, channels x height x width.
struct Shape {
    /// @{ channels x height x width
    std::uint32_t channels, height, width;
    /// @}
    /// channels * height * width.
    std::size_t size() const
    {
        return static_cast<std::size_t>(channels) * height * width;
    }
};

#ifdef DG_EXPERIMENTAL_API
/// Defaults of dg_train_opts, to change and pass to Model::train.
inline dg_train_opts train_options()
{
    dg_train_opts o;
    DIFFGUARD_HPP_CALL(dg_train_opts_init, &o, sizeof o);
    return o;
}
#endif

/// Defaults of dg_ensemble_opts, to change and pass to Guard::build.
inline dg_ensemble_opts ensemble_options()
{
    dg_ensemble_opts o;
    DIFFGUARD_HPP_CALL(dg_ensemble_opts_init, &o, sizeof o);
    return o;
}

/// Defaults of dg_validator_opts, to change and pass to Validator.
inline dg_validator_opts validator_options()
{
    dg_validator_opts o;
    DIFFGUARD_HPP_CALL(dg_validator_opts_init, &o, sizeof o);
    return o;
}

class Dataset;

/// Outcome of Model::evaluate; confusion[true * k + predicted].
struct Evaluation {
    /// @{ correct of total samples
    std::uint32_t correct, total;
    /// @}
    std::vector<std::uint32_t> confusion; ///< k x k counts, row-major
};

/// A neural network (dg_model).
class Model {
public:
    /// Loads a model file (dg_model_load_file).
    static Model load(const std::string &path)
    {
        dg_model *m;
        DIFFGUARD_HPP_CALL(dg_model_load_file, path.c_str(), &m);
        return Model(m);
    }
    /// Loads a model from the bytes of a model file, which are copied.
    static Model from_memory(const void *data, std::size_t size)
    {
        dg_model *m;
        DIFFGUARD_HPP_CALL(dg_model_load_memory, data, size, &m);
        return Model(m);
    }
    /// A fresh model from an architecture string (doc/architecture-spec.md).
    static Model create(const std::string &spec, Shape input,
                        std::uint64_t seed = 1)
    {
        dg_model *m;
        DIFFGUARD_HPP_CALL(dg_model_create, spec.c_str(), input.channels,
                           input.height, input.width, seed, &m);
        return Model(m);
    }

    /// Writes the model file atomically.
    void save(const std::string &path) const
    {
        DIFFGUARD_HPP_CALL(dg_model_save_file, get(), path.c_str());
    }
    /// A Student: layers 0..cut_layer frozen, then a new head such as "fc5".
    Model transfer(const std::string &head, std::int32_t cut_layer = -1,
                   std::uint64_t seed = 1) const
    {
        dg_model *m;
        DIFFGUARD_HPP_CALL(dg_model_transfer, get(), cut_layer, head.c_str(),
                           seed, &m);
        return Model(m);
    }
#ifdef DG_EXPERIMENTAL_API
    /// Trains the non-frozen layers on ds (dg_model_train).
    inline dg_train_report train(const Dataset &ds,
                                 const dg_train_opts &opts = train_options());
#endif
    /// Classifies every sample of ds (dg_model_evaluate).
    inline Evaluation evaluate(const Dataset &ds) const;

    /// Shape of one input sample.
    Shape input_shape() const
    {
        Shape s;
        DIFFGUARD_HPP_CALL(dg_model_input_shape, get(), &s.channels,
                           &s.height, &s.width);
        return s;
    }
    /// Output size per sample of the last layer (the class count).
    std::uint32_t output_size() const
    {
        std::uint32_t n;
        DIFFGUARD_HPP_CALL(dg_model_output_size, get(), &n);
        return n;
    }
    /// Number of layers.
    std::uint32_t layer_count() const
    {
        std::uint32_t n;
        DIFFGUARD_HPP_CALL(dg_model_layer_count, get(), &n);
        return n;
    }
    /// Describes layer `index`.
    dg_layer_info layer_info(std::uint32_t index) const
    {
        dg_layer_info info = dg_layer_info();
        info.struct_size = sizeof info;
        DIFFGUARD_HPP_CALL(dg_model_layer_info, get(), index, &info);
        return info;
    }
    /// Name of output class `index` ("" when unnamed).
    std::string class_name(std::uint32_t index) const
    {
        const char *name;
        DIFFGUARD_HPP_CALL(dg_model_class_name, get(), index, &name);
        return name;
    }
    /// Names the output classes, one name per output.
    void set_class_names(const std::vector<std::string> &names)
    {
        std::vector<const char *> c_names;
        for (const std::string &n : names) c_names.push_back(n.c_str());
        DIFFGUARD_HPP_CALL(dg_model_set_class_names, get(), c_names.data(),
                           static_cast<std::uint32_t>(c_names.size()));
    }
    /// Freezes (or unfreezes) one layer for training.
    void set_frozen(std::uint32_t layer, bool frozen = true)
    {
        DIFFGUARD_HPP_CALL(dg_model_set_frozen, get(), layer, frozen ? 1 : 0);
    }

    /// A PNG or JPEG file as this model's preprocessed input (C*H*W floats).
    void load_image(const std::string &path, float *out,
                    std::size_t out_len) const
    {
        DIFFGUARD_HPP_CALL(dg_image_load_file, get(), path.c_str(), out,
                           out_len);
    }
    /// A PNG or JPEG file as this model's preprocessed input.
    std::vector<float> load_image(const std::string &path) const
    {
        std::vector<float> x(input_shape().size());
        load_image(path, x.data(), x.size());
        return x;
    }

    /// The C handle, owned by this object.
    dg_model *get() const noexcept { return h_.get(); }

private:
    friend class Guard; // hands out its differentiators as models
    explicit Model(dg_model *m) : h_(m) {}
    detail::Handle<dg_model, dg_model_free> h_;
};

/// A borrowed layer output, valid until the session's next run.
struct Tensor {
    const float *data; ///< batch x channels x height x width floats
    /// @{ the shape
    std::uint32_t batch, channels, height, width;
    /// @}
    /// Number of floats at data.
    std::size_t size() const
    {
        return static_cast<std::size_t>(batch) * channels * height * width;
    }
};

/// Runs a model on up to max_batch samples per call (dg_session).
class Session {
public:
    /// A session holding its own reference to model.
    Session(const Model &model, std::uint32_t max_batch)
    {
        dg_session *s;
        DIFFGUARD_HPP_CALL(dg_session_create, model.get(), max_batch, &s);
        h_.reset(s);
    }
    /// Runs `batch` preprocessed NCHW samples (input_len floats).
    void run(const float *input, std::size_t input_len, std::uint32_t batch)
    {
        DIFFGUARD_HPP_CALL(dg_session_run, get(), input, input_len, batch);
    }
    /// Runs `batch` preprocessed NCHW samples.
    void run(const std::vector<float> &input, std::uint32_t batch)
    {
        run(input.data(), input.size(), batch);
    }
    /// Output of `layer` (-1: the last) of the last run.
    Tensor output(std::int32_t layer = -1) const
    {
        Tensor t;
        DIFFGUARD_HPP_CALL(dg_session_output, get(), layer, &t.data,
                           &t.batch, &t.channels, &t.height, &t.width);
        return t;
    }

    /// The C handle, owned by this object.
    dg_session *get() const noexcept { return h_.get(); }

private:
    detail::Handle<dg_session, dg_session_free> h_;
};

/// A labelled image set held as 8-bit pixels (dg_dataset).
class Dataset {
public:
    /// An IDX image file and its IDX label file (dg_dataset_load_idx).
    static Dataset load_idx(const std::string &images,
                            const std::string &labels)
    {
        dg_dataset *d;
        DIFFGUARD_HPP_CALL(dg_dataset_load_idx, images.c_str(),
                           labels.c_str(), &d);
        return Dataset(d);
    }
    /// An image folder, one sub-folder per class (dg_dataset_load_folder).
    static Dataset load_folder(const std::string &dir, Shape shape)
    {
        dg_dataset *d;
        DIFFGUARD_HPP_CALL(dg_dataset_load_folder, dir.c_str(),
                           shape.channels, shape.height, shape.width, &d);
        return Dataset(d);
    }
    /// Samples of `classes`, relabelled 0..n-1, at most per_class each.
    Dataset select(const std::vector<std::int32_t> &classes,
                   std::uint32_t per_class = 0) const
    {
        dg_dataset *d;
        DIFFGUARD_HPP_CALL(dg_dataset_select, get(), classes.data(),
                           static_cast<std::uint32_t>(classes.size()),
                           per_class, &d);
        return Dataset(d);
    }
    /// Sample count.
    std::uint32_t count() const
    {
        std::uint32_t n;
        DIFFGUARD_HPP_CALL(dg_dataset_count, get(), &n);
        return n;
    }
    /// Shape of one sample.
    Shape sample_shape() const
    {
        Shape s;
        DIFFGUARD_HPP_CALL(dg_dataset_sample_shape, get(), &s.channels,
                           &s.height, &s.width);
        return s;
    }
    /// Number of classes (largest label + 1).
    std::uint32_t class_count() const
    {
        std::uint32_t n;
        DIFFGUARD_HPP_CALL(dg_dataset_class_count, get(), &n);
        return n;
    }
    /// Samples `indices` as model input (preprocessed by `model`, or scaled
    /// to [0,1] when it is null); their labels go to `labels` if not null.
    std::vector<float> batch(const std::vector<std::uint32_t> &indices,
                             const Model *model = nullptr,
                             std::vector<std::int32_t> *labels = nullptr) const
    {
        std::vector<float> x(indices.size() * sample_shape().size());
        if (labels) labels->resize(indices.size());
        DIFFGUARD_HPP_CALL(dg_dataset_batch, get(),
                           model ? model->get() : nullptr, indices.data(),
                           static_cast<std::uint32_t>(indices.size()),
                           x.data(), x.size(),
                           labels ? labels->data() : nullptr);
        return x;
    }

    /// The C handle, owned by this object.
    dg_dataset *get() const noexcept { return h_.get(); }

private:
    explicit Dataset(dg_dataset *d) : h_(d) {}
    detail::Handle<dg_dataset, dg_dataset_free> h_;
};

#ifdef DG_EXPERIMENTAL_API
inline dg_train_report Model::train(const Dataset &ds,
                                    const dg_train_opts &opts)
{
    dg_train_report report = dg_train_report();
    report.struct_size = sizeof report;
    DIFFGUARD_HPP_CALL(dg_model_train, get(), ds.get(), &opts, &report);
    return report;
}
#endif

inline Evaluation Model::evaluate(const Dataset &ds) const
{
    std::uint32_t k = output_size();
    Evaluation e;
    e.confusion.resize(static_cast<std::size_t>(k) * k);
    DIFFGUARD_HPP_CALL(dg_model_evaluate, get(), ds.get(), e.confusion.data(),
                       e.confusion.size(), &e.correct, &e.total);
    return e;
}

/// The differentiator ensemble of a Student (dg_ensemble).
class Guard {
public:
    /// Builds the guard (slow: minutes at the defaults); holdout may be null.
    static Guard build(const Model &student, const Dataset &train,
                       const Dataset *holdout,
                       const dg_ensemble_opts &opts = ensemble_options())
    {
        dg_ensemble *g;
        DIFFGUARD_HPP_CALL(dg_ensemble_build, student.get(), train.get(),
                           holdout ? holdout->get() : nullptr, &opts, &g);
        return Guard(g);
    }
    /// Loads a guard file made for `student` (dg_ensemble_load_file).
    static Guard load(const std::string &path, const Model &student)
    {
        dg_ensemble *g;
        DIFFGUARD_HPP_CALL(dg_ensemble_load_file, path.c_str(), student.get(),
                           &g);
        return Guard(g);
    }
    /// Loads a guard from the bytes of a guard file.
    static Guard from_memory(const void *data, std::size_t size,
                             const Model &student)
    {
        dg_ensemble *g;
        DIFFGUARD_HPP_CALL(dg_ensemble_load_memory, data, size, student.get(),
                           &g);
        return Guard(g);
    }
    /// Writes the guard file atomically.
    void save(const std::string &path) const
    {
        DIFFGUARD_HPP_CALL(dg_ensemble_save_file, get(), path.c_str());
    }
    /// The guard's shape and defaults.
    dg_ensemble_info info() const
    {
        dg_ensemble_info i = dg_ensemble_info();
        i.struct_size = sizeof i;
        DIFFGUARD_HPP_CALL(dg_ensemble_get_info, get(), &i);
        return i;
    }
    /// Differentiator `rank` (0 = best) of class `cls`.
    dg_member_info member(std::uint32_t cls, std::uint32_t rank) const
    {
        dg_member_info m = dg_member_info();
        m.struct_size = sizeof m;
        DIFFGUARD_HPP_CALL(dg_ensemble_member, get(), cls, rank, &m);
        return m;
    }
    /// Differentiator `rank` of class `cls` as a whole model
    /// (dg_ensemble_member_model), for example to export it to ONNX.
    Model member_model(std::uint32_t cls, std::uint32_t rank) const
    {
        dg_model *m;
        DIFFGUARD_HPP_CALL(dg_ensemble_member_model, get(), cls, rank, &m);
        return Model(m);
    }
    /// Thresholds of class `cls` for `members` differentiators.
    dg_calibration calibration(std::uint32_t cls, std::uint32_t members) const
    {
        dg_calibration c = dg_calibration();
        c.struct_size = sizeof c;
        DIFFGUARD_HPP_CALL(dg_ensemble_calibration, get(), cls, members, &c);
        return c;
    }

    /// The C handle, owned by this object.
    dg_ensemble *get() const noexcept { return h_.get(); }

private:
    explicit Guard(dg_ensemble *g) : h_(g) {}
    detail::Handle<dg_ensemble, dg_ensemble_free> h_;
};

/// Two-phase validation over a guard (dg_validator); one per thread.
class Validator {
public:
    /// A validator holding its own reference to guard.
    explicit Validator(const Guard &guard,
                       const dg_validator_opts &opts = validator_options())
    {
        dg_validator *v;
        DIFFGUARD_HPP_CALL(dg_validator_create, guard.get(), &opts, &v);
        h_.reset(v);
    }
    /// Validates `batch` preprocessed NCHW inputs (input_len floats).
    std::vector<dg_verdict> validate(const float *input,
                                     std::size_t input_len,
                                     std::uint32_t batch)
    {
        std::vector<dg_verdict> out = verdicts(batch);
        DIFFGUARD_HPP_CALL(dg_validate, get(), input, input_len, batch,
                           out.data());
        return out;
    }
    /// Validates `batch` preprocessed NCHW inputs.
    std::vector<dg_verdict> validate(const std::vector<float> &input,
                                      std::uint32_t batch)
    {
        return validate(input.data(), input.size(), batch);
    }
    /// As validate, with phase 1 taken from the host's labels (batch ints).
    std::vector<dg_verdict> validate_labeled(const float *input,
                                             std::size_t input_len,
                                             std::uint32_t batch,
                                             const std::int32_t *labels)
    {
        std::vector<dg_verdict> out = verdicts(batch);
        DIFFGUARD_HPP_CALL(dg_validate_labeled, get(), input, input_len,
                           batch, labels, out.data());
        return out;
    }
    /// As validate, with phase 1 taken from the host's labels (one each).
    std::vector<dg_verdict> validate_labeled(
        const std::vector<float> &input,
        const std::vector<std::int32_t> &labels)
    {
        return validate_labeled(input.data(), input.size(),
                                static_cast<std::uint32_t>(labels.size()),
                                labels.data());
    }

    /// The C handle, owned by this object.
    dg_validator *get() const noexcept { return h_.get(); }

private:
    static std::vector<dg_verdict> verdicts(std::uint32_t batch)
    {
        dg_verdict v = dg_verdict();
        v.struct_size = sizeof v;
        return std::vector<dg_verdict>(batch, v);
    }
    detail::Handle<dg_validator, dg_validator_free> h_;
};

#undef DIFFGUARD_HPP_CALL

} // namespace dg

#endif // DIFFGUARD_HPP
