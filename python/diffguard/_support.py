"""What the wrapper classes share: owning a C handle, creating objects through
out-pointers, option keywords, progress callbacks and input checks."""
import ctypes
import os

import numpy as np

from ._capi import DiffguardError, lib
from ._structs import PROGRESS_FN, c_name, dg_report_opts, python_name


class Handle:
    """Owns one C object, released once by close(), at the end of a `with`
    block, or when garbage collected.

    An object that uses another keeps it as an attribute (Session.model,
    Guard.student, Validator.guard), and the C library holds references of
    its own, so objects may be closed or collected in any order.  Using a
    closed object raises ValueError.
    """
    _ptr = None
    _free = None  # the C function releasing the handle, set by subclasses

    def __init__(self, ptr):
        self._ptr = ptr

    @property
    def _handle(self):
        """The C pointer, for passing to C; ValueError once closed."""
        if not self._ptr:
            raise ValueError("this %s is closed" % type(self).__name__)
        return self._ptr

    def close(self):
        """Releases the C object now; later calls on this object fail."""
        ptr, self._ptr = self._ptr, None
        if ptr:
            self._free(ptr)

    def __enter__(self):
        return self

    def __exit__(self, *_exc):
        self.close()

    def __del__(self):
        self.close()


def handle_of(obj):
    """obj's C pointer, or NULL for None."""
    return None if obj is None else obj._handle


def create(fn, handle_type, *args):
    """Calls fn(*args, &out) and returns out, a new handle_type pointer."""
    out = ctypes.POINTER(handle_type)()
    fn(*args, ctypes.byref(out))
    return out


def c_strings(names):
    """A C array of the strings `names` (UTF-8) and its length."""
    encoded = [name.encode() for name in names]
    return (ctypes.c_char_p * len(encoded))(*encoded), len(encoded)


def get_u32(fn, *args, count=1):
    """Calls fn(*args, &v1, ..., &v<count>) and returns the uint32 values
    (one value alone, several as a tuple)."""
    values = [ctypes.c_uint32() for _ in range(count)]
    fn(*args, *(ctypes.byref(v) for v in values))
    return values[0].value if count == 1 else tuple(v.value for v in values)


def query(fn, struct, *args):
    """Calls fn(*args, &struct) on a result struct and returns it."""
    fn(*args, ctypes.byref(struct))
    return struct


def as_input(x, shape):
    """x as a C-contiguous float32 (N, C, H, W) array, N >= 1, for a model
    whose input shape is (C, H, W); ValueError otherwise."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 4 or x.shape[1:] != tuple(shape) or x.shape[0] == 0:
        raise ValueError("input has shape %s; expected (N, %d, %d, %d), N >= 1"
                         % ((x.shape,) + tuple(shape)))
    return x


class Progress:
    """Routes a dg_progress_fn to callback(stage, done, total, metric): a
    struct's progress field (opts), or c_callback passed as an argument.  A
    true return value stops the C call (DiffguardError with
    Status.CANCELLED); an exception raised by the callback stops it too and
    is re-raised in place of that error."""

    def __init__(self, callback, opts=None):
        self.callback = callback
        self.error = None
        self.c_callback = PROGRESS_FN()  # NULL: no callback
        if callback is not None:
            self.c_callback = PROGRESS_FN(self._call)  # alive for the call
            if opts is not None:
                opts.progress = self.c_callback

    def _call(self, _user, stage, done, total, metric):
        try:
            return 1 if self.callback(stage.decode(), done, total, metric) \
                else 0
        except BaseException as e:  # KeyboardInterrupt too: stop the C call
            self.error = e
            return 1

    def call(self, fn, *args):
        """fn(*args); an exception the callback raised is raised instead
        of the call's result or of its DiffguardError."""
        try:
            result = fn(*args)
        except DiffguardError:
            if self.error is None:
                raise
        if self.error is not None:
            raise self.error
        return result


# Fields no keyword sets: the size and the callback (progress= sets it);
# nor do the n_<array> counts, set from the array given.
_NOT_KEYWORDS = ("struct_size", "progress", "progress_user")


def fill_options(struct_type, init, kwargs):
    """An option struct filled by its *_init function, then field by field
    from kwargs: sequences for arrays (their n_<name> count follows), paths
    for strings, Model objects for model pointers, `progress` for the
    callback; a field named like a Python keyword takes a trailing _
    (lambda_).  Returns (struct, Progress); TypeError for an unknown key."""
    opts = struct_type()
    init(ctypes.byref(opts), ctypes.sizeof(opts))
    fields = {name: t for name, t in struct_type._fields_
              if name not in _NOT_KEYWORDS and not name.startswith("n_")}
    has_progress = hasattr(struct_type, "progress")
    progress = Progress(kwargs.pop("progress", None) if has_progress
                        else None, opts)
    for key, value in kwargs.items():
        name = c_name(key)
        if name not in fields:
            raise TypeError("unknown option %r; expected one of: %s"
                            % (key, ", ".join(sorted(map(python_name,
                                                         fields)))))
        kind = fields[name]
        if issubclass(kind, ctypes.Array):
            values = list(value)
            if not 1 <= len(values) <= kind._length_:
                raise ValueError("%s takes 1 to %d values, not %d"
                                 % (name, kind._length_, len(values)))
            getattr(opts, name)[:len(values)] = values
            setattr(opts, "n_" + name, len(values))
        elif kind is ctypes.c_char_p:
            setattr(opts, name, None if value is None else os.fsencode(value))
        elif issubclass(kind, ctypes._Pointer):
            setattr(opts, name, handle_of(value))
        else:
            setattr(opts, name, value)
    return opts, progress


#: The text forms of a report, as the *_format_report functions take them.
FORMATS = {"json": 1, "markdown": 2, "text": 3}


def format_code(form):
    """The DG_FORMAT_* of "json", "markdown" or "text"."""
    if form not in FORMATS:
        raise ValueError("format %r; expected one of %s"
                         % (form, ", ".join(FORMATS)))
    return FORMATS[form]


def formatted(fn, *args):
    """The text a *_format_report function makes: fn(*args, text,
    capacity, &length) asked for its size, then called with room for
    it."""
    length = ctypes.c_size_t()
    fn(*args, None, 0, ctypes.byref(length))
    text = ctypes.create_string_buffer(length.value)
    fn(*args, text, length.value, ctypes.byref(length))
    return text.value.decode("utf-8", "replace")


def report_options(options):
    """A dg_report_opts from keywords (parts=, examples=, every_m=)."""
    opts, _ = fill_options(dg_report_opts, lib.dg_report_opts_init, options)
    return opts
