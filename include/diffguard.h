/**
 * @file diffguard.h
 * @brief The public contract of libdiffguard.
 *
 * libdiffguard defends transfer-learned image classifiers against
 * Teacher-feature mimicry attacks (Wu et al., IEEE TDSC 2023) by validating
 * each input with per-class "differentiators".  If a function, type or
 * constant is not declared in this file, it is not part of the API.
 *
 * Conventions (doc/api-conventions.md has the long form):
 *  - Every function that can fail returns a dg_status.  DG_OK is 0.  On
 *    failure a human-readable detail is kept per thread until the next failing
 *    call on that thread: dg_last_error_detail().
 *  - Objects are opaque handles created by dg_*_create / dg_*_load and
 *    released by the matching dg_*_free, which accepts NULL.  On failure the
 *    out-pointer is set to NULL.
 *  - Pointers passed in are borrowed for the duration of the call only,
 *    unless a declaration says otherwise.
 *  - Strings returned by the library belong to the library.
 *  - Option structs begin with struct_size; fill them with the matching
 *    *_init() function, then change fields.  Fields are only ever appended.
 *  - Images enter as float tensors in NCHW order (batch, channel, row,
 *    column), already preprocessed for the model, or as 8-bit pixels /
 *    encoded PNG or JPEG files that the library preprocesses as the model
 *    file says.
 *  - Thread rule: each declaration states it.  "Any thread" means the call
 *    may run concurrently with any other call on the same object; "one thread
 *    at a time" means calls on that object must be serialised by the caller.
 *  - The library never aborts, never prints and never longjmps across this
 *    interface.
 */
#ifndef DIFFGUARD_H
#define DIFFGUARD_H

#include <stddef.h>
#include <stdint.h>

#include "diffguard_version.h"

/** @def DG_API
 *  Marks the functions the shared library exports; every other symbol is
 *  hidden.  On Windows define DG_BUILDING_DLL when building the DLL and
 *  DG_USING_DLL when linking it. */
#if defined(_WIN32) && defined(DG_BUILDING_DLL)
#define DG_API __declspec(dllexport)
#elif defined(_WIN32) && defined(DG_USING_DLL)
#define DG_API __declspec(dllimport)
#elif defined(__GNUC__) && __GNUC__ >= 4
#define DG_API __attribute__((visibility("default")))
#else
#define DG_API
#endif

/** @def DG_EXPERIMENTAL_API
 *  Define it before including this header to see the experimental part of
 *  the API, each block marked "Experimental": training options, the
 *  attacks and adversarial sets, and the constants of the Fashion-MNIST
 *  demonstration.  Those functions are exported and versioned like the
 *  rest, but they are still research: a release may change or remove
 *  them, without the compatibility that binds the stable part
 *  (doc/api-conventions.md).  Defined by the project's own tools, tests,
 *  Python binding and examples where they use it. */
#ifdef DG_DOXYGEN
#define DG_EXPERIMENTAL_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Status, errors and versions                                              */
/* ------------------------------------------------------------------------ */

/** Result of every fallible call.  Values are explicit and only appended. */
typedef enum dg_status {
    DG_OK = 0,            /**< success */
    DG_E_INVALID_ARG = 1, /**< a NULL pointer, out-of-range value, bad string */
    DG_E_NOMEM = 2,       /**< an allocation failed or a size overflowed */
    DG_E_IO = 3,          /**< a file could not be opened, read or written */
    DG_E_FORMAT = 4,      /**< a file or buffer is corrupt or not of the expected kind */
    DG_E_UNSUPPORTED = 5, /**< a valid request this build or version cannot serve */
    DG_E_STATE = 6,       /**< the object is not in a state that allows the call */
    DG_E_SHAPE = 7,       /**< tensor shapes or sizes do not agree */
    DG_E_BACKEND = 8,     /**< the compute backend (oneDNN) failed */
    DG_E_ABI = 9,         /**< an option struct's struct_size is not understood */
    DG_E_INTERNAL = 10,   /**< a library invariant broke; please report it */
    DG_E_MISMATCH = 11,   /**< objects that must belong together do not */
    DG_E_CANCELLED = 12   /**< a progress callback asked to stop */
} dg_status;

/** Static, never NULL text for a status; "unknown status" for other values.
 *  Thread: any thread. */
DG_API const char *dg_strerror(int status);

/** Detail of the last failure on the calling thread ("" if none).  Valid
 *  until the next failing dg_* call on the same thread.  Thread: any thread. */
DG_API const char *dg_last_error_detail(void);

/** DG_VERSION_NUMBER of the library actually loaded.  Thread: any thread. */
DG_API uint32_t dg_version_number(void);
/** "MAJOR.MINOR.PATCH" of the library actually loaded.  Thread: any thread. */
DG_API const char *dg_version_string(void);
/** ABI version of the library actually loaded; equals the soname major.
 *  Bindings compare it with DG_ABI_VERSION.  Thread: any thread. */
DG_API uint32_t dg_abi_version(void);

/* ------------------------------------------------------------------------ */
/* Handles                                                                  */
/* ------------------------------------------------------------------------ */

/** A neural network: architecture, weights, input preprocessing, class
 *  names.  Reference counted; read-only once shared, so any number of
 *  threads may run it through their own dg_session. */
typedef struct dg_model dg_model;
/** Per-thread execution state for one model (buffers, backend primitives). */
typedef struct dg_session dg_session;
/** A labelled image set held in memory as 8-bit pixels. */
typedef struct dg_dataset dg_dataset;
/** Activation statistics and pruning masks (defence). */
typedef struct dg_pruner dg_pruner;
/** The guard: a Student's per-class differentiator ensemble, stored as a
 *  guard file (defence). */
typedef struct dg_ensemble dg_guard;
/** @deprecated The LIBDIFFGUARD_1.0 name of dg_guard. */
typedef struct dg_ensemble dg_ensemble;
/** The two-phase validator: one per thread over a shared guard. */
typedef struct dg_validator dg_validator;
/** An adversarial set: the attempts of one attack run, their outcomes and
 *  8-bit pixels, stored as a checksummed file (doc/attack.md).  Its
 *  functions are experimental (DG_EXPERIMENTAL_API); dg_eval_run takes
 *  sets as opaque pointers. */
typedef struct dg_advset dg_advset;

/** Progress of long work.  `stage` is a static string ("train",
 *  "evaluate", ...), done/total count its steps, metric is a running value
 *  such as the loss (NaN if none).  Return non-zero to stop early: the call
 *  then fails with DG_E_CANCELLED, keeping any checkpoint already written.
 *  Called on the thread that made the call. */
typedef int (*dg_progress_fn)(void *user, const char *stage, uint64_t done,
                              uint64_t total, double metric);

/* ------------------------------------------------------------------------ */
/* Models                                                                   */
/* ------------------------------------------------------------------------ */

/** @name Layer kinds (dg_layer_info.kind)
 *  Values are stored in model files.
 *  @{ */
#define DG_LAYER_CONV 1           /**< 2-D convolution with bias */
#define DG_LAYER_RELU 2           /**< max(x, 0) */
#define DG_LAYER_MAXPOOL 3        /**< max pool */
#define DG_LAYER_AVGPOOL 4        /**< average pool, padding excluded */
#define DG_LAYER_GLOBAL_AVGPOOL 5 /**< mean of each channel */
#define DG_LAYER_FLATTEN 6        /**< C x H x W to C*H*W x 1 x 1 */
#define DG_LAYER_LINEAR 7         /**< fully connected with bias */
#define DG_LAYER_BATCHNORM 8      /**< per channel; folded at inference */
#define DG_LAYER_ADD 9            /**< element-wise sum of two layers */
#define DG_LAYER_SOFTMAX 10       /**< over the channels */
#define DG_LAYER_DROPOUT 11       /**< identity at inference */
#define DG_LAYER_CLIP 12          /**< min(max(x, lower), upper), e.g. ReLU6 */
#define DG_LAYER_SIGMOID 13       /**< 1 / (1 + exp(-x)) */
#define DG_LAYER_HARDSIGMOID 14   /**< max(0, min(1, alpha * x + beta)) */
#define DG_LAYER_HARDSWISH 15     /**< x * min(max(x + 3, 0), 6) / 6 */
#define DG_LAYER_PAD 16           /**< rows and columns of a constant added */
#define DG_LAYER_MUL 17           /**< product of two layers; the second may
                                       be C x 1 x 1, broadcast over H x W */
#define DG_LAYER_CONCAT 18        /**< the channels of two layers, in order */
/** @} */

/** Layer flags (dg_layer_info.flags). */
#define DG_LAYER_FLAG_FROZEN 1u   /**< training leaves its parameters alone */

/** @name Pixel formats
 *  Of 8-bit images handed to the library.
 *  @{ */
#define DG_PIXEL_GRAY8 1 /**< one byte per pixel */
#define DG_PIXEL_RGB8 2  /**< three bytes per pixel, interleaved */
#define DG_PIXEL_RGBA8 3 /**< four bytes per pixel; alpha is ignored */
/** @} */

/** How raw 8-bit pixels become model input:
 *  input[c] = (pixel[c] * scale - mean[c]) / std[c], after converting to
 *  `channels` channels and resizing (bilinear) to height x width. */
typedef struct dg_preprocess {
    uint32_t struct_size; /**< set by dg_preprocess_init */
    uint32_t channels; /**< 1 or 3 */
    uint32_t height;   /**< rows of the model input */
    uint32_t width;    /**< columns of the model input */
    float scale;       /**< default 1/255, so pixels map to [0,1] */
    float mean[3];     /**< default 0 */
    float std[3];      /**< default 1 */
} dg_preprocess;

/** Fills defaults for a channels x height x width model.  Thread: any. */
DG_API dg_status dg_preprocess_init(dg_preprocess *p, size_t struct_size,
                                    uint32_t channels, uint32_t height,
                                    uint32_t width);

/** Read-only description of one layer.  The caller sets struct_size. */
typedef struct dg_layer_info {
    uint32_t struct_size; /**< sizeof(dg_layer_info), set by the caller */
    int32_t kind;        /**< DG_LAYER_* */
    int32_t input0;      /**< producing layer, -1 for the model input */
    int32_t input1;      /**< second input of DG_LAYER_ADD, MUL, CONCAT; else -1 */
    uint32_t flags;      /**< DG_LAYER_FLAG_* */
    uint32_t channels;   /**< output shape per sample: channels x height x width */
    uint32_t height;     /**< output rows */
    uint32_t width;      /**< output columns */
    uint32_t kernel;     /**< conv and pooling; 0 otherwise */
    uint32_t stride;     /**< conv and pooling; 0 otherwise */
    uint32_t padding;    /**< conv and pooling; 0 otherwise */
    uint64_t param_count;  /**< trainable and statistic values */
    uint32_t pruned_units; /**< channels or features masked out */
} dg_layer_info;

/** Loads a model file (doc/model-format.md).  The checksum is verified.
 *  Thread: any. */
DG_API dg_status dg_model_load_file(const char *path, dg_model **out);
/** Loads a model from memory.  The bytes are copied: the caller may free them
 *  after the call.  Thread: any. */
DG_API dg_status dg_model_load_memory(const void *data, size_t size,
                                      dg_model **out);
/** Writes the model atomically (temporary file, fsync, rename): a crash
 *  leaves either the old file or the new one.  Thread: any, if no thread is
 *  changing the model. */
DG_API dg_status dg_model_save_file(const dg_model *m, const char *path);
/** Serialises into buf.  *size_out receives the size needed; with buf NULL
 *  or capacity too small nothing is written (DG_E_INVALID_ARG for a small
 *  non-NULL buffer).  Thread: as dg_model_save_file. */
DG_API dg_status dg_model_save_memory(const dg_model *m, void *buf,
                                      size_t capacity, size_t *size_out);

/** Builds a freshly initialised model from an architecture string such as
 *  "c32k3,relu,c32k3,relu,mp2,c64k3,relu,mp2,fc256,relu,fc10"
 *  (doc/architecture-spec.md) for inputs of channels x height x width.
 *  Weights are drawn from a generator seeded by `seed` (He initialisation).
 *  Thread: any. */
DG_API dg_status dg_model_create(const char *spec, uint32_t channels,
                                 uint32_t height, uint32_t width,
                                 uint64_t seed, dg_model **out);

/** Adds a reference; each reference is dropped by one dg_model_free.
 *  Thread: any. */
DG_API dg_model *dg_model_retain(dg_model *m);
/** Drops a reference; frees at zero.  NULL is a no-op.  Thread: any. */
DG_API void dg_model_free(dg_model *m);

/** Input shape per sample.  Thread: any. */
DG_API dg_status dg_model_input_shape(const dg_model *m, uint32_t *channels,
                                      uint32_t *height, uint32_t *width);
/** Number of layers.  Thread: any. */
DG_API dg_status dg_model_layer_count(const dg_model *m, uint32_t *count);
/** Output size per sample of the last layer (the class count of a
 *  classifier).  Thread: any. */
DG_API dg_status dg_model_output_size(const dg_model *m, uint32_t *size);
/** Describes layer `index`.  Thread: any. */
DG_API dg_status dg_model_layer_info(const dg_model *m, uint32_t index,
                                     dg_layer_info *info);
/** The stored preprocessing (named like dg_model_layer_info; since
 *  LIBDIFFGUARD_1.1).  Thread: any. */
DG_API dg_status dg_model_preprocess(const dg_model *m, dg_preprocess *p);
/** @deprecated The LIBDIFFGUARD_1.0 name of dg_model_preprocess. */
DG_API dg_status dg_model_get_preprocess(const dg_model *m, dg_preprocess *p);
/** Replaces the preprocessing; its shape must equal the input shape.
 *  Thread: one thread, with no other thread using the model. */
DG_API dg_status dg_model_set_preprocess(dg_model *m, const dg_preprocess *p);
/** Name of output class `index` ("" when unnamed); owned by the model.
 *  Thread: any. */
DG_API dg_status dg_model_class_name(const dg_model *m, uint32_t index,
                                     const char **name);
/** Names the output classes; count must equal the output size.  Each name is
 *  copied, at most 63 bytes of UTF-8.  Thread: as dg_model_set_preprocess. */
DG_API dg_status dg_model_set_class_names(dg_model *m,
                                          const char *const *names,
                                          uint32_t count);

/* ------------------------------------------------------------------------ */
/* Inference sessions                                                       */
/* ------------------------------------------------------------------------ */

/** Creates a session that runs `m` on up to max_batch samples per call.
 *  Backend primitives are built here; later runs allocate nothing for
 *  batches up to max_batch.  The session holds a reference to the model.
 *  Thread: any (the model is only read). */
DG_API dg_status dg_session_create(const dg_model *m, uint32_t max_batch,
                                   dg_session **out);
/** Runs the model on `batch` preprocessed samples (NCHW floats,
 *  input_len == batch * C * H * W).  Thread: one thread at a time per session. */
DG_API dg_status dg_session_run(dg_session *s, const float *input,
                                size_t input_len, uint32_t batch);
/** Borrows the output of `layer` (-1: the last layer) of the last run:
 *  batch x C x H x W floats, valid until the next run or free.  Any shape
 *  pointer may be NULL.  A convolution or linear layer whose batch norm or
 *  ReLU is fused into it at inference has no output of its own: that gives
 *  DG_E_STATE with a detail naming the layer to read.  Thread: as
 *  dg_session_run. */
DG_API dg_status dg_session_output(const dg_session *s, int32_t layer,
                                   const float **data, uint32_t *batch,
                                   uint32_t *channels, uint32_t *height,
                                   uint32_t *width);
/** Frees the session; NULL is a no-op.  Thread: one thread, not
 *  concurrently with its use. */
DG_API void dg_session_free(dg_session *s);

/* ------------------------------------------------------------------------ */
/* Images                                                                   */
/* ------------------------------------------------------------------------ */

/** Converts 8-bit pixels (DG_PIXEL_*, rows `stride` bytes apart) into the
 *  model's input as its preprocessing says: channel conversion, bilinear
 *  resize, scaling and normalisation.  out_len must be C*H*W of the model.
 *  Thread: any. */
DG_API dg_status dg_image_from_pixels(const dg_model *m, const uint8_t *pixels,
                                      uint32_t width, uint32_t height,
                                      size_t stride, int32_t pixel_format,
                                      float *out, size_t out_len);
/** Decodes a PNG or JPEG held in memory (detected by signature) and
 *  preprocesses it like dg_image_from_pixels.  Thread: any. */
DG_API dg_status dg_image_decode(const dg_model *m, const void *data,
                                 size_t size, float *out, size_t out_len);
/** dg_image_decode on a file's contents.  Thread: any. */
DG_API dg_status dg_image_load_file(const dg_model *m, const char *path,
                                    float *out, size_t out_len);
/** What an encoded image's header says.  The caller sets struct_size. */
typedef struct dg_image_info {
    uint32_t struct_size; /**< sizeof(dg_image_info), set by the caller */
    uint32_t width;       /**< pixels per row */
    uint32_t height;      /**< rows */
    uint32_t channels;    /**< 1 (gray) or 3 (colour); alpha is not counted */
} dg_image_info;

/** Reads the header of a PNG or JPEG held in memory, decoding no pixels.
 *  Compared with dg_model_get_preprocess's shape it tells a host whether
 *  dg_image_decode will convert the colour or resize the image.  Fails as
 *  dg_image_decode does on data that is not a PNG or JPEG.  Thread: any. */
DG_API dg_status dg_image_probe(const void *data, size_t size,
                                dg_image_info *info);
/** dg_image_probe on a file's contents.  Thread: any. */
DG_API dg_status dg_image_probe_file(const char *path, dg_image_info *info);
/** Writes 8-bit pixels (DG_PIXEL_GRAY8 or DG_PIXEL_RGB8, interleaved, rows
 *  `stride` bytes apart) as a PNG file, atomically (an attack's example images,
 *  for one).  Thread: any. */
DG_API dg_status dg_image_save_png(const char *path, const uint8_t *pixels,
                                   uint32_t width, uint32_t height,
                                   size_t stride, int32_t pixel_format);

/* ------------------------------------------------------------------------ */
/* Data sets                                                                */
/* ------------------------------------------------------------------------ */

/** Loads an IDX image file (idx3, unsigned bytes) and its IDX label file
 *  (idx1), each plain or gzip-compressed, as the MNIST family ships them.
 *  Thread: any. */
DG_API dg_status dg_dataset_load_idx(const char *images_path,
                                     const char *labels_path,
                                     dg_dataset **out);
/** Loads an image folder: one sub-folder per class, sorted by name, holding
 *  PNG or JPEG files.  Every image is converted to channels x height x width
 *  (gray or RGB, bilinear resize).  Thread: any. */
DG_API dg_status dg_dataset_load_folder(const char *dir, uint32_t channels,
                                        uint32_t height, uint32_t width,
                                        dg_dataset **out);
/** A new data set holding the samples whose label is in classes[0..n-1],
 *  relabelled 0..n-1 in that order, keeping at most per_class samples of
 *  each class (0: all), in their original order.  Thread: any. */
DG_API dg_status dg_dataset_select(const dg_dataset *ds,
                                   const int32_t *classes, uint32_t n_classes,
                                   uint32_t per_class, dg_dataset **out);
/** dg_dataset_select, but of each class the first `skip` samples are
 *  passed over before at most per_class are kept, as skip_per_class of
 *  dg_dataset_spec_opts does for a data set still to be loaded.  Since
 *  LIBDIFFGUARD_1.1.  Thread: any. */
DG_API dg_status dg_dataset_select_from(const dg_dataset *ds,
                                        const int32_t *classes,
                                        uint32_t n_classes, uint32_t skip,
                                        uint32_t per_class, dg_dataset **out);
/** A data set made of samples in memory, copied: `count` samples of
 *  channels x height x width 8-bit pixels, each planar (C x H x W, as
 *  dg_dataset_pixels gives them back) and one after another in `pixels`,
 *  with labels[0..count-1], each 0 to 65535.  channels is 1 or 3, each
 *  side 1 to 16384.  class_names is NULL (n_class_names 0), or one name
 *  per class, n_class_names being the largest label + 1.  For training,
 *  guard building and evaluation without writing files.  Since
 *  LIBDIFFGUARD_1.2.  Thread: any. */
DG_API dg_status dg_dataset_from_pixels(const uint8_t *pixels, uint32_t count,
                                        uint32_t channels, uint32_t height,
                                        uint32_t width, const int32_t *labels,
                                        const char *const *class_names,
                                        uint32_t n_class_names,
                                        dg_dataset **out);
/** How dg_dataset_open_spec reads and selects its data. */
typedef struct dg_dataset_spec_opts {
    uint32_t struct_size; /**< sizeof(dg_dataset_spec_opts), set by _init */
    /** An image folder's images are converted to channels x height x
     *  width (channels 1 or 3); 0 (default): a folder is refused. */
    uint32_t channels;
    uint32_t height; /**< see channels */
    uint32_t width;  /**< see channels */
    /** Keep the samples of classes[0..n_classes-1], relabelled 0..n-1 in
     *  that order; NULL (default): every class.  Borrowed. */
    const int32_t *classes;
    uint32_t n_classes; /**< entries of classes */
    uint32_t per_class; /**< at most this many samples of each class; 0
                             (default): all */
    /** Of each class, pass over the first skip_per_class samples before
     *  per_class are kept: skip 500 and per_class 500 keep samples 500 to
     *  999 of each class, disjoint from what skip 0 keeps (an attacker's
     *  own images beside a defender's).  Default 0. */
    uint32_t skip_per_class;
} dg_dataset_spec_opts;

/** Defaults as documented on each field.  Since LIBDIFFGUARD_1.1.
 *  Thread: any. */
DG_API dg_status dg_dataset_spec_opts_init(dg_dataset_spec_opts *o,
                                           size_t struct_size);
/** Loads the data set a spec names, as every `dg` command's --data takes
 *  it: "fmnist:train" or "fmnist:test" (Fashion-MNIST from Debian's
 *  dataset-fashion-mnist, with its class names), "idx:IMAGES,LABELS"
 *  (dg_dataset_load_idx) or the path of an image folder
 *  (dg_dataset_load_folder, its sub-folders naming the classes), then
 *  keeps the classes and, of each, the samples as `o` says (NULL: the
 *  defaults).  A malformed spec is DG_E_INVALID_ARG; a class the data
 *  lacks DG_E_MISMATCH.  Since LIBDIFFGUARD_1.1.  Thread: any. */
DG_API dg_status dg_dataset_open_spec(const char *spec,
                                      const dg_dataset_spec_opts *o,
                                      dg_dataset **out);
/** The name of class `cls` as the data's source gives it (a folder's
 *  sub-folder, Fashion-MNIST's names), or NULL in *name when the source
 *  names none (IDX files).  Valid while the data set lives.  Since
 *  LIBDIFFGUARD_1.1.  Thread: any. */
DG_API dg_status dg_dataset_class_name(const dg_dataset *ds, uint32_t cls,
                                       const char **name);
/** Sample count.  Thread: any. */
DG_API dg_status dg_dataset_count(const dg_dataset *ds, uint32_t *count);
/** Shape of one sample.  Thread: any. */
DG_API dg_status dg_dataset_sample_shape(const dg_dataset *ds,
                                         uint32_t *channels, uint32_t *height,
                                         uint32_t *width);
/** Number of classes (largest label + 1).  Thread: any. */
DG_API dg_status dg_dataset_class_count(const dg_dataset *ds,
                                        uint32_t *count);
/** Label of sample `index`.  Thread: any. */
DG_API dg_status dg_dataset_label(const dg_dataset *ds, uint32_t index,
                                  int32_t *label);
/** Borrows the 8-bit pixels of sample `index` (C x H x W, planar).
 *  Valid while the data set lives.  Thread: any. */
DG_API dg_status dg_dataset_pixels(const dg_dataset *ds, uint32_t index,
                                   const uint8_t **pixels);
/** Writes samples indices[0..n-1] as model input (preprocessed by m, or
 *  scaled to [0,1] when m is NULL) into out (n*C*H*W floats) and, if labels
 *  is not NULL, their labels.  Thread: any. */
DG_API dg_status dg_dataset_batch(const dg_dataset *ds, const dg_model *m,
                                  const uint32_t *indices, uint32_t n,
                                  float *out, size_t out_len, int32_t *labels);
/** Frees the data set; NULL is a no-op.  Thread: one thread, not
 *  concurrently with its use. */
DG_API void dg_dataset_free(dg_dataset *ds);

/* ------------------------------------------------------------------------ */
/* Defence: pruner, differentiator ensemble (guard) and validator           */
/* ------------------------------------------------------------------------ */

/** @name Pruning modes
 *  Which units a pruner removes for a class.
 *  @{ */
#define DG_PRUNE_MOST 1  /**< the most activated by the class (default) */
#define DG_PRUNE_LEAST 2 /**< the least activated */
/** @} */

/** Creates a pruner for the units (channels, or features) of `layer`'s
 *  output, usually the ReLU after a convolution or linear layer; the masks
 *  it makes go on the convolution or linear layer that produced them.
 *  The pruner holds a reference to m.  Thread: any. */
DG_API dg_status dg_pruner_create(const dg_model *m, int32_t layer,
                                  dg_pruner **out);
/** Measures the mean activation of every unit per class (channels are
 *  averaged over space) over ds, whose labels are classes of m.  Adds to
 *  earlier measurements.  Thread: one thread at a time per pruner. */
DG_API dg_status dg_pruner_measure(dg_pruner *p, const dg_dataset *ds,
                                   dg_progress_fn progress, void *user);
/** Number of units measured.  Thread: any. */
DG_API dg_status dg_pruner_unit_count(const dg_pruner *p, uint32_t *units);
/** Mean activation of each unit over samples of class `cls` (out_len must
 *  equal the unit count).  Thread: any, with no concurrent measure. */
DG_API dg_status dg_pruner_activations(const dg_pruner *p, uint32_t cls,
                                       float *out, size_t out_len);
/** A copy of the model with round(fraction * units) units masked for
 *  class `cls` (DG_PRUNE_MOST or DG_PRUNE_LEAST activated; ties broken by
 *  unit index), their weights and biases zeroed.  Thread: as
 *  dg_pruner_activations. */
DG_API dg_status dg_pruner_prune(const dg_pruner *p, uint32_t cls,
                                 float fraction, int32_t mode,
                                 dg_model **out);
/** Frees the pruner; NULL is a no-op.  Thread: one thread, not
 *  concurrently with its use. */
DG_API void dg_pruner_free(dg_pruner *p);

/** @name Phase-2 decision rules
 *  @{ */
#define DG_RULE_VOTES 1 /**< accept if >= tau differentiators agree */
#define DG_RULE_SCORE 2 /**< accept if mean softmax score >= theta */
/** @} */

/** @name How a guard's differentiators are made (dg_guard_opts.member_kind)
 *  @{ */
#define DG_MEMBERS_PRUNED 1 /**< the Student pruned for the class and
                                 distilled (Wu et al.) */
#define DG_MEMBERS_ROBUST 2 /**< whole models of their own from the input,
                                 adversarially trained and distilled */
/** @} */

/** The most differentiators a validation consults, as this header's
 *  dg_verdict.member_label holds them; dg_capacity(DG_CAP_MEMBERS) tells
 *  the running library's. */
#define DG_MAX_MEMBERS 16

/** @name Capacities (dg_capacity)
 *  The fixed arrays of the option and result structs.  A library that
 *  outgrows one keeps the field for older callers and appends a larger
 *  one (struct_size tells them apart), so a caller sizes its loops by
 *  the running library's capacity, not by the header's array.
 *  @{ */
#define DG_CAP_MEMBERS 1      /**< dg_verdict.member_label: the largest V and M */
#define DG_CAP_PRUNE_LAYERS 2 /**< dg_guard_opts.prune_layers */
#define DG_CAP_RATIOS 3       /**< dg_guard_opts.ratios */
/** @} */

/** The capacity `which` (DG_CAP_*) of the running library, or 0 for a
 *  value it does not know.  Since LIBDIFFGUARD_1.1.  Thread: any. */
DG_API uint32_t dg_capacity(int32_t which);

/** @name Work limits on models (dg_limit, dg_set_limit; doc/limits.md)
 *  Every model made from bytes or text (a model file, an ONNX import, a
 *  guard's member models, dg_model_create) and every model derived from
 *  one is measured from its shapes when it is made; one whose forward pass
 *  would need more than a limit per input is refused with
 *  DG_E_UNSUPPORTED and a detail naming the layer and the limit.
 *  @{ */
/** Floating-point operations of one input's forward pass, a multiply-add
 *  counting two; default 64e9 (a ResNet-50 at 224x224 needs 8.2e9). */
#define DG_LIMIT_FLOPS_PER_INPUT 1
/** Bytes of the input and every layer's output for one input (float32);
 *  default 2^30 (a ResNet-50 at 224x224 needs 1.5e8). */
#define DG_LIMIT_ACTIVATION_BYTES_PER_INPUT 2
/** @} */

/** The work limit `which` (DG_LIMIT_*) in force, or 0 for a value the
 *  library does not know.  Since LIBDIFFGUARD_1.3.  Thread: any. */
DG_API uint64_t dg_limit(int32_t which);
/** Sets the work limit `which` (DG_LIMIT_*) for the whole process, for
 *  models made after the call; 0 restores the default.  DG_E_INVALID_ARG
 *  for an unknown `which`.  Since LIBDIFFGUARD_1.3.  Thread: any. */
DG_API dg_status dg_set_limit(int32_t which, uint64_t value);

/** How to build a guard.  Differentiator v of class c is pruned at
 *  prune_layers[v % n_prune_layers] with fraction
 *  ratios[(v / n_prune_layers) % n_ratios]. */
typedef struct dg_ensemble_opts {
    uint32_t struct_size;      /**< set by dg_guard_opts_init */
    uint32_t variants;         /**< V per class; default 6 */
    uint32_t members;          /**< M consulted by default; default 5 */
    int32_t rule;              /**< default DG_RULE_SCORE */
    /** Unit-owning (convolution or linear) layers of the Student to prune;
     *  -1 in the first entry: the Student's last convolution. */
    int32_t prune_layers[4];
    uint32_t n_prune_layers;   /**< default 1 */
    float ratios[8];           /**< default 0.1 0.2 0.3 0.4 0.5 0.6 */
    uint32_t n_ratios;         /**< default 6 */
    int32_t prune_mode;        /**< default DG_PRUNE_MOST */
    /** Also retrain the pruned layer itself (non-zero), not only the
     *  layers after it.  Default 1. */
    int32_t retrain_pruned;
    uint32_t epochs;           /**< fine-tuning epochs; default 4 */
    uint32_t batch_size;       /**< default 64 */
    float learning_rate;       /**< Adam; default 1e-3 */
    float distill_alpha;       /**< default 0.5 */
    float distill_temperature; /**< default 4 */
    /** Calibration target: the false rejection expected on fresh clean
     *  inputs; default 0.025 (it was 0.03; doc/validator.md). */
    float target_frr;
    /** Held-out share of the training data used for scoring and
     *  calibration when no held-out set is given; default 0: chosen from
     *  the data (dg_guard_opts_from_data), 0.2 or more. */
    float holdout_fraction;
    uint64_t seed;             /**< default 1 */
    /** If not NULL, every differentiator is saved there when built, and a
     *  new build with the same settings reuses them (resume).  The build
     *  leaves the folder in place; remove it with
     *  dg_guard_work_dir_remove once the guard is saved.  Borrowed. */
    const char *work_dir;
    /** NULL: silent; stage "harden", done/total counting attack
     *  iterations, then stage "differentiators", done/total counting the
     *  differentiators built. */
    dg_progress_fn progress;
    void *progress_user;       /**< passed to progress as `user` */
    /** Hardening (doc/validator.md): before distilling, every training
     *  sample is attacked as the threat model's attacker would attack it,
     *  its features at the Student's cut (the public Teacher's layers)
     *  pushed toward those of a sample of another class, half in an
     *  L-infinity box and half under a DSSIM budget; each differentiator
     *  then also learns, for the attacked copy, the Student's answer on
     *  the clean sample.  Non-zero (default): on; 0: clean data only. */
    int32_t harden;
    float harden_epsilon;       /**< L-infinity radius; default 0.2 */
    float harden_budget;        /**< DSSIM budget; default 0.01 */
    uint32_t harden_iterations; /**< steps per attack; default 100 */
    /** How differentiators are made (DG_MEMBERS_*; default
     *  DG_MEMBERS_ROBUST).  DG_MEMBERS_ROBUST trains V members of the
     *  Student's structure at member_width from the input, from fresh
     *  weights, adversarially (robust_epsilon) with distillation from the
     *  Student, and shares them among the classes, each class ranking and
     *  calibrating them on its own; the prune and hardening fields do not
     *  apply.  Such members reuse none of the public Teacher's weights
     *  (doc/validator.md). */
    int32_t member_kind;
    float member_width;      /**< robust: units per layer relative to the
                                  Student's; default 0.75 */
    float robust_epsilon;    /**< robust: L-infinity radius of the
                                  adversarial training, pixel units;
                                  default 0.15 */
    uint32_t robust_epochs;  /**< robust: training epochs; default 0:
                                  chosen from the data
                                  (dg_guard_opts_from_data) */
    /** robust: moves per batch of the adversarial training
     *  (dg_train_opts.adversarial_steps) when robust_replays is 1;
     *  default 3.  (Since LIBDIFFGUARD_1.2; a caller built before it
     *  gets 3.) */
    uint32_t robust_steps;
    /** robust: replays of each batch in free adversarial training
     *  (dg_train_opts.adversarial_replays); 1: robust_steps moves per
     *  batch instead.  Default 4: on the validation split at one false
     *  rejection, members as robust as with 3 moves per batch for about
     *  a third of the build (doc/EVALUATION.md).  (Since LIBDIFFGUARD_1.6;
     *  a caller built before it gets 4.) */
    uint32_t robust_replays;
} dg_ensemble_opts;
/** The options of dg_guard_build (the LIBDIFFGUARD_1.0 name is
 *  dg_ensemble_opts). */
typedef dg_ensemble_opts dg_guard_opts;

/** Defaults as documented on each field.  Thread: any. */
DG_API dg_status dg_guard_opts_init(dg_guard_opts *o, size_t struct_size);

/** Fills the options a build chooses from its data when they are 0:
 *  holdout_fraction (without a held-out set: enough images, at least 0.2
 *  and at most 0.5 of each class, that the reached false rejection over
 *  all classes has a standard error of 0.7 points at a 3% target) and
 *  robust_epochs (about 160000 image presentations over the images left
 *  to train on, a replayed batch counting once per replay, 3 to 120
 *  epochs); doc/validator.md.  dg_guard_build makes
 *  the same choices; call this to know or show them.  Options already set
 *  stay.  Since LIBDIFFGUARD_1.4.  Thread: any. */
DG_API dg_status dg_guard_opts_from_data(dg_guard_opts *o,
                                         const dg_dataset *train,
                                         const dg_dataset *holdout);

/** Builds the guard (differentiator ensemble) of `student` from its training data
 *  `train` (labels are the Student's classes) and optional held-out clean
 *  data (NULL: split off holdout_fraction of train): per class, V pruned
 *  and distilled variants, ranked by agreement with the Student on
 *  held-out inputs of that class, with thresholds calibrated for every M
 *  from 1 to V.  The guard holds a reference to the Student.  Members
 *  train one to a worker thread, as many at once as OpenMP would use
 *  threads (OMP_NUM_THREADS, else the online CPUs), so they do not depend
 *  on that number.  Thread: any (slow: minutes). */
DG_API dg_status dg_guard_build(const dg_model *student,
                                const dg_dataset *train,
                                const dg_dataset *holdout,
                                const dg_guard_opts *o, dg_guard **out);
/** Writes the guard atomically (doc/guard-format.md).  Thread: any. */
DG_API dg_status dg_guard_save_file(const dg_guard *g, const char *path);
/** Removes from `dir` the files a guard build with that work_dir made
 *  (the settings fingerprint, the differentiators, temporary files a
 *  crash left), then `dir` itself if nothing else is in it.  A build
 *  keeps its work directory, whose differentiators are the only copy of
 *  the work until the guard is stored: call this after
 *  dg_guard_save_file succeeds (a build that finds the directory
 *  again resumes from it).  A missing `dir` is DG_OK; DG_E_IO names a
 *  file that could not be removed.  Since LIBDIFFGUARD_1.1.
 *  Thread: any, with no build using `dir`. */
DG_API dg_status dg_guard_work_dir_remove(const char *dir);

/** Scale-out (doc/scale-out.md).  A build's jobs are its differentiators
 *  (class, variant); job k = class * V + variant, and shard `index` of
 *  `count` makes the jobs with k % count == index.  Every job is made from
 *  its own seed, so the parts do not depend on `count`, and the merged
 *  guard's bytes equal those of dg_guard_build with the same arguments
 *  (a hardened pruned guard's: on the same number of threads).
 *
 *  dg_guard_build_shard makes this shard's jobs in o->work_dir (required;
 *  it may be on a shared file system), resuming like dg_guard_build, and
 *  builds no guard.  Each part records its class, variant, Student, data
 *  and settings; a part that disagrees with this build is refused with
 *  DG_E_MISMATCH naming it and what differs.  Since LIBDIFFGUARD_1.3.
 *  Thread: any (slow), with no other process making the same shard. */
DG_API dg_status dg_guard_build_shard(const dg_model *student,
                                      const dg_dataset *train,
                                      const dg_dataset *holdout,
                                      const dg_guard_opts *o, uint32_t index,
                                      uint32_t count);
/** Ranks, calibrates and returns the guard from o->work_dir once every
 *  shard is done, with the arguments the shards were given; makes no
 *  differentiator.  A work directory lacking parts is refused with
 *  DG_E_STATE naming them; parts made with other settings, Student or
 *  data, or under another (class, variant) name, with DG_E_MISMATCH.
 *  Remove the directory with dg_guard_work_dir_remove once the guard is
 *  saved.  Since LIBDIFFGUARD_1.3.  Thread: any. */
DG_API dg_status dg_guard_merge(const dg_model *student,
                                const dg_dataset *train,
                                const dg_dataset *holdout,
                                const dg_guard_opts *o, dg_guard **out);
/** Reads a shard spec: "I/N" (0 <= I < N), "auto/N" or "auto".  auto
 *  takes the index (and, without /N, the count) from the cluster engine's
 *  environment, in this order: SLURM_ARRAY_TASK_ID (minus
 *  SLURM_ARRAY_TASK_MIN) / SLURM_ARRAY_TASK_COUNT, OMPI_COMM_WORLD_RANK /
 *  OMPI_COMM_WORLD_SIZE, PMI_RANK / PMI_SIZE, and JOB_COMPLETION_INDEX
 *  (Kubernetes indexed Jobs), which gives no count: use auto/N with N the
 *  Job's completions.  A count in both the spec and the environment must
 *  agree.  DG_E_INVALID_ARG names what is wrong.  Since LIBDIFFGUARD_1.3.
 *  Thread: any (reads the environment). */
DG_API dg_status dg_shard_parse(const char *spec, uint32_t *index,
                                uint32_t *count);
/** Loads a guard for `student`; a guard made for another Student (by
 *  content hash) is refused with DG_E_MISMATCH.  Holds a reference to the
 *  Student.  Thread: any. */
DG_API dg_status dg_guard_load_file(const char *path, const dg_model *student,
                                    dg_guard **out);
/** As dg_guard_load_file, from memory (copied as needed).  Thread: any. */
DG_API dg_status dg_guard_load_memory(const void *data, size_t size,
                                      const dg_model *student,
                                      dg_guard **out);

/** A guard's shape and defaults.  The caller sets struct_size. */
typedef struct dg_ensemble_info {
    uint32_t struct_size; /**< sizeof(dg_ensemble_info), set by the caller */
    uint32_t classes;    /**< the Student's output size */
    uint32_t variants;   /**< V per class */
    uint32_t members;    /**< default M */
    int32_t rule;        /**< default rule */
    float target_frr;    /**< the calibration target */
    uint64_t student_hash; /**< content hash of the Student it belongs to */
} dg_ensemble_info;
/** A guard's description (the LIBDIFFGUARD_1.0 name is dg_ensemble_info). */
typedef dg_ensemble_info dg_guard_info;

/** Describes a guard.  Thread: any. */
DG_API dg_status dg_guard_get_info(const dg_guard *g, dg_guard_info *info);

/** One differentiator of a class, by rank (0 = best).  The caller sets
 *  struct_size. */
typedef struct dg_member_info {
    uint32_t struct_size;  /**< sizeof(dg_member_info), set by the caller */
    int32_t prune_layer;   /**< Student layer whose units were pruned */
    float ratio;           /**< fraction of its units pruned */
    int32_t mode;          /**< DG_PRUNE_* */
    uint64_t seed;         /**< of its fine-tuning */
    uint32_t pruned_units; /**< units masked out of prune_layer */
    uint32_t tail_layers;  /**< layers computed beyond the shared prefix */
    float agreement;       /**< with the Student on held-out clean inputs */
    float score;           /**< the ranking score */
} dg_member_info;

/** Describes differentiator `rank` (0 = best) of class `cls`.
 *  Thread: any. */
DG_API dg_status dg_guard_member(const dg_guard *g, uint32_t cls,
                                 uint32_t rank, dg_member_info *info);
/** The differentiator of class cls at rank (0 = best) as a whole model:
 *  the Student's layers it shares followed by its own.  For example to
 *  export it to ONNX and run it in another runtime.  It has the Student's
 *  input, preprocessing and class names, and its pruned units keep their
 *  masks.  The caller frees it.  Thread: any. */
DG_API dg_status dg_guard_member_model(const dg_guard *g, uint32_t cls,
                                          uint32_t rank, dg_model **out);

/** Calibrated thresholds of class `cls` for M members.  The caller sets
 *  struct_size. */
typedef struct dg_calibration {
    uint32_t struct_size; /**< sizeof(dg_calibration), set by the caller */
    uint32_t tau;        /**< votes needed */
    float theta;         /**< mean score needed */
    float frr_votes;     /**< false rejection reached by tau on its data */
    float frr_score;     /**< ... and by theta */
    uint32_t samples;    /**< clean held-out samples it was set on */
    int32_t pooled;      /**< non-zero: too few samples, all classes pooled */
    /** How far the score rule's false rejection on fresh inputs may lie
     *  from the target, from build to build: the standard deviation
     *  sqrt(target (1 - target) / samples) of a rate set on `samples`
     *  inputs (1 without any; doc/validator.md, "Uncertainty").  (Since
     *  LIBDIFFGUARD_1.5; a caller built before it does not get it.) */
    float frr_spread;
} dg_calibration;

/** The thresholds of class `cls` for `members` differentiators (1 to V).
 *  Thread: any. */
DG_API dg_status dg_guard_calibration(const dg_guard *g, uint32_t cls,
                                      uint32_t members, dg_calibration *c);

/** Adds a reference to a guard (reference counted like models); a loaded
 *  guard is immutable and may be shared by any number of threads.
 *  Thread: any. */
DG_API dg_guard *dg_guard_retain(dg_guard *g);
/** Drops a reference; frees at zero.  dg_guard_free(NULL) is a no-op.
 *  Thread: any. */
DG_API void dg_guard_free(dg_guard *g);

/** @name Deprecated names (LIBDIFFGUARD_1.0)
 *  The guard's functions were first named dg_ensemble_*; those names stay
 *  exported as aliases of the same code, so programs built with them keep
 *  working.  New code uses dg_guard_*.
 *  @{ */
/** @deprecated Use dg_guard_opts_init. */
DG_API dg_status dg_ensemble_opts_init(dg_ensemble_opts *o, size_t struct_size);
/** @deprecated Use dg_guard_build. */
DG_API dg_status dg_ensemble_build(const dg_model *student,
                                   const dg_dataset *train,
                                   const dg_dataset *holdout,
                                   const dg_ensemble_opts *o,
                                   dg_ensemble **out);
/** @deprecated Use dg_guard_save_file. */
DG_API dg_status dg_ensemble_save_file(const dg_ensemble *g, const char *path);
/** @deprecated Use dg_guard_load_file. */
DG_API dg_status dg_ensemble_load_file(const char *path,
                                       const dg_model *student,
                                       dg_ensemble **out);
/** @deprecated Use dg_guard_load_memory. */
DG_API dg_status dg_ensemble_load_memory(const void *data, size_t size,
                                         const dg_model *student,
                                         dg_ensemble **out);
/** @deprecated Use dg_guard_get_info. */
DG_API dg_status dg_ensemble_get_info(const dg_ensemble *g,
                                      dg_ensemble_info *info);
/** @deprecated Use dg_guard_member. */
DG_API dg_status dg_ensemble_member(const dg_ensemble *g, uint32_t cls,
                                    uint32_t rank, dg_member_info *info);
/** @deprecated Use dg_guard_member_model. */
DG_API dg_status dg_ensemble_member_model(const dg_ensemble *g, uint32_t cls,
                                          uint32_t rank, dg_model **out);
/** @deprecated Use dg_guard_calibration. */
DG_API dg_status dg_ensemble_calibration(const dg_ensemble *g, uint32_t cls,
                                         uint32_t members, dg_calibration *c);
/** @deprecated Use dg_guard_retain. */
DG_API dg_ensemble *dg_ensemble_retain(dg_ensemble *g);
/** @deprecated Use dg_guard_free. */
DG_API void dg_ensemble_free(dg_ensemble *g);
/** @} */

/** Settings of a validator; fill with dg_validator_opts_init. */
typedef struct dg_validator_opts {
    uint32_t struct_size; /**< set by dg_validator_opts_init */
    uint32_t members;    /**< M; 0: the guard's default */
    int32_t rule;        /**< DG_RULE_*; 0: the guard's default */
    uint32_t max_batch;  /**< largest batch per call; default 64 */
} dg_validator_opts;

/** Defaults as documented on each field.  Thread: any. */
DG_API dg_status dg_validator_opts_init(dg_validator_opts *o,
                                        size_t struct_size);

/** Why an input was accepted or rejected.  The caller sets struct_size. */
typedef struct dg_verdict {
    uint32_t struct_size; /**< sizeof(dg_verdict), set by the caller */
    int32_t accepted;    /**< 1: accept the phase-1 label; 0: reject */
    int32_t label;       /**< phase-1 class (the Student's) */
    int32_t rule;        /**< the rule in force */
    uint32_t members;    /**< differentiators consulted (M) */
    uint32_t votes;      /**< how many agreed with label */
    float score;         /**< mean softmax probability of label */
    float threshold;     /**< tau (as a number) or theta in force */
    int32_t member_label[DG_MAX_MEMBERS];  /**< each one's argmax */
    float member_score[DG_MAX_MEMBERS];    /**< each one's P(label) */
} dg_verdict;

/** Creates a validator over a guard: per-thread state (executors for the
 *  Student and every differentiator tail, buffers) prepared for batches up
 *  to max_batch.  o may be NULL for the defaults.  It holds a reference to
 *  the guard.  Thread: any. */
DG_API dg_status dg_validator_create(const dg_guard *g,
                                     const dg_validator_opts *o,
                                     dg_validator **out);
/** Two-phase validation of `batch` preprocessed inputs (NCHW floats,
 *  input_len == batch * C * H * W): phase 1 runs the Student, phase 2 the
 *  first M differentiators of each predicted class, computing the layers
 *  shared with the Student once.  Writes batch verdicts.  After the first
 *  calls with each batch size it allocates nothing.  A NaN or infinite
 *  input value is refused (DG_E_INVALID_ARG, naming the sample), before any
 *  verdict is written.  Thread: one thread at a time per validator; use one
 *  validator per thread. */
DG_API dg_status dg_validate(dg_validator *v, const float *input,
                             size_t input_len, uint32_t batch,
                             dg_verdict *verdicts);
/** As dg_validate, with phase 1 taken from the host's own Student
 *  prediction: labels[i] is its class for sample i (only the layers the
 *  differentiators share are run).  Thread: as dg_validate. */
DG_API dg_status dg_validate_labeled(dg_validator *v, const float *input,
                                     size_t input_len, uint32_t batch,
                                     const int32_t *labels,
                                     dg_verdict *verdicts);
/** Frees the validator; NULL is a no-op.  Thread: one thread, not
 *  concurrently with its use. */
DG_API void dg_validator_free(dg_validator *v);

/* ------------------------------------------------------------------------ */
/* Training, evaluation and transfer learning                               */
/* ------------------------------------------------------------------------ */

#ifdef DG_EXPERIMENTAL_API
/* Experimental: training's options will change as the training loop
 * grows (DG_EXPERIMENTAL_API above). */

/** @name Optimisers (dg_train_opts.optimizer)
 *  @{ */
#define DG_OPTIMIZER_SGD 1   /**< with momentum; weight decay as L2 */
#define DG_OPTIMIZER_ADAM 2  /**< weight decay decoupled (AdamW) */
/** @} */

/** The default Teacher for 1x28x28 inputs (Fashion-MNIST classes 0-4). */
#define DG_ARCH_FMNIST_TEACHER                                                \
    "c32k3,relu,c32k3,relu,mp2,c64k3,relu,c64k3,relu,mp2,fc256,relu,fc128,"  \
    "relu,fc5"

/** @name Learning-rate schedules (dg_train_opts.schedule)
 *  @{ */
#define DG_SCHEDULE_CONSTANT 0 /**< the same rate every epoch */
#define DG_SCHEDULE_STEP 1   /**< lr *= step_gamma every step_epochs */
#define DG_SCHEDULE_COSINE 2 /**< cosine decay to 0 over all epochs */
/** @} */

/** @name Training recipes (experimental): the defaults of `dg train` (a
 *  network from scratch), `dg transfer` (a new head on frozen features:
 *  few samples, more epochs, a larger rate) and `dg patch` (Wang et al.'s
 *  patch of every layer: a small constant rate; 25 epochs take CAP from
 *  200 to 5000 in steps of 200), which the scenario's full size uses;
 *  measured in doc/training.md
 *  @{ */
#define DG_TRAIN_SCRATCH_EPOCHS 4                   /**< dg train */
#define DG_TRAIN_SCRATCH_LR 0.001                   /**< dg train */
#define DG_TRAIN_SCRATCH_SCHEDULE DG_SCHEDULE_CONSTANT /**< dg train */
#define DG_TRAIN_HEAD_EPOCHS 50                     /**< dg transfer */
#define DG_TRAIN_HEAD_LR 0.03                       /**< dg transfer */
#define DG_TRAIN_HEAD_SCHEDULE DG_SCHEDULE_COSINE   /**< dg transfer */
#define DG_TRAIN_PATCH_EPOCHS 25                    /**< dg patch */
#define DG_TRAIN_PATCH_LR 0.001                     /**< dg patch */
#define DG_TRAIN_PATCH_SCHEDULE DG_SCHEDULE_CONSTANT /**< dg patch */
/** @} */

/** How to train; fill with dg_train_opts_init. */
typedef struct dg_train_opts {
    uint32_t struct_size;     /**< set by dg_train_opts_init */
    uint32_t epochs;          /**< default 4 */
    uint32_t batch_size;      /**< default 64 */
    int32_t optimizer;        /**< default DG_OPTIMIZER_ADAM */
    float learning_rate;      /**< default 1e-3 */
    float momentum;           /**< SGD only; default 0.9 */
    float weight_decay;       /**< default 0 */
    int32_t schedule;         /**< default DG_SCHEDULE_CONSTANT */
    uint32_t step_epochs;     /**< default 1 */
    float step_gamma;         /**< default 0.5 */
    uint64_t seed;            /**< shuffling and dropout; default 1 */
    /** If not NULL, a checkpoint is written there atomically at the end of
     *  every epoch, and training resumes from it if it already exists for
     *  the same model shape and settings.  Borrowed for the call. */
    const char *checkpoint_path;
    /** If not NULL, adds distillation from this model's outputs:
     *  alpha * T^2 * KL(softmax(teacher/T) || softmax(model/T)). */
    const dg_model *distill_from;
    float distill_alpha;       /**< default 0.5 */
    float distill_temperature; /**< default 4 */
    dg_progress_fn progress;   /**< NULL: silent */
    void *progress_user;       /**< passed to progress as `user` */
    /** Adversarial training (fast FGSM with a random start, Wong et al.
     *  2020): each batch is first moved, within an L-infinity box of this
     *  radius in pixel units ([0,1]), to raise the model's own loss, and
     *  the step learns from the moved batch (the distillation teacher
     *  still sees the clean one).  0 (default): off. */
    float adversarial_epsilon;
    /** Wang et al.'s patch (USENIX Security 2018; doc/EVALUATION.md): if
     *  not NULL, adds patch_weight * max(CAP - d, 0)^2 to the loss, d the
     *  L2 distance between the outputs of layer patch_layer of the model
     *  and of this Teacher, so that the model stops computing the
     *  Teacher's features there.  CAP is patch_cap in the first epoch and
     *  grows by patch_cap_step every epoch up to patch_cap_max.  The patch
     *  trains every layer: it clears the model's frozen flags.  Borrowed
     *  for the call.  (Since LIBDIFFGUARD_1.2.) */
    const dg_model *patch_teacher;
    /** The layer K whose features move; both models must have it with the
     *  same output shape.  -1 (default): the model's last frozen layer, a
     *  transferred Student's cut. */
    int32_t patch_layer;
    float patch_cap;      /**< CAP in the first epoch; default 200 */
    float patch_cap_step; /**< added every epoch; default 200 */
    float patch_cap_max;  /**< CAP stops growing there; default 5000 */
    float patch_weight;   /**< default 1e-6 */
    /** Adversarial training: moves of each batch.  1 (default): one step
     *  of 1.25 epsilon from the random start (FGSM); k > 1: k steps of
     *  2.5 epsilon / k each (PGD, Madry et al. 2018), k times the cost of
     *  the move.  (Since LIBDIFFGUARD_1.2.) */
    uint32_t adversarial_steps;
    /** Free adversarial training (Shafahi et al. 2019) instead of
     *  adversarial_steps: each batch is replayed this many times from the
     *  random start, and each replay's one backward pass gives both the
     *  weights' step and the next move, of one epsilon; the moves carry
     *  over between replays.  An epoch then costs about as many passes as
     *  replays and makes as many weight steps.  0 or 1 (default): off.
     *  (Since LIBDIFFGUARD_1.6.) */
    uint32_t adversarial_replays;
} dg_train_opts;

/** Written by dg_model_train when not NULL; the caller sets struct_size. */
typedef struct dg_train_report {
    uint32_t struct_size;    /**< sizeof(dg_train_report), set by the caller */
    uint32_t epochs_run;     /**< epochs trained by this call */
    uint32_t resumed_epoch;  /**< epochs already done by a checkpoint */
    float last_loss;         /**< mean training loss of the last epoch */
    float last_accuracy;     /**< training accuracy of the last epoch */
    /** With a patch: the mean distance of the last epoch between the
     *  model's and the Teacher's layer-K features; else NaN.  (Since
     *  LIBDIFFGUARD_1.2.) */
    float last_patch_distance;
} dg_train_report;

/** Defaults as documented on each field.  Thread: any. */
DG_API dg_status dg_train_opts_init(dg_train_opts *o, size_t struct_size);

/** Trains the non-frozen layers of m on ds (labels must be below the
 *  model's output size; sample shape must equal its input) with
 *  cross-entropy (plus distillation, or the patch, when asked).  The
 *  model's weights change in place.  Thread: one thread, with no other thread using m or any
 *  session of m (sessions made before keep the old weights). */
DG_API dg_status dg_model_train(dg_model *m, const dg_dataset *ds,
                                const dg_train_opts *o,
                                dg_train_report *report);
/** dg_model_train, then m written to path atomically and the checkpoint
 *  (o->checkpoint_path, if set) removed: a leftover checkpoint would make
 *  the next training with it resume this finished one.  If training or
 *  writing fails the checkpoint stays, so that the same call resumes.
 *  Since LIBDIFFGUARD_1.4.  Thread: as dg_model_train. */
DG_API dg_status dg_model_train_file(dg_model *m, const dg_dataset *ds,
                                     const dg_train_opts *o, const char *path,
                                     dg_train_report *report);
#endif /* DG_EXPERIMENTAL_API */

/** Classifies every sample of ds and counts: *correct and *total, and when
 *  confusion is not NULL, confusion[true * k + predicted] for k = the
 *  model's output size (confusion_len must be k * k).  Thread: any. */
DG_API dg_status dg_model_evaluate(const dg_model *m, const dg_dataset *ds,
                                   uint32_t *confusion, size_t confusion_len,
                                   uint32_t *correct, uint32_t *total);

/** Makes a Student: copies layers 0..cut_layer of the Teacher (frozen) and
 *  appends a freshly initialised head described by an architecture string
 *  (such as "fc5").  cut_layer -1 means "through the last hidden layer": every
 *  layer before the Teacher's final linear layer.  The Student keeps the
 *  Teacher's preprocessing.  Thread: any. */
DG_API dg_status dg_model_transfer(const dg_model *teacher, int32_t cut_layer,
                                   const char *head_spec, uint64_t seed,
                                   dg_model **student);

/** Freezes (non-zero) or unfreezes one layer.  Thread: as
 *  dg_model_set_preprocess. */
DG_API dg_status dg_model_set_frozen(dg_model *m, uint32_t layer,
                                     int32_t frozen);

#ifdef DG_EXPERIMENTAL_API
/* ------------------------------------------------------------------------ */
/* Attacks and adversarial sets (experimental)                             */
/* ------------------------------------------------------------------------ */

/* Attacks to evaluate defences with (doc/attack.md has the math and the
 * measurements).  Images are planar C x H x W pixels in [0,1] of the
 * model's input shape; the library maps them to model input through the
 * model's preprocessing (input = (pixel * 255 * scale - mean) / std). */

/** @name Attack methods (dg_attack_opts.method)
 *  @{ */
#define DG_ATTACK_MIMIC_DSSIM 1 /**< Teacher-feature mimicry under a DSSIM
                                     budget (Wang et al., 2018), in tanh
                                     space */
#define DG_ATTACK_MIMIC_LINF 2  /**< the same feature loss in an L-infinity
                                     box, PGD with sign steps */
#define DG_ATTACK_FGSM 3        /**< one sign step of size epsilon on the
                                     model's cross-entropy */
#define DG_ATTACK_PGD 4         /**< sign steps on the cross-entropy,
                                     projected on the L-infinity box */
/** @} */

/** @name Attack presets (dg_attack_opts_init)
 *  @{ */
#define DG_ATTACK_PRESET_STRONG 1 /**< the default: Adam (rate 0.03) in
                                       tanh space, budget 0.01, lambda 1e7,
                                       1000 iterations, early stop */
#define DG_ATTACK_PRESET_PAPER 2  /**< as Wang et al., 2018: Adadelta,
                                       rate 1, lambda 1e10, budget 0.003,
                                       2000 iterations, no early stop */
/** @} */

/** lambda * budget of the strong preset, measured best for Adam: a larger
 *  lambda stalls Adam after the first budget crossing, a smaller one lets
 *  iterates settle outside the budget. */
#define DG_ATTACK_STRONG_LAMBDA_BUDGET 1e5f

/** @name Attack optimisers (dg_attack_opts.optimizer)
 *  Of DG_ATTACK_MIMIC_DSSIM (the others take sign steps).
 *  @{ */
#define DG_ATTACK_ADADELTA 1 /**< rho 0.95, eps 1e-8 */
#define DG_ATTACK_ADAM 2     /**< beta1 0.9, beta2 0.999, eps 1e-8 */
/** @} */

/** How to attack; fill with dg_attack_opts_init and a preset. */
typedef struct dg_attack_opts {
    uint32_t struct_size;  /**< set by dg_attack_opts_init */
    int32_t method;        /**< DG_ATTACK_*; default DG_ATTACK_MIMIC_DSSIM */
    /** Mimicry: the layer whose output is matched; -1 (default): the last
     *  hidden layer, every layer before the model's final linear layer (the
     *  Student's cut).  FGSM and PGD attack the logits. */
    int32_t feature_layer;
    /** FGSM and PGD: 1 (default) lowers the cross-entropy of labels[i],
     *  the target class; 0 raises that of labels[i], the true class.  The
     *  check_model stop then asks for argmax == labels[i] (1) or
     *  != labels[i] (0).  Mimicry itself does not use it. */
    int32_t targeted;
    float budget;          /**< DSSIM form: DSSIM(x', x_s) < budget;
                                strong 0.01, paper 0.003 */
    /** DSSIM form: weight of max(DSSIM - budget, 0)^2; strong 1e7, paper
     *  1e10.  With Adam, lambda * budget near DG_ATTACK_STRONG_LAMBDA_BUDGET
     *  works best (doc/attack.md). */
    float lambda;
    float epsilon;         /**< L-infinity radius in pixel units; 0.1 */
    float step;            /**< L-infinity step per iteration; 0.01 */
    uint32_t iterations;   /**< optimisation steps per image */
    int32_t optimizer;     /**< DSSIM form: DG_ATTACK_ADAM or _ADADELTA */
    float learning_rate;   /**< of the optimizer */
    /** Stop an image once its objective (feature distance or
     *  cross-entropy) has not improved for this many iterations; 0: never. */
    uint32_t patience;
    /** Relative decrease that counts as an improvement; default 1e-3. */
    float min_improvement;
    int32_t random_start;  /**< L-infinity forms: start uniformly in the
                                box (non-zero) or at the source (0) */
    uint32_t batch_size;   /**< images optimised together; default 32 */
    uint32_t threads;      /**< worker threads; 0 (default): online CPUs */
    uint64_t seed;         /**< random starts, per image; default 1 */
    /** If not NULL, an image also stops as soon as this model classifies
     *  x' as its success rule says (labels required).  Off by default: the
     *  attacker of the threat model never queries the Student.  Borrowed
     *  for the call. */
    const dg_model *check_model;
    dg_progress_fn progress;  /**< stage "attack", done/total in image
                                   iterations; metric: share of finished
                                   images within budget */
    void *progress_user;      /**< passed to progress as `user` */
    /* Fields below were appended after the first layout (1.0): a caller
     * whose struct ends at progress_user gets their defaults. */
    /** Adaptive attacks (doc/attack.md): NULL or n_adaptive_models whole
     *  classifiers of the attacked model's input shape (a surrogate
     *  Student, differentiators made whole with dg_ensemble_member_model,
     *  ...), each read through its own preprocessing.  Their mean loss
     *  towards labels[i] (cross-entropy; untargeted FGSM and PGD: away from
     *  labels[i], -log(1 - p)) joins the objective with weight
     *  adaptive_weight; labels are then required.  Borrowed for the
     *  call. */
    const dg_model *const *adaptive_models;
    /** NULL: every adaptive model joins every image's loss.  Else
     *  n_adaptive_models classes: model k joins only the images whose
     *  labels[i] equals adaptive_model_classes[k] (-1: every image), as a
     *  guard consults only the members of the class it is asked about. */
    const int32_t *adaptive_model_classes;
    uint32_t n_adaptive_models; /**< entries of the two arrays above */
    /** 0 (default): every model that joins an image is used at every
     *  step (the exact mean).  k: each step draws k of them per image at
     *  random (seeded), an estimate of that mean at k/n of the cost. */
    uint32_t adaptive_draw;
    float adaptive_weight; /**< weight of the mean model loss; default 1 */
    /** Weight of the feature term (the feature distance for mimicry, the
     *  attacked model's cross-entropy for FGSM and PGD); default 1.  0
     *  switches it off: the attack then works through the adaptive models
     *  alone, and mimicry needs no target images. */
    float feature_weight;
    /** The first image's place in a longer run of which this call is a
     *  part (a shard): image i's random start and draws are keyed by the
     *  seed and first_index + i, so parts give what one run gives.
     *  Default 0. */
    uint32_t first_index;
} dg_attack_opts;

/** Fills o with a preset (DG_ATTACK_PRESET_*).  Thread: any. */
DG_API dg_status dg_attack_opts_init(dg_attack_opts *o, size_t struct_size,
                                     int32_t preset);

/** Attacks n images with `model` (the Teacher for mimicry, the classifier
 *  itself for FGSM and PGD).  Every array holds n items:
 *  - sources: n x C x H x W pixels in [0,1], the images x_s;
 *  - targets: mimicry: n x C x H x W target images x_t (not needed with
 *    feature_weight 0); else NULL;
 *  - labels: FGSM and PGD: the class to reach (targeted) or to leave
 *    (untargeted); mimicry: the target class, only needed with
 *    check_model or adaptive models; else may be NULL;
 *  - adversarial: out, n x C x H x W: x' on the 1/255 grid;
 *  - dssim: out (may be NULL): DSSIM(x', x_s);
 *  - feature_distance: out (may be NULL): the feature term at x': the L2
 *    feature distance for mimicry, the cross-entropy of labels[i] for FGSM
 *    and PGD; with feature_weight 0, the mean loss of the adaptive models;
 *  - within_budget: out (may be NULL): 1 if x' meets the budget after
 *    rounding (DSSIM < budget, or |x' - x_s| <= epsilon).
 *
 *  An attack that never meets its budget has failed: within_budget 0, the
 *  source copied to adversarial, dssim and feature_distance NaN.  Results
 *  depend on seed and batch_size, not on the thread count.  If the call
 *  fails (or the progress callback stops it: DG_E_CANCELLED) the outputs
 *  are unspecified.  Thread: any (the models are only read); it runs its
 *  own worker threads. */
DG_API dg_status dg_attack_run(const dg_model *model, const dg_attack_opts *o,
                               const float *sources, const float *targets,
                               const int32_t *labels, uint32_t n,
                               float *adversarial, float *dssim,
                               float *feature_distance,
                               uint8_t *within_budget);

/** DSSIM = (1 - MS-SSIM(a, b)) / 2 of two c x h x w planar images with
 *  pixels in [0,1] (doc/attack.md: windows, scales, weights); NaN or
 *  infinite pixels are refused.  Thread: any. */
DG_API dg_status dg_dssim(const float *a, const float *b, uint32_t c,
                          uint32_t h, uint32_t w, float *out);


/** One attempt.  The caller sets struct_size. */
typedef struct dg_advset_item {
    uint32_t struct_size;   /**< sizeof(dg_advset_item), set by the caller */
    uint32_t source_index;  /**< index of x_s in the data it came from */
    int32_t source_label;   /**< s, in the Student's classes */
    int32_t target_label;   /**< t (-1 for an untargeted FGSM or PGD) */
    int32_t student_label;  /**< argmax Student(x'); -1: not measured */
    float dssim;            /**< as dg_attack_run reports it */
    float feature_distance; /**< as dg_attack_run reports it */
    int32_t within_budget;  /**< 0: a failed attack; pixels are x_s */
    /** Within budget and student_label == target_label (for target -1:
     *  student_label != source_label). */
    int32_t success;
} dg_advset_item;

/** An empty set for c x h x w images, recording the attack's settings
 *  (everything but threads, check_model, the progress callback and the
 *  adaptive fields) and a
 *  free description of at most 1023 bytes, such as the data and classes
 *  (copied).  Thread: any. */
DG_API dg_status dg_advset_create(const dg_attack_opts *settings,
                                  uint32_t channels, uint32_t height,
                                  uint32_t width, const char *description,
                                  dg_advset **out);
/** Appends an attempt; pixels (pixels_len == C*H*W, in [0,1]; NaN or
 *  infinite ones are refused) are rounded to 8 bits.  Labels: source >= 0,
 *  target and Student label >= -1.  Thread: one thread at a time per set. */
DG_API dg_status dg_advset_add(dg_advset *set, const dg_advset_item *item,
                               const float *pixels, size_t pixels_len);
/** Writes the set atomically.  Thread: any, with no concurrent add. */
DG_API dg_status dg_advset_save_file(const dg_advset *set, const char *path);
/** Reads a set, checking magic, version, sizes and checksum first.
 *  Thread: any. */
DG_API dg_status dg_advset_load_file(const char *path, dg_advset **out);
/** The set an unsharded attack run writes, from the sets its shards wrote
 *  (`dg attack --shard I/N`, doc/scale-out.md), given in any order.  A
 *  part is a set whose description ends with " [shard I/N of T attempts]"
 *  (DG_ADVSET_SHARD_MARK) and holds its shard's attempts in run order;
 *  the merged set has the description without the mark and the attempts
 *  of shard 0, 1, ...  Parts of other runs (shape, settings, seed,
 *  description), a shard missing or given twice, or attempts not adding
 *  up to T are refused with DG_E_MISMATCH naming the part.  Since
 *  LIBDIFFGUARD_1.3.  Thread: any. */
DG_API dg_status dg_advset_merge(const dg_advset *const *parts, uint32_t n,
                                 dg_advset **out);
/** printf format of the shard mark (index, count, total attempts). */
#define DG_ADVSET_SHARD_MARK " [shard %u/%u of %u attempts]"
/** Number of attempts.  Thread: any, with no concurrent dg_advset_add (as
 *  for every accessor below). */
DG_API dg_status dg_advset_count(const dg_advset *set, uint32_t *count);
/** Shape of each image. */
DG_API dg_status dg_advset_shape(const dg_advset *set, uint32_t *channels,
                                 uint32_t *height, uint32_t *width);
/** The recorded settings into o (the caller sets struct_size; threads,
 *  check_model, progress and the adaptive models come back 0/NULL, the
 *  adaptive weights and draw as defaults: the file does not record them,
 *  `dg attack` writes them into the description). */
DG_API dg_status dg_advset_settings(const dg_advset *set, dg_attack_opts *o);
/** The description, owned by the set. */
DG_API dg_status dg_advset_description(const dg_advset *set,
                                       const char **text);
/** Attempt `index` into item (the caller sets struct_size). */
DG_API dg_status dg_advset_item_get(const dg_advset *set, uint32_t index,
                                    dg_advset_item *item);
/** Borrows the 8-bit planar C x H x W pixels of attempt `index`, valid
 *  while the set lives. */
DG_API dg_status dg_advset_pixels(const dg_advset *set, uint32_t index,
                                  const uint8_t **pixels);
/** Writes attempts indices[0..n-1] as model input (preprocessed by m, or
 *  scaled to [0,1] when m is NULL) into out (n*C*H*W floats), as
 *  dg_dataset_batch does. */
DG_API dg_status dg_advset_batch(const dg_advset *set, const dg_model *m,
                                 const uint32_t *indices, uint32_t n,
                                 float *out, size_t out_len);
/** Frees the set; NULL is a no-op.  Thread: one thread, not
 *  concurrently with its use. */
DG_API void dg_advset_free(dg_advset *set);
#endif /* DG_EXPERIMENTAL_API */

/* ------------------------------------------------------------------------ */
/* ONNX                                                                     */
/* ------------------------------------------------------------------------ */

/** Imports an ONNX model (doc/onnx.md lists the operators and attribute
 *  values supported).  The graph needs one float input, [N, C, H, W] or
 *  [N, F] with any or a symbolic N, and one output.  An operator,
 *  attribute value or data type outside the subset fails with
 *  DG_E_UNSUPPORTED and a detail naming the node (name and op_type) and
 *  the attribute; a corrupt file, or one over 1 GiB, with DG_E_FORMAT.
 *  The model gets the default preprocessing and no class names.
 *  Thread: any. */
DG_API dg_status dg_model_import_onnx_file(const char *path, dg_model **out);
/** dg_model_import_onnx_file on bytes in memory, which are only read during
 *  the call.  Thread: any. */
DG_API dg_status dg_model_import_onnx_memory(const void *data, size_t size,
                                             dg_model **out);
/** Writes the model as ONNX (opset 13, IR version 7) atomically: input
 *  "input" and output "output" with a symbolic batch dimension, weights as
 *  raw float initializers, pruned units as zero weights and bias.  Thread:
 *  any, if no thread is changing the model. */
DG_API dg_status dg_model_export_onnx_file(const dg_model *m,
                                           const char *path);
/** Serialises as ONNX into buf.  *size_out receives the size needed; with
 *  buf NULL or capacity too small nothing is written (DG_E_INVALID_ARG for a
 *  small non-NULL buffer).  Thread: as dg_model_export_onnx_file. */
DG_API dg_status dg_model_export_onnx_memory(const dg_model *m, void *buf,
                                             size_t capacity,
                                             size_t *size_out);

/* ------------------------------------------------------------------------ */
/* Evaluation (since LIBDIFFGUARD_1.1)                                      */
/* ------------------------------------------------------------------------ */

/** A guard and its baselines judged on the same clean inputs and
 *  adversarial sets (doc/EVALUATION.md defines every number).  Read-only
 *  once made, so any number of threads may read it. */
typedef struct dg_eval dg_eval;

/** @name Detectors a row of an evaluation stands for (dg_eval_row.kind)
 *  @{ */
#define DG_EVAL_NO_DEFENCE 0 /**< the undefended Student */
#define DG_EVAL_GUARD 1      /**< two-phase validation, M members, a rule */
#define DG_EVAL_POOL 2       /**< every differentiator, no phase 1 */
#define DG_EVAL_SQUEEZE 3    /**< feature squeezing (Xu et al., NDSS 2018) */
/** Wang et al.'s patched Student in the Student's place: it rejects
 *  nothing; an attempt is stopped when it does not answer the attacker's
 *  class, and a clean input is lost when it answers it wrongly (since
 *  LIBDIFFGUARD_1.2) */
#define DG_EVAL_PATCH 4
/** @} */

/** The bit depth of feature squeezing by default: on the validation split
 *  of the default scenario 2 bits stopped the most attacks of 1 to 5. */
#define DG_EVAL_SQUEEZE_DEFAULT_BITS 2

/** Settings of an evaluation; fill with dg_eval_opts_init. */
typedef struct dg_eval_opts {
    uint32_t struct_size;   /**< set by dg_eval_opts_init */
    uint32_t squeeze_bits;  /**< feature squeezing's bit depth, 1 to 7;
                                 default DG_EVAL_SQUEEZE_DEFAULT_BITS */
    /** Share of the clean inputs the Student gets right that feature
     *  squeezing is calibrated to flag, 0 to 0.5; default 0.05. */
    double baseline_fpr;
    dg_progress_fn progress; /**< stage "evaluate", done/total in inputs;
                                  NULL: silent */
    void *progress_user;     /**< passed to progress */
    /** If not NULL, a last row (DG_EVAL_PATCH) judges every input by this
     *  model, the Student patched by Wang et al.'s method (dg_model_train
     *  with patch_teacher), through its own preprocessing.  Its input
     *  shape and classes must be the Student's.  Borrowed for the call.
     *  (Since LIBDIFFGUARD_1.2.) */
    const dg_model *patched_student;
} dg_eval_opts;

/** Defaults as documented on each field.  Thread: any. */
DG_API dg_status dg_eval_opts_init(dg_eval_opts *o, size_t struct_size);

/** Evaluates a guard: every clean input (labelled in the Student's
 *  classes) and every attempt of the n_sets adversarial sets (names[s]
 *  names sets[s]; names are copied) through the Student, the guard at every
 *  M and rule, the whole pool of differentiators without phase 1, and
 *  feature squeezing.  The pool and one feature-squeezing row are
 *  calibrated on the clean inputs to the guard's false rejection rate at
 *  its defaults, so their defence rates compare.  Decisions are
 *  dg_validate's.  The Student is the guard's.  n_sets may be 0.  o may be
 *  NULL for the defaults.  Thread: any; the guard, data and sets are only
 *  read. */
DG_API dg_status dg_eval_run(const dg_guard *guard, const dg_dataset *clean,
                             const dg_advset *const *sets,
                             const char *const *names, uint32_t n_sets,
                             const dg_eval_opts *o, dg_eval **out);
/** Frees the evaluation; NULL is a no-op.  Thread: one thread, not
 *  concurrently with its use. */
DG_API void dg_eval_free(dg_eval *e);

/** What was evaluated.  The caller sets struct_size. */
typedef struct dg_eval_info {
    uint32_t struct_size;    /**< sizeof(dg_eval_info), set by the caller */
    uint32_t clean;          /**< clean inputs */
    uint32_t inputs;         /**< clean inputs, then every set's attempts */
    uint32_t sets;           /**< adversarial sets */
    uint32_t rows;           /**< defences judged (dg_eval_get_row) */
    uint32_t classes;        /**< the guard's classes */
    uint32_t variants;       /**< differentiators per class */
    uint32_t members;        /**< the guard's default M */
    int32_t rule;            /**< the guard's default DG_RULE_* */
    uint32_t squeeze_bits;   /**< as evaluated */
    double baseline_fpr;     /**< as evaluated */
    double student_accuracy; /**< on the clean inputs; NaN without any */
    /** dg_validate's time per clean input at the guard's defaults, in
     *  batches of 64, in milliseconds; NaN without clean inputs. */
    double latency_ms;
} dg_eval_info;

/** The evaluation's settings and sizes.  Thread: any. */
DG_API dg_status dg_eval_get_info(const dg_eval *e, dg_eval_info *info);

/** What the attack of one set did to the undefended Student.  The caller
 *  sets struct_size. */
typedef struct dg_eval_set {
    uint32_t struct_size;    /**< sizeof(dg_eval_set), set by the caller */
    const char *name;        /**< owned by the evaluation */
    int32_t targeted;        /**< 1: the attack aimed at its target class */
    uint32_t first_input;    /**< index of its first attempt among inputs */
    uint32_t attempts;       /**< its attempts, inputs from first_input on */
    uint32_t within_budget;  /**< attempts that met the attack's budget */
    /** Within budget and classified as the target class (with no target:
     *  as any class but the source's). */
    uint32_t reached_target;
    uint32_t left_source;    /**< within budget, classified not as source */
    /** Within budget and classified as the attacker wanted: targeted, the
     *  target class; untargeted, any class but the source's. */
    uint32_t fooling;
} dg_eval_set;

/** Set `set` (0 to sets - 1).  Thread: any. */
DG_API dg_status dg_eval_get_set(const dg_eval *e, uint32_t set,
                                 dg_eval_set *info);

/** One defence and its cost on the clean inputs.  Rows are, in order: the
 *  guard with the votes rule at M = 1 to variants, the guard with the
 *  score rule at M = 1 to variants, no defence, the pool, feature
 *  squeezing at baseline_fpr, feature squeezing at the guard's false
 *  rejection rate, and, with dg_eval_opts.patched_student, the patched
 *  Student.  For the patched Student, "rejected" clean inputs are those
 *  the Student gets right and it gets wrong, and accuracy_loss is the
 *  Student's accuracy minus its own.  The caller sets struct_size. */
typedef struct dg_eval_row {
    uint32_t struct_size;   /**< sizeof(dg_eval_row), set by the caller */
    const char *name;       /**< "guard M=3 score"; owned by the evaluation */
    int32_t kind;           /**< DG_EVAL_* */
    uint32_t members;       /**< guard rows: M; else 0 */
    int32_t rule;           /**< guard rows: DG_RULE_*; else 0 */
    int32_t matched;        /**< 1: calibrated to the guard's false
                                 rejection rate (the pool, one squeezing) */
    uint32_t passes;        /**< forward passes per input */
    float threshold;        /**< pool and squeezing: flags suspicion above */
    uint32_t clean;         /**< clean inputs */
    uint32_t clean_correct; /**< ... the Student classifies right */
    uint32_t clean_correct_rejected; /**< ... of those, rejected */
    /** clean_correct_rejected / clean_correct; NaN without any. */
    double false_rejection_rate;
    /** Student accuracy minus defended accuracy (a rejected clean input
     *  counts as an error): clean_correct_rejected / clean. */
    double accuracy_loss;
} dg_eval_row;

/** Row `row` (0 to rows - 1).  Thread: any. */
DG_API dg_status dg_eval_get_row(const dg_eval *e, uint32_t row,
                                 dg_eval_row *info);

/** One defence against one set.  The caller sets struct_size. */
typedef struct dg_eval_outcome {
    uint32_t struct_size;    /**< sizeof(dg_eval_outcome), set by caller */
    uint32_t fooling;        /**< the set's attempts that fool the Student */
    /** ... of those, rejected, or accepted with a label the attacker did
     *  not want. */
    uint32_t stopped;
    double defence_rate;     /**< stopped / fooling; NaN without any */
    /** Suspicion of fooling attempts against clean inputs the Student gets
     *  right: ROC AUC, and the share of attempts flagged at a threshold
     *  that flags 5% and 1% of those clean inputs.  NaN for no defence or
     *  when either side is empty. */
    double roc_auc;
    double tpr_at_5pct_fpr;  /**< see roc_auc */
    double tpr_at_1pct_fpr;  /**< see roc_auc */
} dg_eval_outcome;

/** Row `row` against set `set`.  Thread: any. */
DG_API dg_status dg_eval_get_outcome(const dg_eval *e, uint32_t row,
                                     uint32_t set, dg_eval_outcome *out);

/** The ROC curve of row `row` on set `set` (what roc_auc measures): for
 *  every distinct suspicion from the highest down, the false and true
 *  positive rates, from (0,0) to (1,1).  *points receives the number of
 *  points; fpr and tpr (capacity entries each) are written only if they
 *  hold them (DG_E_INVALID_ARG for smaller non-NULL arrays; NULL with
 *  capacity 0 asks for the size).  Thread: any. */
DG_API dg_status dg_eval_roc(const dg_eval *e, uint32_t row, uint32_t set,
                             double *fpr, double *tpr, size_t capacity,
                             size_t *points);

/** One defence's decision on one input.  The caller sets struct_size. */
typedef struct dg_eval_decision {
    uint32_t struct_size;  /**< sizeof(dg_eval_decision), set by caller */
    int32_t set;           /**< the input's set, -1 for a clean input */
    int32_t truth;         /**< clean: its class; attempts: the source's */
    int32_t target;        /**< attempts: the attacker's class; else -1 */
    int32_t label;         /**< the class the defence passes on */
    int32_t accepted;      /**< 1: accepted; 0: rejected */
    int32_t fooling;       /**< 1: an attempt that fools the Student */
    float suspicion;       /**< higher is more suspicious */
} dg_eval_decision;

/** Row `row`'s decision on input `input` (0 to inputs - 1: the clean
 *  inputs, then every set's attempts).  Thread: any. */
DG_API dg_status dg_eval_get_decision(const dg_eval *e, uint32_t row,
                                      uint32_t input, dg_eval_decision *out);

/** The Student's class (argmax of its output) for n images given as
 *  pixels in [0,1], planar C x H x W as dg_attack_run writes them
 *  (pixels_len == n * C * H * W), through its preprocessing; NaN or
 *  infinite pixels are refused.  Thread: any, if no thread is changing the
 *  model. */
DG_API dg_status dg_eval_classify(const dg_model *student, const float *pixels,
                                  size_t pixels_len, uint32_t n,
                                  int32_t *labels);

/** How attack attempts are chosen; fill with dg_attempt_opts_init. */
typedef struct dg_attempt_opts {
    uint32_t struct_size;  /**< set by dg_attempt_opts_init */
    /** 1 (default): each attempt aims at target_class, or at each class in
     *  turn; 0: at a random class other than the source's. */
    int32_t targeted;
    int32_t target_class;  /**< -1 (default): each class in turn */
    /** 1 (default): pick a target image of the target class (mimicry);
     *  0: none, and untargeted attempts get no target class (FGSM, PGD). */
    int32_t target_images;
    uint64_t seed;         /**< default 1 */
} dg_attempt_opts;

/** Defaults as documented on each field.  Thread: any. */
DG_API dg_status dg_attempt_opts_init(dg_attempt_opts *o, size_t struct_size);

/** Chooses `count` attack attempts among the samples of data (labelled in
 *  the Student's classes) that the Student classifies correctly: sources
 *  in a seeded random order, each with a target class and, with
 *  target_images, a target image of that class.  Each array holds count
 *  entries: the source's sample index and class, the target image's index
 *  (UINT32_MAX for none) and class (-1 for none).  Fails with
 *  DG_E_INVALID_ARG if fewer sources qualify.  Thread: any. */
DG_API dg_status dg_eval_choose_attempts(const dg_model *student,
                                         const dg_dataset *data,
                                         const dg_attempt_opts *o,
                                         uint32_t count,
                                         uint32_t *source_index,
                                         int32_t *source_label,
                                         uint32_t *target_index,
                                         int32_t *target_label);

#ifdef DG_EXPERIMENTAL_API
/* ------------------------------------------------------------------------ */
/* Attack runs (experimental, since LIBDIFFGUARD_1.4)                      */
/* ------------------------------------------------------------------------ */

/** One attack run as `dg attack` makes it, besides the attack's own
 *  options; fill with dg_advset_opts_init.  New fields are appended. */
typedef struct dg_advset_opts {
    uint32_t struct_size;    /**< set by dg_advset_opts_init */
    uint32_t count;          /**< attempts; default 100 */
    int32_t target_class;    /**< targeted runs: -1 (default) aims at each
                                  class in turn, else at this class */
    /** Non-zero: an image stops as soon as the Student is fooled, which
     *  queries it (dg_attack_opts.check_model); default 0. */
    int32_t stop_on_success;
    /** Adaptive attack: NULL (default), or a guard whose first
     *  guard_members differentiators of each attempt's target class, made
     *  whole with the guard's Student, join the loss (adaptive_model_classes
     *  of dg_attack_opts).  Borrowed for the call. */
    const dg_guard *guard;
    uint32_t guard_members;  /**< per class; 0 (default): the guard's M */
    /** Adaptive attack: n_models whole classifiers whose loss joins every
     *  attempt's; NULL (default) for none.  Borrowed for the call. */
    const dg_model *const *models;
    uint32_t n_models;       /**< entries of models */
    /** With shards: only shard `shard` (0 to shards - 1, dg_shard_parse)
     *  of the run, a contiguous share of its whole batches, attacked as in
     *  the whole run, with DG_ADVSET_SHARD_MARK after the description for
     *  dg_advset_merge. */
    uint32_t shard;
    uint32_t shards; /**< 0 (default): every attempt, no shard */
    /** The set's description (at most 1023 bytes with any shard mark);
     *  NULL (default): empty.  Copied. */
    const char *description;
} dg_advset_opts;

/** Defaults as documented on each field.  Since LIBDIFFGUARD_1.4.
 *  Thread: any. */
DG_API dg_status dg_advset_opts_init(dg_advset_opts *o, size_t struct_size);

/** Makes an adversarial set: chooses o->count attempts among the samples
 *  of data the Student classifies correctly (dg_eval_choose_attempts with
 *  attack's targeted and seed, target images for mimicry), keeps the
 *  shard's share, attacks them (mimicry through the Teacher, FGSM and PGD
 *  through the Student; attack's progress callback reports and may stop
 *  it), classifies each result with the Student and records every attempt
 *  in *out, with success as dg_advset_item defines it.  data's labels must
 *  be the Student's classes and its samples of the Student's input shape,
 *  which the Teacher must share.  target_index: NULL, or room for count
 *  entries that receive each recorded attempt's target image index in
 *  data (UINT32_MAX: none), to show examples.  Since LIBDIFFGUARD_1.4.
 *  Thread: any, if no thread is changing the models. */
DG_API dg_status dg_advset_make(const dg_model *teacher,
                                const dg_model *student,
                                const dg_dataset *data,
                                const dg_attack_opts *attack,
                                const dg_advset_opts *o, dg_advset **out,
                                uint32_t *target_index);

/** Where an attack run's inputs came from, as its set's description tells
 *  it (dg_advset_describe); fill with dg_advset_origin_init.  Since
 *  LIBDIFFGUARD_1.5.  New fields are appended. */
typedef struct dg_advset_origin {
    uint32_t struct_size;  /**< set by dg_advset_origin_init */
    const char *label;     /**< leads the description, such as a threat
                                level; NULL (default): none */
    const char *data;      /**< the data attacked, such as "fmnist:test" */
    const char *classes;   /**< its classes as given; NULL (default): all */
    const char *teacher;   /**< the Teacher's file */
    const char *student;   /**< the Student's file */
    int32_t preset;        /**< the DG_ATTACK_PRESET_* the attack options
                                started from; default strong */
    /** Adaptive attack: the guard's file, NULL (default) for none. */
    const char *guard;
    /** ... the file of the Student that makes its members whole; NULL
     *  (default): student. */
    const char *guard_student;
    uint32_t guard_members; /**< ... per class; 0 (default): the guard's M */
    /** Adaptive attack: the whole models' files, "a.dgm,b.dgm"; NULL
     *  (default): none. */
    const char *models;
} dg_advset_origin;

/** Defaults as documented on each field.  Since LIBDIFFGUARD_1.5.
 *  Thread: any. */
DG_API dg_status dg_advset_origin_init(dg_advset_origin *o,
                                       size_t struct_size);

/** The description `dg attack` gives its set: the label, the data, the
 *  models' files, the method, mode, budget, preset and layer of attack,
 *  and for an adaptive run the guard, models and weights
 *  ("...; adaptive: guard ..."), at most 1023 bytes (what a set keeps)
 *  and capacity - 1, with a NUL.  data, teacher and student are required.
 *  Since LIBDIFFGUARD_1.5.  Thread: any. */
DG_API dg_status dg_advset_describe(const dg_advset_origin *o,
                                    const dg_attack_opts *attack, char *text,
                                    size_t capacity);

/* ------------------------------------------------------------------------ */
/* The demonstration scenario (experimental, since LIBDIFFGUARD_1.5)        */
/* ------------------------------------------------------------------------ */

/** The pipeline of `dg demo` on Fashion-MNIST (doc/EVALUATION.md): a
 *  Teacher learns some classes, a Student made from it by transfer
 *  learning the others, a patched Student (Wang et al.), a guard, attack
 *  sets on test images, the threat levels' attacker (a surrogate Student
 *  and guard) and sets, and the evaluation of the guard on all of them.
 *  Each stage's files go to one folder; a stage whose file already loads
 *  is not redone, and training resumes from checkpoints, so an
 *  interrupted scenario continues where it stopped.  The folder's
 *  settings.json records the settings: a folder made with others is
 *  refused.  One thread at a time. */
typedef struct dg_scenario dg_scenario;

/** A line saying what long work does ("teacher: reusing DIR/teacher.dgm"),
 *  without a newline; called on the thread that made the call. */
typedef void (*dg_note_fn)(void *user, const char *text);

/** @name Scenario sizes (dg_scenario_opts.mode)
 *  @{ */
#define DG_SCENARIO_FULL 0  /**< the library's defaults: about 28 min on 2 cores */
#define DG_SCENARIO_QUICK 1 /**< small settings: minutes, for CI */
/** @} */

/** How a scenario runs; fill with dg_scenario_opts_init.  New fields are
 *  appended. */
typedef struct dg_scenario_opts {
    uint32_t struct_size;    /**< set by dg_scenario_opts_init */
    /** "fmnist-split" (default): Teacher on classes 0-4, Student on 5-9;
     *  "fmnist-swap": the other way round. */
    const char *name;
    int32_t mode;            /**< DG_SCENARIO_*; default DG_SCENARIO_FULL */
    uint64_t seed;           /**< weights, shuffling, attempts; default 1 */
    const char *dir;         /**< the folder of its files; default "dg-demo" */
    /** Stages "train", "differentiators", "hardening", "attack" and
     *  "evaluate" report here and may stop the stage (DG_E_CANCELLED,
     *  keeping what is finished); NULL (default): silent. */
    dg_progress_fn progress;
    void *progress_user;     /**< passed to progress */
    dg_note_fn note;         /**< what each stage does; NULL (default): none */
    void *note_user;         /**< passed to note */
} dg_scenario_opts;

/** Defaults as documented on each field.  Thread: any. */
DG_API dg_status dg_scenario_opts_init(dg_scenario_opts *o,
                                       size_t struct_size);
/** Prepares a scenario as o (required) says: creates its folder, or
 *  checks that its settings.json holds the same settings (DG_E_MISMATCH
 *  if not), and writes settings.json.  Runs no stage.  An unknown name or mode is
 *  DG_E_INVALID_ARG.  Strings are copied; the callbacks are kept until
 *  dg_scenario_free.  Thread: any. */
DG_API dg_status dg_scenario_create(const dg_scenario_opts *o,
                                    dg_scenario **out);
/** Frees the scenario and everything it made; NULL is a no-op. */
DG_API void dg_scenario_free(dg_scenario *s);

/** @name What a stage makes (dg_scenario_stage.kind)
 *  @{ */
#define DG_STAGE_MODEL 1  /**< a model: trained, or reused, then tested */
#define DG_STAGE_GUARD 2  /**< a guard: built, or reused */
#define DG_STAGE_ATTACK 3 /**< adversarial sets: made, or reused */
#define DG_STAGE_EVAL 4   /**< the evaluations of the guard */
/** @} */

/** One stage of a scenario.  The caller sets struct_size. */
typedef struct dg_scenario_stage {
    uint32_t struct_size; /**< sizeof(dg_scenario_stage), set by caller */
    /** "teacher", "student", ..., "eval"; NULL when every stage ran.
     *  Static. */
    const char *name;
    int32_t kind;         /**< DG_STAGE_* */
    /** The model (dg_scenario_get_model) or guard (dg_scenario_get_guard)
     *  a model or guard stage makes; else 0. */
    uint32_t index;
} dg_scenario_stage;

/** The next stage dg_scenario_run_stage runs.  Thread: one at a time. */
DG_API dg_status dg_scenario_next_stage(const dg_scenario *s,
                                        dg_scenario_stage *stage);
/** Runs the next stage; DG_E_STATE when every stage ran.  A failed or
 *  stopped stage stays next.  Thread: one at a time. */
DG_API dg_status dg_scenario_run_stage(dg_scenario *s);
/** Runs every stage still to run.  Thread: one at a time. */
DG_API dg_status dg_scenario_run(dg_scenario *s);

/** The scenario's settings and what its stages found.  The caller sets
 *  struct_size; strings and handles belong to the scenario. */
typedef struct dg_scenario_info {
    uint32_t struct_size;       /**< sizeof(dg_scenario_info), set by caller */
    const char *name;           /**< "fmnist-split" or "fmnist-swap" */
    int32_t mode;               /**< DG_SCENARIO_* */
    const char *mode_name;      /**< "full" or "quick" */
    uint64_t seed;              /**< as given */
    const char *dir;            /**< as given */
    const char *teacher_classes; /**< Fashion-MNIST classes, "0-4" */
    const char *student_classes; /**< ... "5-9" */
    uint32_t models;            /**< dg_scenario_get_model's count (4) */
    uint32_t guards;            /**< dg_scenario_get_guard's count (2) */
    uint32_t sets;              /**< attack sets of the attack stage */
    /** Sets of the levels stage, after `sets` in dg_scenario_get_set;
     *  0 until that stage ran. */
    uint32_t level_sets;
    uint32_t clean_per_class;   /**< clean test images per class; 0: all */
    /** The Teacher layer the Student is cut at; -1 until the levels
     *  stage. */
    int32_t cut;
    uint32_t level_count;       /**< attempts per level set */
    uint32_t linf_iterations;   /**< of the L-infinity level sets */
    uint32_t dssim_iterations;  /**< of the DSSIM level sets */
    float sweep_epsilon;        /**< level a's L-infinity radius per layer */
    float adaptive_weight;      /**< levels b and c: the members' weight */
    uint32_t draw;              /**< ... members drawn per image and step */
    /** The images the surrogate Student learnt from, in words. */
    const char *surrogate_images;
    /** The test images of the Student's classes the attacks draw from;
     *  NULL until the attack stage. */
    const dg_dataset *test_data;
    /** Attempts per set of level a's layer sweep (level_count: the other
     *  level sets).  Since LIBDIFFGUARD_1.6; a caller built before it is
     *  served without it. */
    uint32_t sweep_count;
} dg_scenario_info;

/** The settings and sizes.  Thread: one at a time. */
DG_API dg_status dg_scenario_get_info(const dg_scenario *s,
                                      dg_scenario_info *info);

/** One model of the scenario: 0 the Teacher, 1 the Student, 2 the
 *  surrogate Student, 3 the patched Student.  The caller sets
 *  struct_size. */
typedef struct dg_scenario_model {
    uint32_t struct_size;     /**< sizeof(dg_scenario_model), set by caller */
    const char *name;         /**< "teacher": files DIR/NAME.dgm, .ckpt */
    const char *architecture; /**< in words, or its architecture string */
    const char *classes;      /**< Fashion-MNIST classes it learns */
    const char *path;         /**< its model file */
    const char *checkpoint;   /**< its checkpoint while it trains */
    uint32_t per_class;       /**< training images per class; 0: all */
    uint32_t skip_per_class;  /**< ... after the first this many */
    uint32_t epochs;          /**< training epochs */
    uint32_t batch;           /**< samples per step */
    const char *optimizer;    /**< "adam" */
    double learning_rate;     /**< as planned */
    const char *schedule;     /**< "constant", "step" or "cosine" */
    /** The model; NULL until its stage ran. */
    const dg_model *model;
    int32_t reused;           /**< 1: loaded from an earlier run's file */
    /** When trained by this run: its training samples, what the training
     *  reported and the seconds it took. */
    uint32_t train_samples;
    uint32_t resumed_epoch;   /**< see train_samples */
    uint32_t epochs_run;      /**< see train_samples */
    float last_loss;          /**< see train_samples */
    float last_accuracy;      /**< see train_samples */
    double train_seconds;     /**< see train_samples */
    uint32_t test_correct;    /**< test images of its classes right */
    uint32_t test_total;      /**< test images of its classes */
    double test_seconds;      /**< time of the test */
} dg_scenario_model;

/** Model `index` (0 to models - 1).  Thread: one at a time. */
DG_API dg_status dg_scenario_get_model(const dg_scenario *s, uint32_t index,
                                       dg_scenario_model *info);

/** One guard: 0 the defender's, for the Student; 1 the level-b attacker's,
 *  for the surrogate Student.  The caller sets struct_size. */
typedef struct dg_scenario_guard {
    uint32_t struct_size;   /**< sizeof(dg_scenario_guard), set by caller */
    const char *name;       /**< "guard": files DIR/NAME.dg, DIR/NAME.work */
    const char *path;       /**< its guard file */
    const char *work_dir;   /**< its work directory while it builds */
    const dg_guard *guard;  /**< NULL until its stage ran */
    int32_t reused;         /**< 1: loaded from an earlier run's file */
    double build_seconds;   /**< when built by this run */
} dg_scenario_guard;

/** Guard `index` (0 to guards - 1).  Thread: one at a time. */
DG_API dg_status dg_scenario_get_guard(const dg_scenario *s, uint32_t index,
                                       dg_scenario_guard *info);

/** One adversarial set: the attack stage's, then the levels stage's.  The
 *  caller sets struct_size. */
typedef struct dg_scenario_set {
    uint32_t struct_size;   /**< sizeof(dg_scenario_set), set by caller */
    const char *name;       /**< DIR/attack-NAME.dgadv */
    /** Level sets: what leads its description ("level a: ..."); else "". */
    const char *label;
    /** 0: an attack stage set; 1, 2, 3: threat level a, b, c. */
    int32_t level;
    int32_t sweep;          /**< 1: level a at one layer of its sweep */
    int32_t layer;          /**< the Teacher layer matched (-1: the cut) */
    int32_t method;         /**< DG_ATTACK_* */
    int32_t targeted;       /**< 1: targeted */
    float budget;           /**< its DSSIM budget or L-infinity epsilon */
    uint32_t count;         /**< attempts */
    uint32_t iterations;    /**< per image */
    const dg_advset *set;   /**< NULL until its stage ran */
    int32_t reused;         /**< 1: loaded from an earlier run's file */
    /** Made by this run: each attempt's target image in test_data
     *  (UINT32_MAX: none), as dg_advset_make gives it; else NULL. */
    const uint32_t *target_index;
} dg_scenario_set;

/** Set `index` (0 to sets + level_sets - 1).  Thread: one at a time. */
DG_API dg_status dg_scenario_get_set(const dg_scenario *s, uint32_t index,
                                     dg_scenario_set *info);

/** The eval stage's evaluations of the guard on the clean test images of
 *  the Student's classes, with the patched Student's row: `which` 0 on
 *  the attack stage's sets, 1 on the level sets, each in their order.
 *  DG_E_STATE before the eval stage.  The evaluation belongs to the
 *  scenario.  Thread: one at a time. */
DG_API dg_status dg_scenario_get_eval(const dg_scenario *s, uint32_t which,
                                      const dg_eval **out);

/* ------------------------------------------------------------------------ */
/* Reports (experimental, since LIBDIFFGUARD_1.6)                           */
/* ------------------------------------------------------------------------ */

/** @name Parts of a report (dg_report_opts.parts), to combine with |
 *  @{ */
#define DG_REPORT_JSON 0x1u     /**< every number as JSON */
#define DG_REPORT_MARKDOWN 0x2u /**< the tables in markdown */
#define DG_REPORT_CHARTS 0x4u   /**< the charts, PNG files drawn with cairo */
#define DG_REPORT_EXAMPLES 0x8u /**< example images of attack sets */
#define DG_REPORT_ALL 0xfu      /**< every part */
/** @} */

/** @name Text forms of a report (dg_eval_format_report,
 *  dg_scenario_format_report)
 *  @{ */
#define DG_FORMAT_JSON 1     /**< the report's JSON file */
#define DG_FORMAT_MARKDOWN 2 /**< its markdown file */
#define DG_FORMAT_TEXT 3     /**< the aligned tables `dg` prints */
/** @} */

/** What a report holds; fill with dg_report_opts_init.  New fields are
 *  appended. */
typedef struct dg_report_opts {
    uint32_t struct_size; /**< set by dg_report_opts_init */
    uint32_t parts;       /**< DG_REPORT_* bits; default DG_REPORT_ALL */
    /** Example attempts per adversarial set, the successful ones first;
     *  default 8. */
    uint32_t examples;
    /** Guard reports: 1 (default) shows the calibration of every M, 0
     *  only that of the guard's default M. */
    int32_t every_m;
} dg_report_opts;

/** Defaults as documented on each field.  Thread: any. */
DG_API dg_status dg_report_opts_init(dg_report_opts *o, size_t struct_size);

/** Writes the report of an evaluation into `folder` (created if needed),
 *  as `dg eval --report` does: FOLDER/eval.json (DG_REPORT_JSON),
 *  FOLDER/eval.md (DG_REPORT_MARKDOWN), and the charts
 *  defence-vs-members.png (the first 6 sets), cost-vs-members.png and
 *  roc-SET.png per set (DG_REPORT_CHARTS); doc/EVALUATION.md defines each
 *  number.  Set names become file names.  Every file is written
 *  atomically.  o NULL: the defaults.  Thread: any, with other calls
 *  that only read the evaluation. */
DG_API dg_status dg_eval_write_report(const dg_eval *e, const char *folder,
                                      const dg_report_opts *o);

/** A report of an evaluation as text in `format` (DG_FORMAT_*): eval.json,
 *  eval.md, or the tables `dg eval` prints.  *length receives the bytes
 *  the text needs with its terminating NUL; the text is copied only into
 *  a buffer that holds them (text NULL: the size only; a smaller buffer
 *  is DG_E_INVALID_ARG).  Thread: any, as dg_eval_write_report. */
DG_API dg_status dg_eval_format_report(const dg_eval *e, int32_t format,
                                       char *text, size_t capacity,
                                       size_t *length);

/** Writes the scenario's report into its folder, as `dg demo` does: the
 *  example images of each attack stage set this run made,
 *  DIR/examples-NAME (DG_REPORT_EXAMPLES, after the attack stage); the
 *  charts of the evaluation and of the threat levels (DG_REPORT_CHARTS),
 *  DIR/report.json (DG_REPORT_JSON) and DIR/report.md
 *  (DG_REPORT_MARKDOWN), which need the eval stage (DG_E_STATE before
 *  it).  o NULL: the defaults.  Thread: one at a time. */
DG_API dg_status dg_scenario_write_report(const dg_scenario *s,
                                          const dg_report_opts *o);

/** The scenario's report as text (DG_FORMAT_*): report.json (its
 *  "seconds" measured now), report.md, or the tables `dg demo` prints;
 *  after the eval stage (DG_E_STATE before it).  The size contract of
 *  dg_eval_format_report.  Thread: one at a time. */
DG_API dg_status dg_scenario_format_report(const dg_scenario *s,
                                           int32_t format, char *text,
                                           size_t capacity, size_t *length);

/** Example images of an adversarial set in `folder` (created if needed),
 *  as `dg attack --examples` writes them: for o->examples attempts (the
 *  successful ones first, then others within budget), NNN_source.png,
 *  NNN_adversarial.png and NNN_diff.png (their difference, amplified
 *  around mid grey), and sheet.png with a row per attempt and its target
 *  image beside them.  Sources and targets are samples of `data`, the
 *  data the set was made from; target_index holds one entry per attempt
 *  (UINT32_MAX: no target image), as dg_advset_make gives it.  o NULL:
 *  the defaults.  Thread: any. */
DG_API dg_status dg_advset_write_examples(const dg_advset *set,
                                          const dg_dataset *data,
                                          const uint32_t *target_index,
                                          const char *folder,
                                          const dg_report_opts *o);

/** What `dg info` prints of a model: its input and preprocessing, each
 *  layer (kind, inputs, output shape, kernel, parameters, frozen, pruned
 *  units) and its classes, as DG_FORMAT_JSON or DG_FORMAT_TEXT
 *  (DG_FORMAT_MARKDOWN is DG_E_UNSUPPORTED); `name`, such as its file,
 *  heads the report (NULL: none).  The size contract of
 *  dg_eval_format_report.  Thread: any. */
DG_API dg_status dg_model_format_report(const dg_model *m, const char *name,
                                        int32_t format, char *text,
                                        size_t capacity, size_t *length);

/** What `dg guard info` prints of each class of a guard: its
 *  differentiators by rank (prune layer, ratio, mode, pruned units, tail
 *  layers, agreement, score) and the calibration of every M or of the
 *  default M (o->every_m), as DG_FORMAT_TEXT or DG_FORMAT_JSON, an array
 *  with an object per class (DG_FORMAT_MARKDOWN is DG_E_UNSUPPORTED).
 *  Class names are the Student's.  o NULL: the defaults.  The size
 *  contract of dg_eval_format_report.  Thread: any. */
DG_API dg_status dg_guard_format_report(const dg_guard *g, int32_t format,
                                        const dg_report_opts *o, char *text,
                                        size_t capacity, size_t *length);

/** What `dg accuracy` prints of a model measured on labelled data: the
 *  accuracy overall and per class and the confusion matrix, from
 *  `confusion` as dg_model_evaluate fills it (confusion_len k * k for the
 *  model's k classes), as DG_FORMAT_TEXT or DG_FORMAT_JSON
 *  (DG_FORMAT_MARKDOWN is DG_E_UNSUPPORTED); `model_name` and
 *  `data_name`, such as the model's file and the data's spec, head the
 *  report (NULL: none).  The size contract of dg_eval_format_report.
 *  Thread: any. */
DG_API dg_status dg_model_format_accuracy(const dg_model *m,
                                          const uint32_t *confusion,
                                          size_t confusion_len,
                                          const char *model_name,
                                          const char *data_name,
                                          int32_t format, char *text,
                                          size_t capacity, size_t *length);

/** The `top` (1 to the model's classes) most probable classes of input
 *  `index` of the last dg_session_run, as `dg predict` prints them: into
 *  classes[] and their probabilities into probabilities[] (top entries
 *  each), most probable first, the lower class first on ties.  The
 *  probabilities are a softmax of the outputs, or the outputs themselves
 *  when the model ends in a softmax layer.  DG_E_STATE before a run.
 *  Thread: as dg_session_run. */
DG_API dg_status dg_session_top_classes(const dg_session *s, uint32_t index,
                                        uint32_t top, uint32_t *classes,
                                        double *probabilities);

/** What `dg validate` prints of a verdict: accepted or rejected, the
 *  class, the votes and the score against the threshold, and each
 *  consulted differentiator's class and score, as DG_FORMAT_TEXT or
 *  DG_FORMAT_JSON (DG_FORMAT_MARKDOWN is DG_E_UNSUPPORTED).  Class names
 *  are `student`'s (NULL: none); `name`, such as the image's file, heads
 *  the report (NULL: none).  The size contract of dg_eval_format_report.
 *  Thread: any. */
DG_API dg_status dg_verdict_format_report(const dg_verdict *v,
                                          const dg_model *student,
                                          const char *name, int32_t format,
                                          char *text, size_t capacity,
                                          size_t *length);
#endif /* DG_EXPERIMENTAL_API */

#ifdef __cplusplus
}
#endif

#endif /* DIFFGUARD_H */
