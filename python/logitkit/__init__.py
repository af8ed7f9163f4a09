# SPDX-License-Identifier: Apache-2.0
"""logitkit: logits to probabilities, accurately (softmax family, losses, sampling) on NumPy arrays.

Every function here is a thin layer over the C++ library: it checks the arguments, moves the
requested axis last (a view; a contiguous copy only when the rows are not evenly strided),
releases the GIL around the kernel and returns new arrays (or writes ``out=``). No math is done
in Python.

Dtypes: float32 and float64 compute in their own precision; float16 input is converted exactly to
float32 and the result is float32; integer and bool input is converted to float64 (as SciPy
does). Other dtypes (complex, long double, strings, objects) and NumPy masked arrays raise
TypeError. Every argument is checked here before it reaches the C++ layer: a wrong type raises
TypeError, an integer out of range (negative or overflowing seeds, counts, thread numbers, token
ids, streams) or an unknown option name raises ValueError, each naming the argument and the value
as given. Options the library validates (temperatures, probabilities, shapes) raise ValueError with
the C++ library's std::invalid_argument message.

With PyTorch installed, ``logitkit.torch`` adds autograd functions and ``nn.Module`` losses.

Special values follow docs/semantics.md: -inf entries are masked (probability exactly 0); a row
that is all -inf gives zeros (``empty_row='zeros'``, the default) or NaN (``empty_row='nan'``,
PyTorch's behaviour); +inf entries share the mass evenly; temperature 0 is the exact argmax limit
(ties share the mass) and +inf is uniform over the unmasked entries; NaN makes its row NaN
(``nan='propagate'``) or raises ValueError naming the row and column (``nan='raise'``).
"""

import numbers
import operator

import numpy as np

from . import _logitkit as _lk

__version__ = _lk.__version__  # the CMake project version

__all__ = [
    "softmax", "log_softmax", "logsumexp", "softmax_backward", "log_softmax_backward",
    "cross_entropy", "distillation_loss", "contrastive_loss", "linear_cross_entropy",
    "CLIP_INIT_LOG_SCALE", "sample", "sampling_distribution", "philox_uniform",
    "targets", "force_target", "reset_target",
]

from ._chain import SamplerChain, sample_chains  # noqa: E402  (python/logitkit/_chain.py)

__all__ += ["SamplerChain", "sample_chains"]

CLIP_INIT_LOG_SCALE = _lk.CLIP_INIT_LOG_SCALE  # log(1 / 0.07), CLIP's initial log-scale

_FLOATS = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))


# ------------------------------------------------------------------------------------------------
# Argument helpers (layout and validation only).

def _choice(value, enum, name):
    members = enum.__members__
    if not isinstance(value, str) or value not in members:
        raise ValueError(f"{name} must be one of {sorted(members)}, got {value!r}")
    return members[value]


_INT32 = (-2 ** 31, 2 ** 31 - 1)
_INT64 = (-2 ** 63, 2 ** 63 - 1)
_UINT64 = (0, 2 ** 64 - 1)


def _int(value, name, lo, hi):
    """value as a Python int in [lo, hi]: TypeError for non-integers (bool, float, str, ...),
    ValueError naming the argument and the value when out of range."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {value!r} "
                        f"({type(value).__name__})") from None
    if not lo <= v <= hi:
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {v}")
    return v


def _float(value, name):
    """value as a Python float (TypeError naming the argument for non-numbers)."""
    if isinstance(value, (numbers.Real, np.floating, np.integer)) and not isinstance(
            value, (bool, np.bool_)):
        return float(value)
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        return float(value)
    raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")


def _no_mask(x, name):
    if isinstance(x, np.ma.MaskedArray):
        raise TypeError(f"{name} is a numpy.ma.MaskedArray; logitkit does not read masks: pass "
                        f"np.ma.filled({name}, -np.inf) to mask logits, or {name}.data to ignore "
                        f"the mask")


def _index_array(t, name):
    """An integer array as int64, refusing unsigned values that would wrap to negatives."""
    _no_mask(t, name)
    t = np.asarray(t)
    if t.dtype.kind == "u" and t.dtype.itemsize == 8 and t.size and t.max() > _INT64[1]:
        bad = t.reshape(-1)[int(np.argmax(t.reshape(-1) > _INT64[1]))]
        raise ValueError(f"{name} holds {int(bad)} ({t.dtype}), beyond int64: it would wrap to "
                         f"{int(np.int64(bad.astype(np.int64)))}")
    return t.astype(np.int64, copy=False)


def _float_array(x, name, allow_half=True):
    """x as an ndarray of float16/float32/float64; integer and bool input as float64 (as SciPy);
    TypeError for any other dtype and for masked arrays."""
    _no_mask(x, name)
    a = np.asarray(x)
    if a.dtype.kind in "iub":
        a = a.astype(np.float64)
    if a.dtype not in _FLOATS or (not allow_half and a.dtype == np.float16):
        allowed = "float16, float32 or float64" if allow_half else "float32 or float64"
        raise TypeError(f"{name} must have dtype {allowed}, got {a.dtype} "
                        f"(convert with .astype(np.float32) or np.float64)")
    return a


def _result_dtype(dtype):
    return np.dtype(np.float64) if dtype == np.float64 else np.dtype(np.float32)


def _one_axis(axis, ndim, name="axis"):
    if isinstance(axis, (bool, np.bool_)):
        raise TypeError(f"{name} must be an int, got {axis!r}")
    try:
        axis = operator.index(axis)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {axis!r} ({type(axis).__name__})") from None
    if not -ndim <= axis < ndim:
        raise ValueError(f"{name} {axis} is out of bounds for an array of dimension {ndim}")
    return axis % ndim


def _axis(axis, ndim, allow_tuple=True):
    """None, an int in [0, ndim) or a sorted tuple of distinct axes (several axes form one row;
    a tuple of every axis is None, a tuple of one axis is that axis)."""
    if axis is None:
        return None
    if isinstance(axis, (tuple, list)) and allow_tuple:
        axes = sorted(_one_axis(a, ndim) for a in axis)
        if len(set(axes)) != len(axes):
            raise ValueError(f"axis {tuple(axis)} repeats an axis")
        if len(axes) == ndim:
            return None
        return axes[0] if len(axes) == 1 else tuple(axes)
    if isinstance(axis, (tuple, list)):
        raise TypeError(f"axis must be an int, got {axis!r}")
    return _one_axis(axis, ndim)


def _dim_alias(axis, dim, default=-1):
    """PyTorch's dim= as an alias of axis= (not both)."""
    if dim is None:
        return axis
    if axis is not default and axis != default:
        raise TypeError(f"give axis= or dim=, not both (axis={axis!r}, dim={dim!r})")
    return dim


def _last(a, axis):
    """a with `axis` moved last (a view); axis None flattens a into one row; a tuple of axes is
    moved last and merged into one (a copy when they cannot be merged in place)."""
    if axis is None:
        return a.reshape(1, -1) if a.ndim != 1 else a
    if isinstance(axis, tuple):
        k = len(axis)
        m = np.moveaxis(a, axis, tuple(range(a.ndim - k, a.ndim)))
        return m.reshape(m.shape[:a.ndim - k] + (-1,))
    return a if axis == a.ndim - 1 else np.moveaxis(a, axis, -1)


def _restore(y, x_shape, axis):
    """The inverse of _last for a result of x_shape's size laid out axis-last."""
    nd = len(x_shape)
    if axis is None:
        return y.reshape(x_shape)
    axes = axis if isinstance(axis, tuple) else (axis,)
    rest = [d for d in range(nd) if d not in axes]
    r = y.reshape(tuple(x_shape[d] for d in rest) + tuple(x_shape[d] for d in axes))
    k = len(axes)
    return np.moveaxis(r, tuple(range(nd - k, nd)), axes)


def _rows_ok(v):
    r, n = v.shape
    item = v.itemsize
    if n > 1 and v.strides[1] != item:
        return False
    s = v.strides[0]
    return r <= 1 or (s >= 0 and s % item == 0 and s // item >= n)


def _rows(a):
    """(rows, n) view of `a` (last axis = the row), contiguous copy only if it cannot be a view."""
    n = a.shape[-1] if a.ndim else 1
    r = int(np.prod(a.shape[:-1], dtype=np.int64)) if a.ndim else 1
    v = a.reshape(r, n)
    return v if _rows_ok(v) else np.ascontiguousarray(v)


def _writable_rows(out, axis):
    """A (rows, n) view of `out` with `axis` last that the kernel may write, or None."""
    m = _last(out, axis)
    n = m.shape[-1] if m.ndim else 1
    v = m.reshape(-1, n) if n else m.reshape(int(np.prod(m.shape[:-1], dtype=np.int64)), 0)
    if v.size > 0 and not np.may_share_memory(v, out):
        return None  # the layout needed a copy
    return v if _rows_ok(v) else None


def _check_out(out, shape, dtype):
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}")
    if out.dtype != dtype:
        raise TypeError(f"out must have dtype {dtype}, got {out.dtype}")
    if out.shape != tuple(shape):
        raise ValueError(f"out must have shape {tuple(shape)}, got {out.shape}")
    if not out.flags.writeable:
        raise ValueError("out is read-only")


def _same_memory(a, b):
    return (a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
            and a.strides == b.strides and a.shape == b.shape)


def _run_rows(kernel, inputs, x_shape, axis, dtype, out):
    """Runs kernel(*input_rows, y_rows) where every input has shape x_shape and y does too.

    Writes straight into `out` when its axis-last view is a strided matrix that either does not
    overlap the inputs or is exactly the first input (in place); otherwise into a new array that
    is copied into `out`.
    """
    moved = [_last(a, axis) for a in inputs]
    rows = [_rows(m) for m in moved]
    if out is not None:
        _check_out(out, x_shape, dtype)
        target = _writable_rows(out, axis)
        if target is not None and all(
                not np.may_share_memory(target, r) or (i == 0 and _same_memory(target, r))
                for i, r in enumerate(rows)):
            kernel(*rows, target)
            return out
    y = np.empty(rows[0].shape, dtype=dtype)
    kernel(*rows, y)
    result = _restore(y, x_shape, axis)
    if out is not None:
        out[...] = result
        return out
    return result


def _threads(threads):
    return _int(threads, "threads", 0, _INT32[1])


def _softmax_options(temperature, empty_row, nan, precision, threads):
    o = _lk.SoftmaxOptions()
    o.temperature = _float(temperature, "temperature")  # the library checks its value
    o.empty_row = _choice(empty_row, _lk.EmptyRow, "empty_row")
    o.nan = _choice(nan, _lk.NanPolicy, "nan")
    o.precision = _choice(precision, _lk.Precision, "precision")
    o.threads = _threads(threads)
    return o


# ------------------------------------------------------------------------------------------------
# softmax family.

def softmax(x, axis=-1, temperature=1.0, empty_row="zeros", nan="propagate",
            precision="accurate", threads=0, out=None, *, dim=None):
    """Softmax with temperature along ``axis``.

    y_i = exp((x_i - m)/tau) / sum_j exp((x_j - m)/tau),   m = max_j x_j,  tau = temperature.

    The shift (x_i - m)/tau is carried in double: float32 outputs are within 2 ULP of the exact
    value and rows sum to 1 within 2.5e-7 (``precision='fast'`` rounds the shift in float).

    Edge cases: -inf entries get exactly 0; an all -inf row gives zeros (``empty_row='zeros'``)
    or NaN (``empty_row='nan'``, as PyTorch); +inf entries share the mass evenly (1/k each);
    tau = 0 puts all mass on the maximum (ties share it); tau = inf is uniform over the entries
    that are not -inf; tau < 0 or NaN raises ValueError; a NaN makes its row NaN, or raises
    ValueError naming the row and column with ``nan='raise'``.

    Args:
      x: array of float16, float32 or float64 (float16 is computed via float32).
      axis: the axis to normalise over (default last); None normalises over every entry; a
        tuple of axes normalises over those axes together (SciPy's meaning).
      temperature: tau >= 0.
      empty_row: 'zeros' or 'nan'.
      nan: 'propagate' or 'raise'.
      precision: 'accurate' or 'fast'.
      threads: 0 = the library default (all hardware threads), 1 = the calling thread only.
      out: optional array of x's shape and the result dtype to write into (may be x itself).
      dim: PyTorch's name for axis (give one of them).

    Returns: the probabilities, x's shape, float32 (float16/float32 input) or float64.

    Example:
      >>> logitkit.softmax(np.array([2.0, 1.0, 0.1], np.float32), temperature=0.5)
      array([0.8637771 , 0.11689952, 0.01932336], dtype=float32)
    """
    x = _float_array(x, "x")
    o = _softmax_options(temperature, empty_row, nan, precision, threads)
    ax = _axis(_dim_alias(axis, dim), x.ndim)
    return _run_rows(lambda a, y: _lk.softmax(a, y, o), [x], x.shape, ax,
                     _result_dtype(x.dtype), out)


def log_softmax(x, axis=-1, temperature=1.0, empty_row="zeros", nan="propagate",
                precision="accurate", threads=0, out=None, *, dim=None):
    """Log-softmax with temperature along ``axis``.

    y_i = (x_i - m)/tau - log(sum_j exp((x_j - m)/tau)) = x_i/tau - logsumexp(x/tau).

    float32 outputs are within 2 ULP of the exact value, including the winning entry, computed as
    -log1p(sum_{j != max} e_j): a confident row keeps its tiny negative log-probability (PyTorch
    returns 0 there).

    Edge cases: -inf entries give -inf; an all -inf row gives -inf (``empty_row='zeros'``) or NaN
    (``empty_row='nan'``); k entries at +inf give -log(k) there and -inf elsewhere; tau = 0 gives
    -log(c) at the c tied maxima and -inf elsewhere; tau = inf gives -log(k) over the k entries that
    are not -inf; NaN as in softmax().

    Arguments and return as softmax().

    Example:
      >>> logitkit.log_softmax(np.array([30.0, 0.0], np.float32))
      array([-9.357623e-14, -3.000000e+01], dtype=float32)
    """
    x = _float_array(x, "x")
    o = _softmax_options(temperature, empty_row, nan, precision, threads)
    ax = _axis(_dim_alias(axis, dim), x.ndim)
    return _run_rows(lambda a, y: _lk.log_softmax(a, y, o), [x], x.shape, ax,
                     _result_dtype(x.dtype), out)


def logsumexp(x, axis=-1, temperature=1.0, empty_row="zeros", nan="propagate",
              precision="accurate", threads=0, keepdims=False, out=None, *, b=None,
              return_sign=False, dim=None, keepdim=None):
    """log(sum_i exp(x_i / tau)) along ``axis``, which is removed (kept with size 1 by keepdims).

    Computed as m/tau + log(sum_j exp((x_j - m)/tau)), m = max_j x_j; float32 results within 2 ULP
    except where m/tau and the log cancel to below ~1e-9 (absolute error <= 2e-16 max(|m/tau|, 1)).

    Edge cases: an all -inf row (or an empty axis) gives -inf; any +inf gives +inf; tau = 0 gives
    +inf if m > 0, -inf if m < 0 and log(c) if m == 0 (c tied maxima); tau = inf gives log(k) over
    the k entries that are not -inf; NaN gives NaN (or ValueError with ``nan='raise'``).
    ``empty_row`` does not change logsumexp.

    SciPy's ``scipy.special.logsumexp`` arguments: ``b`` (weights broadcastable to x) gives
    log|sum_i b_i exp(x_i)|, entries with b_i = 0 ignored, with ``return_sign=True`` also the sign
    of the sum (1, -1, or 0 for an empty sum; NaN where the result is NaN). With b, x + log|b_i| is
    rounded before the library's logsumexp (one rounding of |x| 2^-53 relative in float64) and
    mixed signs are combined as m + log1p(-exp(l - m)) from the positive and the negative part
    (cancellation as in SciPy's direct sum); b needs temperature 1. Tuple axes reduce over several
    axes; ``axis=None`` over every entry (SciPy's default; logitkit's default is the last axis).

    Args as softmax(); axis None reduces over every entry; out must have the result's shape;
    keepdim is PyTorch's name for keepdims and dim for axis.

    Returns: the result array (a 0-d array for axis=None without keepdims), or (result, sign) with
    return_sign.

    Example:
      >>> logitkit.logsumexp(np.array([[0.0, 0.0], [1000.0, 1000.0]]))
      array([6.93147181e-01, 1.00069315e+03])
      >>> logitkit.logsumexp(np.array([0.0, 0.0]), b=np.array([1.0, -2.0]), return_sign=True)
      (array(0.), array(-1.))
    """
    if keepdim is not None:
        keepdims = keepdim
    axis = _dim_alias(axis, dim)
    if b is not None:
        return _weighted_logsumexp(x, b, axis, temperature, empty_row, nan, precision, threads,
                                   bool(keepdims), out, return_sign)
    x = _float_array(x, "x")
    o = _softmax_options(temperature, empty_row, nan, precision, threads)
    ax = _axis(axis, x.ndim)
    moved = _last(x, ax)
    batch = moved.shape[:-1]
    if ax is None:
        shape = (1,) * x.ndim if keepdims else ()
    elif keepdims:
        axes = ax if isinstance(ax, tuple) else (ax,)
        shape = tuple(1 if d in axes else n for d, n in enumerate(x.shape))
    else:
        shape = batch
    dtype = _result_dtype(x.dtype)
    rows = _rows(moved)
    result = None
    if out is not None:
        _check_out(out, shape, dtype)
        if out.flags.c_contiguous and not np.may_share_memory(out, rows):
            _lk.logsumexp(rows, out.reshape(-1), o)
            result = out
    if result is None:
        y = np.empty(rows.shape[0], dtype=dtype)
        _lk.logsumexp(rows, y, o)
        if out is not None:
            out[...] = y.reshape(shape)
            result = out
        else:
            result = y.reshape(shape)
    if not return_sign:
        return result
    sign = np.where(np.isnan(result), np.nan, np.where(result == -np.inf, 0.0, 1.0))
    return result, sign.astype(dtype)


def _weighted_logsumexp(x, b, axis, temperature, empty_row, nan, precision, threads, keepdims,
                        out, return_sign):
    """SciPy's logsumexp(x, b=b): the positive and the negative weights' parts, each one call of
    the library's logsumexp on x + log|b| (b = 0 and b of the other sign: -inf)."""
    x = _float_array(x, "x")
    w = _float_array(b, "b")
    if _float(temperature, "temperature") != 1.0:
        raise ValueError(f"b= needs temperature 1, got temperature={temperature!r}")
    try:
        x, w = np.broadcast_arrays(x, w)
    except ValueError:
        raise ValueError(f"b of shape {w.shape} does not broadcast to x's shape {x.shape}") from None
    dtype = _result_dtype(np.result_type(x.dtype, w.dtype))
    x, w = x.astype(dtype), w.astype(dtype)
    with np.errstate(divide="ignore", invalid="ignore"):
        shifted = x + np.log(np.abs(w))
    nan_w = np.isnan(w)
    kw = dict(axis=axis, empty_row=empty_row, nan=nan, precision=precision, threads=threads,
              keepdims=keepdims)
    pos = logsumexp(np.where(nan_w, np.nan, np.where(w > 0, shifted, -np.inf)), **kw)
    if (w < 0).any():
        neg = logsumexp(np.where(w < 0, shifted, -np.inf), **kw)
        hi, lo = np.maximum(pos, neg), np.minimum(pos, neg)
        with np.errstate(invalid="ignore", divide="ignore"):
            diff = np.where(hi == -np.inf, -np.inf, lo - hi)
            r = hi + np.log1p(-np.exp(diff))
        sign = np.where(pos > neg, 1.0, np.where(pos < neg, -1.0, 0.0))
    else:
        r = pos
        sign = np.where(r == -np.inf, 0.0, 1.0)
    r = np.asarray(r, dtype=dtype)
    sign = np.where(np.isnan(r), np.nan, sign).astype(dtype)
    if out is not None:
        _check_out(out, r.shape, dtype)
        out[...] = r
        r = out
    return (r, sign) if return_sign else r


def _backward(kernel, y, dy, axis, temperature, empty_row, threads, out):
    _no_mask(y, "y")
    _no_mask(dy, "dy")
    y = _float_array(y, "y")
    dy = _float_array(dy, "dy")
    if y.dtype != dy.dtype:
        raise TypeError(f"y and dy must have the same dtype, got {y.dtype} and {dy.dtype}")
    if y.shape != dy.shape:
        raise ValueError(f"y and dy must have the same shape, got {y.shape} and {dy.shape}")
    dtype = _result_dtype(y.dtype)
    y, dy = y.astype(dtype, copy=False), dy.astype(dtype, copy=False)
    o = _softmax_options(temperature, empty_row, "propagate", "accurate", threads)
    ax = _axis(axis, y.ndim)
    return _run_rows(lambda a, b, dx: kernel(a, b, dx, o), [y, dy], y.shape, ax, dtype, out)


def softmax_backward(y, dy, axis=-1, temperature=1.0, empty_row="zeros", threads=0, out=None, *,
                     dim=None):
    """Gradient through softmax: dx_i = (dy_i - sum_j dy_j y_j) y_i / tau.

    y is softmax's output (at the same temperature) and dy the upstream gradient, same shape.
    Sums are in double. Entries with y = 0 get dx = 0 even where dy is +-inf; tau = 0 or inf gives
    0 (the limit is piecewise constant); rows whose y is NaN give NaN. float16 inputs are computed
    in float32. ``out`` may be dy itself.

    Example:
      >>> y = logitkit.softmax(np.array([1.0, 2.0]))
      >>> logitkit.softmax_backward(y, np.array([1.0, 0.0]))
      array([ 0.19661193, -0.19661193])
    """
    return _backward(_lk.softmax_backward, y, dy, _dim_alias(axis, dim), temperature, empty_row,
                     threads, out)


def log_softmax_backward(y, dy, axis=-1, temperature=1.0, empty_row="zeros", threads=0,
                         out=None, *, dim=None):
    """Gradient through log_softmax: dx_i = (dy_i - exp(y_i) sum_j dy_j) / tau.

    y is log_softmax's output (at the same temperature) and dy the upstream gradient. Entries with
    y = -inf get dx = 0; tau = 0 or inf gives 0; rows whose y is NaN give NaN.

    Example:
      >>> y = logitkit.log_softmax(np.array([1.0, 2.0]))
      >>> logitkit.log_softmax_backward(y, np.array([1.0, 0.0]))
      array([ 0.73105858, -0.73105858])
    """
    return _backward(_lk.log_softmax_backward, y, dy, _dim_alias(axis, dim), temperature,
                     empty_row, threads, out)


# ------------------------------------------------------------------------------------------------
# Losses.

def _loss_result(loss, row_loss, batch_shape, grad, grad_moved_shape, axis, ndim, return_grad):
    value = row_loss.reshape(batch_shape) if row_loss is not None else loss
    if not return_grad:
        return value
    g = grad.reshape(grad_moved_shape)
    if axis != ndim - 1:
        g = np.moveaxis(g, -1, axis)
    return value, g


def _ce_options(reduction, ignore_index, label_smoothing, smoothing, z_loss, softcap, temperature,
                empty_mean, precision, threads):
    o = _lk.CrossEntropyOptions()
    o.reduction = _choice(reduction, _lk.Reduction, "reduction")
    if reduction == "batchmean":
        raise ValueError("reduction must be 'none', 'mean' or 'sum' for cross_entropy, "
                         "got 'batchmean'")
    o.ignore_index = _int(ignore_index, "ignore_index", *_INT64)
    o.label_smoothing = _float(label_smoothing, "label_smoothing")
    o.smoothing = _choice(smoothing, _lk.LabelSmoothing, "smoothing")
    o.z_loss = _float(z_loss, "z_loss")
    o.softcap = _float(softcap, "softcap")
    o.temperature = _float(temperature, "temperature")
    o.empty_mean = _choice(empty_mean, _lk.EmptyMean, "empty_mean")
    o.precision = _choice(precision, _lk.Precision, "precision")
    o.threads = _threads(threads)
    return o


def cross_entropy(logits, target, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0, *, smoothing="pytorch", z_loss=0.0, softcap=0.0,
                  temperature=1.0, empty_mean="nan", axis=-1, precision="accurate", threads=0,
                  return_grad=False):
    """Cross-entropy fused with log-softmax, PyTorch's definitions.

    For each row (the class axis ``axis``, C classes) with logits x:
      z = softcap * tanh(x / softcap) if softcap else x;   u = z / tau;   log p = u - logsumexp(u)
      row_loss = -sum_j w_j q_j log p_j + z_loss * logsumexp(u)^2
    q is the one-hot target smoothed with eps = label_smoothing: (1 - eps) onehot + eps / C
    ('pytorch') or (1 - eps) onehot + eps / (C - 1) off the target ('megatron'); with probability
    targets q = (1 - eps) y + eps / C. w are the class weights (default 1).

    Targets: an integer array of the logits' shape without ``axis`` (class indices, entries equal
    to ``ignore_index`` are skipped) or a float array of the logits' shape (probabilities, need not
    sum to 1, finite and >= 0; ignore_index does not apply).

    Reduction: 'mean' divides by the summed weight w_{t_r} of the counted rows (class indices) or
    by the number of rows (probabilities), as PyTorch; an empty mean gives NaN (``empty_mean='nan'``)
    or 0 ('zero'). 'sum' sums. 'none' returns the per-row losses (shape of the target batch).

    Accuracy: float32 row losses within 4 ULP of the exact value, also a confident row's 1e-8
    loss (PyTorch returns 0 or a value with large relative error there); the reduced loss is
    accumulated in double and returned as a Python float.

    Edge cases: an all -inf row gives loss +inf and gradient 0; +inf logits give the limit; a NaN
    makes that row's loss and gradient NaN; a -inf logit at the target gives +inf with gradient
    -1 there.

    Args:
      logits: float16 (computed in float32), float32 or float64.
      target: class indices (integer dtype) or probabilities (float dtype, logits' shape).
      weight: optional class weights, C finite entries >= 0.
      return_grad: also return d loss / d logits (logits' shape; for 'none', the gradient of the
        sum of the row losses).

    Returns: loss, or (loss, grad) with return_grad.

    Example:
      >>> x = np.array([[2.0, 0.5, -1.0]], np.float32)
      >>> logitkit.cross_entropy(x, np.array([0]), return_grad=True)
      (0.24131130049967212, array([[-0.21440297,  0.17529039,  0.03911257]], dtype=float32))
    """
    x = _float_array(logits, "logits")
    dtype = _result_dtype(x.dtype)
    x = x.astype(dtype, copy=False)
    if x.ndim < 1:
        raise ValueError("logits must have at least 1 dimension (the class axis)")
    ax = _axis(axis, x.ndim, allow_tuple=False)
    o = _ce_options(reduction, ignore_index, label_smoothing, smoothing, z_loss, softcap,
                    temperature, empty_mean, precision, threads)

    moved = _last(x, ax)
    batch = moved.shape[:-1]
    rows = _rows(moved)
    _no_mask(target, "target")
    t = np.asarray(target)
    if t.dtype.kind in "iu":
        if t.shape != batch:
            raise ValueError(f"class-index target must have shape {batch} (logits' shape without "
                             f"axis {ax}), got {t.shape}")
        t_rows = np.ascontiguousarray(_index_array(t, "target")).reshape(-1)
    elif t.dtype.kind == "f":
        if t.shape != x.shape:
            raise ValueError(f"probability target must have the logits' shape {x.shape}, "
                             f"got {t.shape}")
        t_rows = _rows(_last(t.astype(dtype, copy=False), ax))
    else:
        raise TypeError(f"target must be integer (class indices) or float (probabilities), "
                        f"got {t.dtype}")
    w = None
    if weight is not None:
        w = np.ascontiguousarray(_float_array(weight, "weight"), dtype=np.float64).reshape(
            np.shape(weight))
        if w.shape != (moved.shape[-1],):
            raise ValueError(f"weight must have shape ({moved.shape[-1]},), got {w.shape}")
    grad = np.empty(rows.shape, dtype=dtype) if return_grad else None
    row_loss = np.empty(rows.shape[0], dtype=dtype) if reduction == "none" else None
    loss = _lk.cross_entropy(rows, t_rows, w, o, grad, row_loss)
    return _loss_result(loss, row_loss, batch, grad, moved.shape, ax, x.ndim, return_grad)


def distillation_loss(student, teacher, temperature=1.0, *, divergence="forward_kl", js_beta=0.5,
                      tau_squared=True, reduction="batchmean", teacher_input="logits", alpha=0.0,
                      target=None, ignore_index=-100, axis=-1, precision="accurate", threads=0,
                      return_grad=False):
    """Knowledge-distillation loss between a teacher's p and the student's q at temperature tau.

      q = softmax(student / tau);  p = softmax(teacher / tau) (teacher_input='logits') or
      p = exp(teacher) renormalised (teacher_input='log_probs', already at temperature tau)
      row_loss = (tau^2 if tau_squared else 1) * D(p, q)
    D: 'forward_kl' KL(p || q) = sum p (log p - log q) (PyTorch's KLDivLoss(log q, p));
    'reverse_kl' KL(q || p); 'js' beta KL(p || M) + (1 - beta) KL(q || M), M = beta p + (1-beta) q.
    Reduction: 'batchmean' (default) sum / rows; 'mean' sum / (rows * C) as KLDivLoss; 'sum';
    'none' returns the per-row losses. alpha > 0 adds alpha * cross_entropy(student, target)
    (temperature 1, mean over rows whose target is not ignore_index); not with 'none'.

    Terms with zero weight count 0 (0 log 0 = 0); q_j = 0 where p_j > 0 gives +inf (forward KL).
    A NaN in either row makes that row's loss and gradient NaN.

    Args:
      student, teacher: logits of the same shape, float16 (computed in float32), float32 or float64.
      return_grad: also return d loss / d student.

    Returns: loss, or (loss, grad_student) with return_grad.

    Example:
      >>> s = np.array([[1.0, 0.0]]); t = np.array([[0.0, 1.0]])
      >>> logitkit.distillation_loss(s, t, temperature=2.0)
      0.4898...
    """
    s = _float_array(student, "student")
    t = _float_array(teacher, "teacher")
    dtype = _result_dtype(np.result_type(s.dtype, t.dtype))
    if s.shape != t.shape:
        raise ValueError(f"student and teacher must have the same shape, got {s.shape} and "
                         f"{t.shape}")
    if s.ndim < 1:
        raise ValueError("student must have at least 1 dimension (the class axis)")
    s, t = s.astype(dtype, copy=False), t.astype(dtype, copy=False)
    ax = _axis(axis, s.ndim, allow_tuple=False)
    o = _lk.DistillationOptions()
    o.temperature = _float(temperature, "temperature")
    o.divergence = _choice(divergence, _lk.Divergence, "divergence")
    o.js_beta = _float(js_beta, "js_beta")
    o.tau_squared = bool(tau_squared)
    o.reduction = _choice(reduction, _lk.Reduction, "reduction")
    o.teacher_input = _choice(teacher_input, _lk.TeacherInput, "teacher_input")
    o.alpha = _float(alpha, "alpha")
    o.ignore_index = _int(ignore_index, "ignore_index", *_INT64)
    o.precision = _choice(precision, _lk.Precision, "precision")
    o.threads = _threads(threads)
    if reduction == "none" and o.alpha > 0:
        raise ValueError("reduction='none' cannot be combined with alpha > 0 (the hard-label term "
                         "is a mean over rows)")

    moved = _last(s, ax)
    batch = moved.shape[:-1]
    s_rows = _rows(moved)
    t_rows = _rows(_last(t, ax))
    tgt = None
    if target is not None:
        _no_mask(target, "target")
        ta = np.asarray(target)
        if ta.dtype.kind not in "iu":
            raise TypeError(f"target must have an integer dtype, got {ta.dtype}")
        if ta.shape != batch:
            raise ValueError(f"target must have shape {batch}, got {ta.shape}")
        tgt = np.ascontiguousarray(_index_array(ta, "target")).reshape(-1)
    elif o.alpha > 0:
        raise ValueError("alpha > 0 needs target (class indices)")
    grad = np.empty(s_rows.shape, dtype=dtype) if return_grad else None
    row_loss = np.empty(s_rows.shape[0], dtype=dtype) if reduction == "none" else None
    loss = _lk.distillation_loss(s_rows, t_rows, tgt, o, grad, row_loss)
    return _loss_result(loss, row_loss, batch, grad, moved.shape, ax, s.ndim, return_grad)


def contrastive_loss(image, text, log_scale=CLIP_INIT_LOG_SCALE, *, normalize=True,
                     normalize_eps=1e-12, max_scale=100.0, block=0, threads=0, return_grad=False):
    """CLIP / InfoNCE loss over B matching pairs (row i of image with row i of text).

      a_i = u_i / max(|u_i|, eps) (normalize=True, F.normalize's rule), likewise b_j;
      s = min(exp(log_scale), max_scale);  L_ij = s <a_i, b_j>
      loss = (CE(L, arange(B)) + CE(L^T, arange(B))) / 2
    exactly PyTorch's (F.cross_entropy(L, i) + F.cross_entropy(L.T, i)) / 2, computed in blocks
    of rows without holding the B x B matrix. d loss / d log_scale is 0 where the scale is
    clamped at max_scale (torch.clamp's gradient).

    Special values: NaN or +-inf in either input gives a NaN loss and NaN gradients.

    Args:
      image, text: [B, D] embeddings, float32 or float64 (float16 computed in float32), the same
        shape.
      log_scale: t, the learned log of the logit scale (not NaN).
      return_grad: also return the gradients with respect to image, text and log_scale.

    Returns: loss (a Python float), or (loss, grad_image, grad_text, grad_log_scale).

    Example:
      >>> e = np.eye(2)
      >>> round(logitkit.contrastive_loss(e, e, log_scale=0.0), 6)
      0.313262
    """
    a = _float_array(image, "image")
    b = _float_array(text, "text")
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"image and text must be 2-D of the same shape [B, D], got {a.shape} "
                         f"and {b.shape}")
    dtype = _result_dtype(np.result_type(a.dtype, b.dtype))
    a, b = _rows(a.astype(dtype, copy=False)), _rows(b.astype(dtype, copy=False))
    o = _lk.ContrastiveOptions()
    o.normalize = bool(normalize)
    o.normalize_eps = _float(normalize_eps, "normalize_eps")
    o.max_scale = _float(max_scale, "max_scale")
    o.block = _int(block, "block", 0, _INT64[1])
    o.threads = _threads(threads)
    gi = np.empty(a.shape, dtype=dtype) if return_grad else None
    gt = np.empty(b.shape, dtype=dtype) if return_grad else None
    loss, gs = _lk.contrastive_loss(a, b, _float(log_scale, "log_scale"), o, gi, gt,
                                    bool(return_grad))
    return (loss, gi, gt, gs) if return_grad else loss


def _matrix_f32_or_bf16(a, name):
    """A 2-D float32 array, or bfloat16 bits (a uint16 array, or a torch bfloat16 tensor viewed as
    int16 by logitkit.torch), as rows the library reads."""
    _no_mask(a, name)
    arr = np.asarray(a)
    if arr.dtype == np.uint16 or arr.dtype == np.int16:
        arr = arr.view(np.uint16)
    elif arr.dtype.kind in "iub" or arr.dtype not in _FLOATS:
        raise TypeError(f"{name} must have dtype float32 (or bfloat16 bits as uint16), got "
                        f"{arr.dtype}")
    else:
        arr = arr.astype(np.float32, copy=False)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {arr.shape}")
    return _rows(arr)


def linear_cross_entropy(hidden, weight, target, class_weight=None, ignore_index=-100,
                         reduction="mean", label_smoothing=0.0, *, smoothing="pytorch", z_loss=0.0,
                         softcap=0.0, temperature=1.0, empty_mean="nan", precision="accurate",
                         chunk_rows=0, chunk_vocab=0, threads=0, return_grad=False):
    """Cross-entropy fused with the output layer, without holding the [N, V] logits.

      logits = hidden @ weight.T   ([N, V]);   loss = cross_entropy(logits, target, ...)

    with every cross_entropy() option (class weights are ``class_weight`` here; ``weight`` is the
    output layer's [V, D] matrix). The logits are made ``chunk_rows`` rows at a time (0: about
    64 MiB of them) with float32 matrix products (OpenBLAS when the library has it), turned into
    the gradient in place, and multiplied back: grad_hidden = G weight, grad_weight = G^T hidden.
    ``chunk_vocab`` > 0 also splits the vocabulary (docs/fused_linear.md).

    Args:
      hidden: [N, D], float32 (float16/float64 are rounded to float32), or bfloat16 bits (uint16).
      weight: [V, D], the same dtypes.
      target: [N] class indices (ignore_index skips a row).
      return_grad: also return (grad_hidden [N, D], grad_weight [V, D]), float32.

    Returns: loss (per-row losses, float32, with reduction='none'), or (loss, grad_hidden,
    grad_weight).
    Accuracy: each logit carries the float32 product's rounding (about D 2^-24 sum_k |h_k w_k|);
    then cross_entropy()'s bounds.

    Example:
      >>> h = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
      >>> w = np.array([[2.0, 0.0], [0.0, 2.0], [1.0, 1.0]], np.float32)
      >>> round(logitkit.linear_cross_entropy(h, w, np.array([0, 1])), 6)
      0.407606
    """
    h = _matrix_f32_or_bf16(hidden, "hidden")
    w = _matrix_f32_or_bf16(weight, "weight")
    o = _ce_options(reduction, ignore_index, label_smoothing, smoothing, z_loss, softcap,
                    temperature, empty_mean, precision, threads)
    _no_mask(target, "target")
    t = np.asarray(target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"target must have an integer dtype (class indices), got {t.dtype}")
    if t.shape != (h.shape[0],):
        raise ValueError(f"target must have shape ({h.shape[0]},) (hidden's rows), got {t.shape}")
    t = np.ascontiguousarray(_index_array(t, "target"))
    cw = None
    if class_weight is not None:
        cw = np.ascontiguousarray(_float_array(class_weight, "class_weight"), dtype=np.float64)
        if cw.shape != (w.shape[0],):
            raise ValueError(f"class_weight must have shape ({w.shape[0]},), got {cw.shape}")
    gh = np.empty(h.shape, np.float32) if return_grad else None
    gw = np.empty(w.shape, np.float32) if return_grad else None
    row_loss = np.empty(h.shape[0], np.float32) if reduction == "none" else None
    loss = _lk.linear_cross_entropy(h, w, t, cw, o, _int(chunk_rows, "chunk_rows", 0, _INT64[1]),
                                    _int(chunk_vocab, "chunk_vocab", 0, _INT64[1]), False, gh, gw,
                                    row_loss)
    value = row_loss if row_loss is not None else loss
    return (value, gh, gw) if return_grad else value


# ------------------------------------------------------------------------------------------------
# Sampling.

def _token_ids(values, name, vocab):
    """Token ids as int32, each in [0, vocab) (ValueError naming the position and the value)."""
    _no_mask(values, name)
    a = np.asarray([] if values is None else values)
    if a.size and a.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer token ids, got {a.dtype}")
    flat = a.reshape(-1)
    if flat.size:
        bad = (flat < 0) | (flat >= vocab)
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"{name}[{i}] = {int(flat[i])} is not a token id in [0, {vocab})")
    return np.ascontiguousarray(flat, dtype=np.int32)


def _sampling_params(temperature, top_k, top_p, min_p, min_tokens_to_keep, repetition_penalty,
                     presence_penalty, frequency_penalty, history, logit_bias, seed, top_logprobs,
                     vocab):
    p = _lk.SamplingParams()
    p.temperature = _float(temperature, "temperature")  # the library checks its value
    p.top_k = _int(top_k, "top_k", 0, _INT32[1])
    p.top_p = _float(top_p, "top_p")
    p.min_p = _float(min_p, "min_p")
    p.min_tokens_to_keep = _int(min_tokens_to_keep, "min_tokens_to_keep", *_INT32)
    p.repetition_penalty = _float(repetition_penalty, "repetition_penalty")
    p.presence_penalty = _float(presence_penalty, "presence_penalty")
    p.frequency_penalty = _float(frequency_penalty, "frequency_penalty")
    p.seed = _int(seed, "seed", *_UINT64)
    p.top_logprobs = _int(top_logprobs, "top_logprobs", 0, _INT32[1])
    h = _token_ids(history, "history", vocab)
    if logit_bias is not None and not hasattr(logit_bias, "items"):
        raise TypeError(f"logit_bias must be a dict {{token: bias}}, got "
                        f"{type(logit_bias).__name__}")
    items = list((logit_bias or {}).items())
    keys = [_int(k, "logit_bias key", 0, _INT32[1]) for k, _ in items]
    for k in keys:
        if k >= vocab:
            raise ValueError(f"logit_bias key {k} is not a token id in [0, {vocab})")
    tokens = np.array(keys, dtype=np.int32)
    values = np.array([_float(v, f"logit_bias[{k}]") for k, (_, v) in zip(keys, items)],
                      dtype=np.float32)
    return p, h, tokens, values


def _counters(value, name, batch):
    """stream / step: non-negative integers (scalars or arrays) below 2^64, as uint64 of the
    batch shape."""
    _no_mask(value, name)
    a = np.asarray(value)
    if a.dtype.kind == "O":  # Python ints beyond int64
        flat = [_int(v, name, *_UINT64) for v in a.reshape(-1)]
        a = np.array(flat, dtype=np.uint64).reshape(a.shape)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer or an integer array, got {value!r} "
                        f"({a.dtype})" if a.ndim == 0 else
                        f"{name} must be an integer or an integer array, got dtype {a.dtype}")
    if a.dtype.kind == "i" and a.size and a.min() < 0:
        raise ValueError(f"{name} must be >= 0, got {int(a.min())}")
    try:
        b = np.broadcast_to(a.astype(np.uint64), batch)
    except ValueError:
        raise ValueError(f"{name} of shape {a.shape} does not broadcast to the batch shape "
                         f"{batch}") from None
    return np.ascontiguousarray(b).reshape(-1)


def _logits_rows(logits):
    x = _float_array(logits, "logits")
    if x.ndim < 1:
        raise ValueError("logits must have at least 1 dimension (the vocabulary)")
    return x, _rows(x.astype(np.float32, copy=False))


def sample(logits, temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, *, seed=0, stream=0, step=0,
           min_tokens_to_keep=1, repetition_penalty=1.0, presence_penalty=0.0,
           frequency_penalty=0.0, history=None, logit_bias=None, top_logprobs=0,
           return_logprob=False, threads=0):
    """Draws the next token from logits (last axis = vocabulary) with a reproducible RNG.

    Applied in order: logit_bias ({token: bias}, -inf bans), repetition / presence / frequency
    penalties over ``history``, temperature p_i = softmax(x / tau), top-k (keeps exactly k, lower
    index first among ties), top-p (the shortest prefix whose mass reaches top_p), min-p
    (p_i >= min_p p_max), then one inverse-CDF draw with the uniform philox_uniform(seed, stream,
    step): the same (logits, options, seed, stream, step) give the same token on every machine,
    batch composition and thread count. tau = 0, top_p = 0 or top_k = 1 are greedy (the lowest
    index among the maxima). Logits are float32 (float16/float64 are converted to float32).

    Batches: logits of shape (..., V) draw one token per row; ``stream`` and ``step`` are scalars
    or arrays broadcastable to the batch shape (give each sequence its own stream: with one
    stream, identical rows draw identical tokens).

    Returns: the token (int for 1-D logits, int32 array of the batch shape otherwise); with
    return_logprob, (token, logprob) where logprob is log p(token) under the final distribution;
    with top_logprobs = k > 0 also (top_tokens, top_logprobs) of shape batch + (k,), most likely
    first, padded with -1 / -inf when fewer tokens survive.
    Errors: ValueError for NaN logits, a row of -inf only, or options out of range.

    Example:
      >>> logitkit.sample(np.array([1.0, 3.0, 2.0], np.float32), temperature=0.7, seed=42)
      1
    """
    x, rows = _logits_rows(logits)
    p, h, bt, bv = _sampling_params(temperature, top_k, top_p, min_p, min_tokens_to_keep,
                                    repetition_penalty, presence_penalty, frequency_penalty,
                                    history, logit_bias, seed, top_logprobs, x.shape[-1])
    batch = x.shape[:-1]
    streams = _counters(stream, "stream", batch)
    steps = _counters(step, "step", batch)
    threads = _threads(threads)
    n = rows.shape[0]
    tokens = np.empty(n, dtype=np.int32)
    logprobs = np.empty(n, dtype=np.float32)
    k = p.top_logprobs
    top_t = np.empty((n, k), dtype=np.int32) if k > 0 else None
    top_l = np.empty((n, k), dtype=np.float32) if k > 0 else None
    _lk.sample(rows, p, h, bt, bv, streams, steps, threads, tokens, logprobs, top_t, top_l)
    if x.ndim == 1:
        result = [int(tokens[0]), float(logprobs[0])]
        if k > 0:
            result += [top_t[0], top_l[0]]
    else:
        result = [tokens.reshape(batch), logprobs.reshape(batch)]
        if k > 0:
            result += [top_t.reshape(batch + (k,)), top_l.reshape(batch + (k,))]
    if k > 0:
        return tuple(result)
    return tuple(result) if return_logprob else result[0]


def sampling_distribution(logits, temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, *,
                          min_tokens_to_keep=1, repetition_penalty=1.0, presence_penalty=0.0,
                          frequency_penalty=0.0, history=None, logit_bias=None):
    """The distribution sample() draws from (same options): float32, logits' shape.

    Kept tokens hold their renormalised probability (summing to 1 within 1e-6), the others exactly
    0; greedy settings give 1 at the chosen token.

    Example:
      >>> logitkit.sampling_distribution(np.array([3.0, 2.0, 1.0, 0.0], np.float32), top_k=2)
      array([0.7310586 , 0.26894143, 0.        , 0.        ], dtype=float32)
    """
    x, rows = _logits_rows(logits)
    p, h, bt, bv = _sampling_params(temperature, top_k, top_p, min_p, min_tokens_to_keep,
                                    repetition_penalty, presence_penalty, frequency_penalty,
                                    history, logit_bias, 0, 0, x.shape[-1])
    probs = np.empty(rows.shape, dtype=np.float32)
    _lk.sampling_distribution(rows, p, h, bt, bv, probs)
    return probs.reshape(x.shape)


def philox_uniform(seed, stream, step):
    """The uniform double in [0, 1) that sample() uses for (seed, stream, step) (Philox4x32-10).

    Each of seed, stream and step is an integer in [0, 2^64).

    Example:
      >>> u = logitkit.philox_uniform(42, 0, 0)
      >>> 0.0 <= u < 1.0 and u == logitkit.philox_uniform(42, 0, 0)
      True
    """
    return _lk.philox_uniform(_int(seed, "seed", *_UINT64), _int(stream, "stream", *_UINT64),
                              _int(step, "step", *_UINT64))


def targets():
    """The SIMD targets: {'compiled': [...], 'supported': [...], 'chosen': name}.

    Example:
      >>> t = logitkit.targets()
      >>> t["chosen"] in t["supported"] and set(t["supported"]) <= set(t["compiled"])
      True
    """
    return _lk.targets()


def force_target(name):
    """Pins dispatch to one supported SIMD target (for tests); returns False if not supported.

    Example:
      >>> logitkit.force_target("no such target")
      False
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {name!r}")
    return _lk.force_target(name)


def reset_target():
    """Returns dispatch to the best supported SIMD target.

    Example:
      >>> chosen = logitkit.targets()["chosen"]
      >>> logitkit.force_target(logitkit.targets()["supported"][-1])
      True
      >>> logitkit.reset_target(); logitkit.targets()["chosen"] == chosen
      True
    """
    _lk.reset_target()


# Per-row streams by default, per-row histories and num_samples (python/logitkit/_sample_ext.py).
from ._sample_ext import extend_sample as _extend_sample  # noqa: E402

sample = _extend_sample(sample)
