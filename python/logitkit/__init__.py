# SPDX-License-Identifier: Apache-2.0
"""logitkit: logits to probabilities, accurately (softmax family, losses, sampling) on NumPy arrays.

Every function here is a thin layer over the C++ library: it checks the arguments, moves the
requested axis last (a view; a contiguous copy only when the rows are not evenly strided),
releases the GIL around the kernel and returns new arrays (or writes ``out=``). No math is done
in Python.

Dtypes: float32 and float64 compute in their own precision; float16 input is converted exactly to
float32 and the result is float32. Other dtypes raise TypeError. Invalid options or shapes raise
ValueError (the C++ library's std::invalid_argument, with its message).

Special values follow docs/semantics.md: -inf entries are masked (probability exactly 0); a row
that is all -inf gives zeros (``empty_row='zeros'``, the default) or NaN (``empty_row='nan'``,
PyTorch's behaviour); +inf entries share the mass evenly; temperature 0 is the exact argmax limit
(ties share the mass) and +inf is uniform over the unmasked entries; NaN makes its row NaN
(``nan='propagate'``) or raises ValueError naming the row and column (``nan='raise'``).
"""

import operator

import numpy as np

from . import _logitkit as _lk

__version__ = _lk.__version__

__all__ = [
    "softmax", "log_softmax", "logsumexp", "softmax_backward", "log_softmax_backward",
    "cross_entropy", "distillation_loss", "contrastive_loss", "CLIP_INIT_LOG_SCALE", "sample", "sampling_distribution", "philox_uniform",
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


def _float_array(x, name, allow_half=True):
    """x as an ndarray of float16/float32/float64 (TypeError for any other dtype)."""
    a = np.asarray(x)
    if a.dtype not in _FLOATS or (not allow_half and a.dtype == np.float16):
        allowed = "float16, float32 or float64" if allow_half else "float32 or float64"
        raise TypeError(f"{name} must have dtype {allowed}, got {a.dtype} "
                        f"(convert with .astype(np.float32) or np.float64)")
    return a


def _result_dtype(dtype):
    return np.dtype(np.float64) if dtype == np.float64 else np.dtype(np.float32)


def _axis(axis, ndim):
    if axis is None:
        return None
    try:
        axis = operator.index(axis)
    except TypeError:
        raise TypeError(f"axis must be an int or None, got {type(axis).__name__}") from None
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of bounds for an array of dimension {ndim}")
    return axis % ndim


def _last(a, axis):
    """a with `axis` moved last (a view); axis None flattens a into one row."""
    if axis is None:
        return a.reshape(1, -1) if a.ndim != 1 else a
    return a if axis == a.ndim - 1 else np.moveaxis(a, axis, -1)


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
    result = y.reshape(moved[0].shape)
    if axis is None:
        result = result.reshape(x_shape)
    elif axis != len(x_shape) - 1:
        result = np.moveaxis(result, -1, axis)
    if out is not None:
        out[...] = result
        return out
    return result


def _softmax_options(temperature, empty_row, nan, precision, threads):
    o = _lk.SoftmaxOptions()
    o.temperature = float(temperature)
    o.empty_row = _choice(empty_row, _lk.EmptyRow, "empty_row")
    o.nan = _choice(nan, _lk.NanPolicy, "nan")
    o.precision = _choice(precision, _lk.Precision, "precision")
    o.threads = operator.index(threads)
    return o


# ------------------------------------------------------------------------------------------------
# softmax family.

def softmax(x, axis=-1, temperature=1.0, empty_row="zeros", nan="propagate",
            precision="accurate", threads=0, out=None):
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
      axis: the axis to normalise over (default last); None normalises over every entry.
      temperature: tau >= 0.
      empty_row: 'zeros' or 'nan'.
      nan: 'propagate' or 'raise'.
      precision: 'accurate' or 'fast'.
      threads: 0 = the library default (all hardware threads), 1 = the calling thread only.
      out: optional array of x's shape and the result dtype to write into (may be x itself).

    Returns: the probabilities, x's shape, float32 (float16/float32 input) or float64.

    Example:
      >>> logitkit.softmax(np.array([2.0, 1.0, 0.1], np.float32), temperature=0.5)
      array([0.8637771 , 0.11689952, 0.01932336], dtype=float32)
    """
    x = _float_array(x, "x")
    o = _softmax_options(temperature, empty_row, nan, precision, threads)
    ax = _axis(axis, x.ndim)
    return _run_rows(lambda a, y: _lk.softmax(a, y, o), [x], x.shape, ax,
                     _result_dtype(x.dtype), out)


def log_softmax(x, axis=-1, temperature=1.0, empty_row="zeros", nan="propagate",
                precision="accurate", threads=0, out=None):
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
    ax = _axis(axis, x.ndim)
    return _run_rows(lambda a, y: _lk.log_softmax(a, y, o), [x], x.shape, ax,
                     _result_dtype(x.dtype), out)


def logsumexp(x, axis=-1, temperature=1.0, empty_row="zeros", nan="propagate",
              precision="accurate", threads=0, keepdims=False, out=None):
    """log(sum_i exp(x_i / tau)) along ``axis``, which is removed (kept with size 1 by keepdims).

    Computed as m/tau + log(sum_j exp((x_j - m)/tau)), m = max_j x_j; float32 results within 2 ULP
    except where m/tau and the log cancel to below ~1e-9 (absolute error <= 2e-16 max(|m/tau|, 1)).

    Edge cases: an all -inf row (or an empty axis) gives -inf; any +inf gives +inf; tau = 0 gives
    +inf if m > 0, -inf if m < 0 and log(c) if m == 0 (c tied maxima); tau = inf gives log(k) over
    the k entries that are not -inf; NaN gives NaN (or ValueError with ``nan='raise'``).
    ``empty_row`` does not change logsumexp.

    Args as softmax(); axis None reduces over every entry; out must have the result's shape.

    Example:
      >>> logitkit.logsumexp(np.array([[0.0, 0.0], [1000.0, 1000.0]]))
      array([6.93147181e-01, 1.00069315e+03])
    """
    x = _float_array(x, "x")
    o = _softmax_options(temperature, empty_row, nan, precision, threads)
    ax = _axis(axis, x.ndim)
    moved = _last(x, ax)
    batch = moved.shape[:-1]
    if ax is None:
        shape = (1,) * x.ndim if keepdims else ()
    elif keepdims:
        shape = x.shape[:ax] + (1,) + x.shape[ax + 1:]
    else:
        shape = batch
    dtype = _result_dtype(x.dtype)
    rows = _rows(moved)
    if out is not None:
        _check_out(out, shape, dtype)
        if out.flags.c_contiguous and not np.may_share_memory(out, rows):
            _lk.logsumexp(rows, out.reshape(-1), o)
            return out
    y = np.empty(rows.shape[0], dtype=dtype)
    _lk.logsumexp(rows, y, o)
    if out is not None:
        out[...] = y.reshape(shape)
        return out
    return y.reshape(shape)


def _backward(kernel, y, dy, axis, temperature, empty_row, threads, out):
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


def softmax_backward(y, dy, axis=-1, temperature=1.0, empty_row="zeros", threads=0, out=None):
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
    return _backward(_lk.softmax_backward, y, dy, axis, temperature, empty_row, threads, out)


def log_softmax_backward(y, dy, axis=-1, temperature=1.0, empty_row="zeros", threads=0,
                         out=None):
    """Gradient through log_softmax: dx_i = (dy_i - exp(y_i) sum_j dy_j) / tau.

    y is log_softmax's output (at the same temperature) and dy the upstream gradient. Entries with
    y = -inf get dx = 0; tau = 0 or inf gives 0; rows whose y is NaN give NaN.

    Example:
      >>> y = logitkit.log_softmax(np.array([1.0, 2.0]))
      >>> logitkit.log_softmax_backward(y, np.array([1.0, 0.0]))
      array([ 0.73105858, -0.73105858])
    """
    return _backward(_lk.log_softmax_backward, y, dy, axis, temperature, empty_row, threads, out)


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
    ax = _axis(axis, x.ndim)
    o = _lk.CrossEntropyOptions()
    o.reduction = _choice(reduction, _lk.Reduction, "reduction")
    if reduction == "batchmean":
        raise ValueError("reduction must be 'none', 'mean' or 'sum' for cross_entropy")
    o.ignore_index = operator.index(ignore_index)
    o.label_smoothing = float(label_smoothing)
    o.smoothing = _choice(smoothing, _lk.LabelSmoothing, "smoothing")
    o.z_loss = float(z_loss)
    o.softcap = float(softcap)
    o.temperature = float(temperature)
    o.empty_mean = _choice(empty_mean, _lk.EmptyMean, "empty_mean")
    o.precision = _choice(precision, _lk.Precision, "precision")
    o.threads = operator.index(threads)

    moved = _last(x, ax)
    batch = moved.shape[:-1]
    rows = _rows(moved)
    t = np.asarray(target)
    if t.dtype.kind in "iu":
        if t.shape != batch:
            raise ValueError(f"class-index target must have shape {batch} (logits' shape without "
                             f"axis {ax}), got {t.shape}")
        t_rows = np.ascontiguousarray(t, dtype=np.int64).reshape(-1)
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
        w = np.ascontiguousarray(_float_array(weight, "weight"), dtype=np.float64)
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
    ax = _axis(axis, s.ndim)
    o = _lk.DistillationOptions()
    o.temperature = float(temperature)
    o.divergence = _choice(divergence, _lk.Divergence, "divergence")
    o.js_beta = float(js_beta)
    o.tau_squared = bool(tau_squared)
    o.reduction = _choice(reduction, _lk.Reduction, "reduction")
    o.teacher_input = _choice(teacher_input, _lk.TeacherInput, "teacher_input")
    o.alpha = float(alpha)
    o.ignore_index = operator.index(ignore_index)
    o.precision = _choice(precision, _lk.Precision, "precision")
    o.threads = operator.index(threads)
    if reduction == "none" and o.alpha > 0:
        raise ValueError("reduction='none' cannot be combined with alpha > 0 (the hard-label term "
                         "is a mean over rows)")

    moved = _last(s, ax)
    batch = moved.shape[:-1]
    s_rows = _rows(moved)
    t_rows = _rows(_last(t, ax))
    tgt = None
    if target is not None:
        ta = np.asarray(target)
        if ta.dtype.kind not in "iu":
            raise TypeError(f"target must have an integer dtype, got {ta.dtype}")
        if ta.shape != batch:
            raise ValueError(f"target must have shape {batch}, got {ta.shape}")
        tgt = np.ascontiguousarray(ta, dtype=np.int64).reshape(-1)
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
    o.normalize_eps = float(normalize_eps)
    o.max_scale = float(max_scale)
    o.block = operator.index(block)
    o.threads = operator.index(threads)
    gi = np.empty(a.shape, dtype=dtype) if return_grad else None
    gt = np.empty(b.shape, dtype=dtype) if return_grad else None
    loss, gs = _lk.contrastive_loss(a, b, float(log_scale), o, gi, gt, bool(return_grad))
    return (loss, gi, gt, gs) if return_grad else loss


# ------------------------------------------------------------------------------------------------
# Sampling.

def _sampling_params(temperature, top_k, top_p, min_p, min_tokens_to_keep, repetition_penalty,
                     presence_penalty, frequency_penalty, history, logit_bias, seed, top_logprobs):
    p = _lk.SamplingParams()
    p.temperature = float(temperature)
    p.top_k = operator.index(top_k)
    p.top_p = float(top_p)
    p.min_p = float(min_p)
    p.min_tokens_to_keep = operator.index(min_tokens_to_keep)
    p.repetition_penalty = float(repetition_penalty)
    p.presence_penalty = float(presence_penalty)
    p.frequency_penalty = float(frequency_penalty)
    p.seed = operator.index(seed)
    p.top_logprobs = operator.index(top_logprobs)
    h = np.asarray([] if history is None else history)
    if h.size and h.dtype.kind not in "iu":
        raise TypeError(f"history must hold integer token ids, got {h.dtype}")
    h = np.ascontiguousarray(h, dtype=np.int32).reshape(-1)
    items = dict(logit_bias or {}).items()
    tokens = np.array([k for k, _ in items], dtype=np.int32)
    values = np.array([v for _, v in items], dtype=np.float32)
    return p, h, tokens, values


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
                                    history, logit_bias, seed, top_logprobs)
    batch = x.shape[:-1]
    streams = np.ascontiguousarray(np.broadcast_to(np.asarray(stream, dtype=np.uint64), batch))
    steps = np.ascontiguousarray(np.broadcast_to(np.asarray(step, dtype=np.uint64), batch))
    n = rows.shape[0]
    tokens = np.empty(n, dtype=np.int32)
    logprobs = np.empty(n, dtype=np.float32)
    k = p.top_logprobs
    top_t = np.empty((n, k), dtype=np.int32) if k > 0 else None
    top_l = np.empty((n, k), dtype=np.float32) if k > 0 else None
    _lk.sample(rows, p, h, bt, bv, streams.reshape(-1), steps.reshape(-1),
               operator.index(threads), tokens, logprobs, top_t, top_l)
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
                                    history, logit_bias, 0, 0)
    probs = np.empty(rows.shape, dtype=np.float32)
    _lk.sampling_distribution(rows, p, h, bt, bv, probs)
    return probs.reshape(x.shape)


def philox_uniform(seed, stream, step):
    """The uniform double in [0, 1) that sample() uses for (seed, stream, step) (Philox4x32-10)."""
    return _lk.philox_uniform(seed, stream, step)


def targets():
    """The SIMD targets: {'compiled': [...], 'supported': [...], 'chosen': name}."""
    return _lk.targets()


def force_target(name):
    """Pins dispatch to one supported SIMD target (for tests); returns False if not supported."""
    return _lk.force_target(name)


def reset_target():
    """Returns dispatch to the best supported SIMD target."""
    _lk.reset_target()


# Per-row streams by default, per-row histories and num_samples (python/logitkit/_sample_ext.py).
from ._sample_ext import extend_sample as _extend_sample  # noqa: E402

sample = _extend_sample(sample)
