"""Models (dg_model) and inference sessions (dg_session)."""
import collections
import ctypes
import os
import threading
import warnings

import numpy as np

from ._capi import lib
from ._structs import (dg_image_info, dg_layer_info, dg_model, dg_session, dg_train_opts,
                       dg_train_report, new_result, record_type, to_record)
from ._support import (Handle, as_input, c_strings, create, fill_options,
                       format_code, formatted, get_u32, query)

LayerInfo = record_type("LayerInfo", dg_layer_info,
                        "One layer as dg_layer_info describes it; kind is a "
                        "LAYER_* value, flags holds LAYER_FLAG_FROZEN.")
TrainReport = record_type("TrainReport", dg_train_report,
                          "What one Model.train call did (dg_train_report).")


class Evaluation(collections.namedtuple("Evaluation",
                                        "correct total confusion")):
    """correct of total samples classified right; confusion[true, predicted]
    counts every sample (a k x k uint32 array)."""

    @property
    def accuracy(self):
        return self.correct / self.total if self.total else 0.0


def _serialise(fn, handle):
    """The bytes of a *_memory serialiser: asks for the size, then fills a
    buffer of that size."""
    size = ctypes.c_size_t()
    fn(handle, None, 0, ctypes.byref(size))
    buf = ctypes.create_string_buffer(size.value)
    fn(handle, buf, size.value, ctypes.byref(size))
    return buf.raw[:size.value]


class Model(Handle):
    """A neural network: architecture, weights, preprocessing, class names.

    The C model is reference counted, so sessions, guards and validators
    keep it alive on their own.  Reading is safe from any thread; train,
    set_frozen and setting class_names need exclusive use.
    """
    _free = lib.dg_model_free

    @classmethod
    def load(cls, path):
        """Loads a model file (doc/model-format.md)."""
        return cls(create(lib.dg_model_load_file, dg_model,
                          os.fsencode(path)))

    @classmethod
    def from_bytes(cls, data):
        """Loads a model from the bytes of a model file."""
        data = bytes(data)
        return cls(create(lib.dg_model_load_memory, dg_model, data,
                          len(data)))

    @classmethod
    def import_onnx(cls, path):
        """Imports an ONNX model file (doc/onnx.md lists the operators
        supported; others fail with Status.UNSUPPORTED and a detail naming
        the node).  The model gets the default preprocessing and no class
        names."""
        return cls(create(lib.dg_model_import_onnx_file, dg_model,
                          os.fsencode(path)))

    @classmethod
    def from_onnx_bytes(cls, data):
        """Imports an ONNX model from its bytes."""
        data = bytes(data)
        return cls(create(lib.dg_model_import_onnx_memory, dg_model, data,
                          len(data)))

    @classmethod
    def create(cls, spec, input_shape, seed=1):
        """A freshly initialised model from an architecture string
        (doc/architecture-spec.md) for inputs of shape (C, H, W)."""
        channels, height, width = input_shape
        return cls(create(lib.dg_model_create, dg_model, spec.encode(),
                          channels, height, width, seed))

    def save(self, path):
        """Writes the model file atomically."""
        lib.dg_model_save_file(self._handle, os.fsencode(path))

    def to_bytes(self):
        """The model file's bytes."""
        return _serialise(lib.dg_model_save_memory, self._handle)

    def export_onnx(self, path):
        """Writes the model as ONNX (opset 13) atomically: input "input",
        output "output", a symbolic batch dimension; pruned units become
        zero weights."""
        lib.dg_model_export_onnx_file(self._handle, os.fsencode(path))

    def to_onnx_bytes(self):
        """The bytes export_onnx would write."""
        return _serialise(lib.dg_model_export_onnx_memory, self._handle)

    def transfer(self, head, cut_layer=-1, seed=1):
        """A Student: this model's layers 0..cut_layer, frozen (-1: all
        before the last linear layer), then a new head such as "fc5"."""
        return Model(create(lib.dg_model_transfer, dg_model, self._handle,
                            cut_layer, head.encode(), seed))

    def train(self, dataset, save_to=None, **options):
        """Trains the non-frozen layers on a Dataset.  Keywords are the
        fields of dg_train_opts (epochs=, batch_size=, learning_rate=,
        optimizer=OPTIMIZER_SGD, distill_from=<Model>, checkpoint_path=,
        ...) plus progress=callable(stage, done, total, metric) returning
        True to stop.  save_to=path then writes the model there atomically
        and removes the checkpoint (dg_model_train_file).  Returns a
        TrainReport."""
        opts, progress = fill_options(dg_train_opts, lib.dg_train_opts_init,
                                      options)
        report = new_result(dg_train_report)
        if save_to is None:
            progress.call(lib.dg_model_train, self._handle, dataset._handle,
                          ctypes.byref(opts), ctypes.byref(report))
        else:
            progress.call(lib.dg_model_train_file, self._handle,
                          dataset._handle, ctypes.byref(opts),
                          os.fsencode(save_to), ctypes.byref(report))
        return to_record(TrainReport, report)

    def patch(self, teacher, dataset, **options):
        """Wang et al.'s patch (doc/EVALUATION.md): fine-tunes every layer
        of this Student on a Dataset so that its features at patch_layer
        (default: its last frozen layer) move away from the Teacher's.
        Keywords as for train (patch_cap=, patch_cap_step=, patch_cap_max=,
        patch_weight=, patch_layer=, epochs=, ...).  Returns a TrainReport
        whose last_patch_distance is the last epoch's mean distance."""
        return self.train(dataset, patch_teacher=teacher, **options)

    def evaluate(self, dataset):
        """Classifies every sample of a Dataset; returns an Evaluation."""
        k = self.output_size
        confusion = np.zeros((k, k), np.uint32)
        correct, total = get_u32(lib.dg_model_evaluate, self._handle,
                                 dataset._handle, confusion, confusion.size,
                                 count=2)
        return Evaluation(correct, total, confusion)

    def report(self, name=None, form="text"):
        """What dg info prints of the model as a str, "text" or "json",
        headed by name (such as its file) if given."""
        return formatted(lib.dg_model_format_report, self._handle,
                         None if name is None else os.fsencode(name),
                         format_code(form))

    def accuracy_report(self, evaluation, name=None, data_name=None,
                        form="text"):
        """What dg accuracy prints of an Evaluation of the model (from
        evaluate()) as a str, "text" or "json", headed by name and
        data_name if given."""
        confusion = np.ascontiguousarray(evaluation.confusion, np.uint32)
        return formatted(lib.dg_model_format_accuracy, self._handle,
                         confusion, confusion.size,
                         None if name is None else os.fsencode(name),
                         None if data_name is None else data_name.encode(),
                         format_code(form))

    @property
    def input_shape(self):
        """(C, H, W) of one sample."""
        return get_u32(lib.dg_model_input_shape, self._handle, count=3)

    @property
    def output_size(self):
        """Values per sample of the last layer (the class count)."""
        return get_u32(lib.dg_model_output_size, self._handle)

    @property
    def layers(self):
        """A LayerInfo per layer, in execution order."""
        count = get_u32(lib.dg_model_layer_count, self._handle)
        return [to_record(LayerInfo, query(lib.dg_model_layer_info,
                                           new_result(dg_layer_info),
                                           self._handle, i))
                for i in range(count)]

    def set_frozen(self, layer, frozen=True):
        """Freezes (or unfreezes) one layer's parameters for training."""
        lib.dg_model_set_frozen(self._handle, layer, int(bool(frozen)))

    @property
    def class_names(self):
        """One name per output ("" when unnamed); assign a list to set."""
        name = ctypes.c_char_p()
        names = []
        for i in range(self.output_size):
            lib.dg_model_class_name(self._handle, i, ctypes.byref(name))
            names.append(name.value.decode())
        return names

    @class_names.setter
    def class_names(self, names):
        lib.dg_model_set_class_names(self._handle, *c_strings(names))

    def load_image(self, path):
        """A PNG or JPEG file as this model's input: a (C, H, W) float32
        array, preprocessed as the model file says.  An image of another
        size or colour is converted and resized, with a UserWarning."""
        header = query(lib.dg_image_probe_file, new_result(dg_image_info),
                       os.fsencode(path))
        x = np.empty(self.input_shape, np.float32)
        lib.dg_image_load_file(self._handle, os.fsencode(path), x, x.size)
        found = (header.channels, header.height, header.width)
        if found != tuple(self.input_shape):
            warnings.warn("%s is %dx%d with %d channel(s); it was converted "
                          "to the model's %s input" %
                          (path, header.width, header.height,
                           header.channels, "x".join(map(str, self.input_shape))),
                          stacklevel=2)
        return x

    def predict(self, x, batch_size=64):
        """Outputs of the last layer for (N, C, H, W) inputs, as an (N, K)
        float32 array; runs a new Session batch_size samples at a time (keep
        a Session to run many calls)."""
        x = as_input(x, self.input_shape)
        k = self.output_size
        with Session(self, min(batch_size, len(x))) as session:
            return np.concatenate(
                [session.run(x[i:i + batch_size]).reshape(-1, k)
                 for i in range(0, len(x), batch_size)])


class Session(Handle):
    """Runs a Model on batches of up to max_batch samples.  A session is
    used by one thread at a time; calls from several are serialised."""
    _free = lib.dg_session_free

    def __init__(self, model, max_batch=64):
        super().__init__(create(lib.dg_session_create, dg_session,
                                model._handle, max_batch))
        self.model = model
        self.max_batch = max_batch
        self._input_shape = model.input_shape
        self._lock = threading.RLock()

    def run(self, x, layer=-1):
        """Runs (N, C, H, W) inputs, N <= max_batch, and returns a copy of
        `layer`'s output (-1: the last) as an (N, C', H', W') array."""
        x = as_input(x, self._input_shape)
        if len(x) > self.max_batch:
            raise ValueError("a batch of %d; this session takes up to %d"
                             % (len(x), self.max_batch))
        with self._lock:
            lib.dg_session_run(self._handle, x, x.size, len(x))
            return self.output(layer)

    def top_classes(self, index, top=3):
        """The top most probable classes of input index of the last run,
        as dg predict prints them: (classes uint32, probabilities float64)
        arrays, most probable first."""
        classes, probabilities = np.empty(top, np.uint32), np.empty(top)
        with self._lock:
            lib.dg_session_top_classes(self._handle, index, top, classes,
                                       probabilities)
        return classes, probabilities

    def output(self, layer):
        """A copy of `layer`'s output of the last run, (N, C', H', W')."""
        data = ctypes.POINTER(ctypes.c_float)()
        dims = [ctypes.c_uint32() for _ in range(4)]
        with self._lock:
            lib.dg_session_output(self._handle, layer, ctypes.byref(data),
                                  *(ctypes.byref(d) for d in dims))
            return np.ctypeslib.as_array(
                data, shape=tuple(d.value for d in dims)).copy()
