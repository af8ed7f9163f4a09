# SPDX-License-Identifier: Apache-2.0
"""PyTorch integration: autograd functions and ``nn.Module`` losses over logitkit's kernels.

Imported on demand (``import logitkit.torch``; ``import logitkit`` never imports PyTorch). Every
function takes CPU tensors of dtype float32 or float64 (``linear_cross_entropy`` also bfloat16)
and returns tensors connected to autograd:

- the tensors' memory is handed to the C++ kernels as NumPy views (``tensor.detach().numpy()``
  shares the storage): no copy of the logits when their rows are evenly strided with a
  contiguous last axis (a copy is made only for other layouts, as in the NumPy API);
- the losses compute the loss and its gradient in one fused pass in the forward call (when an
  input requires grad) and keep the gradient for backward, which only scales it by the
  incoming gradient (skipped when that is 1, as for ``loss.backward()``); the gradient tensors
  are allocated once, by the kernel's caller, and handed to autograd as they are;
- CUDA (or any non-CPU) tensors raise ValueError, other dtypes TypeError, naming the argument.

Backward passes are first-order only (``once_differentiable``). ``torch.autograd.gradcheck``
passes for each function in float64 (python/tests/test_torch.py).

Functions (PyTorch's argument names; logitkit's extra options keyword-only): ``softmax``,
``log_softmax``, ``logsumexp``, ``cross_entropy``, ``distillation_loss``, ``contrastive_loss``,
``linear_cross_entropy``. Modules: ``CrossEntropyLoss``, ``DistillationLoss``,
``ContrastiveLoss``.
"""

import numpy as np

try:
    import torch
except ImportError as e:  # pragma: no cover - depends on the installation
    raise ImportError("logitkit.torch needs PyTorch (Debian: apt-get install python3-torch); the "
                      "rest of logitkit works without it") from e
from torch import nn
from torch.autograd.function import once_differentiable

import logitkit as _lk

__all__ = [
    "softmax", "log_softmax", "logsumexp", "cross_entropy", "distillation_loss",
    "contrastive_loss", "linear_cross_entropy", "CrossEntropyLoss", "DistillationLoss",
    "ContrastiveLoss",
]

_FLOAT_DTYPES = (torch.float32, torch.float64)


def _check(t, name, dtypes=_FLOAT_DTYPES):
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.device.type != "cpu":
        raise ValueError(f"{name} is on device {t.device}; logitkit.torch computes on CPU tensors "
                         f"(move it with .cpu())")
    if t.layout != torch.strided:
        raise TypeError(f"{name} must be a dense (strided) tensor, got layout {t.layout}")
    if dtypes is not None and t.dtype not in dtypes:
        names = " or ".join(str(d).replace("torch.", "") for d in dtypes)
        raise TypeError(f"{name} must have dtype {names}, got {str(t.dtype).replace('torch.', '')}")
    return t


def _np(t):
    """The tensor's memory as a NumPy view (no copy; NumPy keeps the strides)."""
    return t.detach().numpy()


def _index_target(t, name):
    _check(t, name, dtypes=None)
    if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
        raise TypeError(f"{name} must hold integer class indices, got "
                        f"{str(t.dtype).replace('torch.', '')}")
    return _np(t)


def _no_grad_input(t, name, why):
    if isinstance(t, torch.Tensor) and t.requires_grad:
        raise ValueError(f"{name} requires grad, but {why}: pass {name}.detach()")


def _scaled(grad, g):
    """grad * g for a scalar incoming gradient g, without a pass over grad when g == 1."""
    if g.numel() == 1 and float(g) == 1.0:
        return grad
    return grad * g


def _class_dim(x, dim):
    """PyTorch's class dimension: 1 for inputs of 2 or more dimensions, else 0."""
    if dim is not None:
        return dim
    return 1 if x.dim() >= 2 else 0


# ------------------------------------------------------------------------------------------------
# softmax family.

class _SoftmaxFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, log, dim, opts):
        fn = _lk.log_softmax if log else _lk.softmax
        y = torch.from_numpy(fn(_np(x), axis=dim, **opts))
        ctx.log, ctx.dim, ctx.opts = log, dim, opts
        ctx.save_for_backward(y)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, gy):
        (y,) = ctx.saved_tensors
        fn = _lk.log_softmax_backward if ctx.log else _lk.softmax_backward
        o = ctx.opts
        dx = fn(_np(y), _np(gy.to(y.dtype)), axis=ctx.dim, temperature=o["temperature"],
                empty_row=o["empty_row"], threads=o["threads"])
        return torch.from_numpy(dx), None, None, None


def _softmax_opts(temperature, empty_row, nan, precision, threads):
    return dict(temperature=temperature, empty_row=empty_row, nan=nan, precision=precision,
                threads=threads)


def softmax(input, dim=-1, *, temperature=1.0, empty_row="zeros", nan="propagate",
            precision="accurate", threads=0):
    """torch.softmax(input / temperature, dim) with logitkit's kernel and semantics, autograd-ready.

    Options as logitkit.softmax (``empty_row``, ``nan``, ``precision``, ``threads``); the gradient
    is logitkit.softmax_backward.

    Example:
      >>> x = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64, requires_grad=True)
      >>> y = logitkit.torch.softmax(x, dim=-1)
      >>> y
      tensor([[0.0900, 0.2447, 0.6652]], dtype=torch.float64, grad_fn=<_SoftmaxFnBackward>)
      >>> y[0, 2].backward(); x.grad
      tensor([[-0.0599, -0.1628,  0.2227]], dtype=torch.float64)
    """
    _check(input, "input")
    return _SoftmaxFn.apply(input, False, dim,
                            _softmax_opts(temperature, empty_row, nan, precision, threads))


def log_softmax(input, dim=-1, *, temperature=1.0, empty_row="zeros", nan="propagate",
                precision="accurate", threads=0):
    """torch.log_softmax(input / temperature, dim) with logitkit's kernel, autograd-ready.

    Example:
      >>> logitkit.torch.log_softmax(torch.tensor([30.0, 0.0]))
      tensor([-9.3576e-14, -3.0000e+01])
    """
    _check(input, "input")
    return _SoftmaxFn.apply(input, True, dim,
                            _softmax_opts(temperature, empty_row, nan, precision, threads))


class _LogsumexpFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, dim, keepdim, opts):
        r = _lk.logsumexp(_np(x), axis=dim, keepdims=keepdim, **opts)
        ctx.save_for_backward(x)
        ctx.dim, ctx.keepdim, ctx.opts = dim, keepdim, opts
        return torch.from_numpy(np.asarray(r))

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        # d/dx_i log(sum_j exp(x_j / tau)) = softmax(x / tau)_i / tau.
        (x,) = ctx.saved_tensors
        o = ctx.opts
        p = torch.from_numpy(_lk.softmax(_np(x), axis=ctx.dim, **o))
        if ctx.dim is None:
            g = g.reshape([1] * x.dim())
        elif not ctx.keepdim:
            g = g.unsqueeze(ctx.dim)
        return p * (g / o["temperature"]), None, None, None


def logsumexp(input, dim=-1, keepdim=False, *, temperature=1.0, nan="propagate",
              precision="accurate", threads=0):
    """torch.logsumexp(input / temperature, dim, keepdim) with logitkit's kernel, autograd-ready.

    ``dim=None`` reduces over every entry. The gradient is softmax(input / tau) / tau.

    Example:
      >>> logitkit.torch.logsumexp(torch.tensor([[0.0, 0.0], [1.0, 1.0]]), dim=1)
      tensor([0.6931, 1.6931])
    """
    _check(input, "input")
    if dim is not None and not isinstance(dim, int):
        raise TypeError(f"dim must be an int or None, got {dim!r}")
    opts = dict(temperature=temperature, nan=nan, precision=precision, threads=threads)
    return _LogsumexpFn.apply(input, dim, bool(keepdim), opts)


# ------------------------------------------------------------------------------------------------
# Losses: loss and gradient in one fused call in forward; backward scales the gradient.

class _CrossEntropyFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, target_np, weight_np, dim, opts):
        need = ctx.needs_input_grad[0]
        r = _lk.cross_entropy(_np(x), target_np, weight_np, axis=dim, return_grad=need, **opts)
        loss, grad = r if need else (r, None)
        ctx.grad, ctx.dim, ctx.none = grad, dim, opts["reduction"] == "none"
        if ctx.none:
            return torch.from_numpy(loss)
        return torch.tensor(loss, dtype=x.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        grad = torch.from_numpy(ctx.grad)
        if ctx.none:
            return grad * g.unsqueeze(ctx.dim % grad.dim()), None, None, None, None
        return _scaled(grad, g), None, None, None, None


def cross_entropy(input, target, weight=None, *, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0, dim=None, smoothing="pytorch", z_loss=0.0, softcap=0.0,
                  temperature=1.0, empty_mean="nan", precision="accurate", threads=0):
    """torch.nn.functional.cross_entropy with logitkit's fused kernel and every logitkit option.

    The class dimension is PyTorch's (1 for 2-D and higher inputs, 0 for 1-D) unless ``dim`` says
    otherwise. ``target``: class indices (an integer tensor, input's shape without the class
    dimension) or probabilities (a float tensor of input's shape; treated as a constant: a target
    that requires grad raises ValueError). ``weight``: class weights (a constant). Extra options
    as logitkit.cross_entropy: ``smoothing`` ('pytorch' or 'megatron'), ``z_loss``, ``softcap``,
    ``temperature``, ``empty_mean``, ``precision``, ``threads``. The arguments after ``weight``
    are keyword-only (torch's deprecated ``size_average`` / ``reduce`` are not accepted).

    Example:
      >>> x = torch.tensor([[2.0, 0.5, -1.0]], requires_grad=True)
      >>> loss = logitkit.torch.cross_entropy(x, torch.tensor([0]))
      >>> loss.backward(); loss, x.grad
      (tensor(0.2413, grad_fn=<_CrossEntropyFnBackward>), tensor([[-0.2144,  0.1753,  0.0391]]))
    """
    _check(input, "input")
    if input.dim() < 1:
        raise ValueError("input must have at least 1 dimension (the classes)")
    dim = _class_dim(input, dim)
    if isinstance(target, torch.Tensor) and target.dtype.is_floating_point:
        _check(target, "target")
        _no_grad_input(target, "target", "cross_entropy does not differentiate with respect to "
                                         "probability targets")
        t = _np(target)
    else:
        t = _index_target(target, "target")
    w = None
    if weight is not None:
        _check(weight, "weight")
        _no_grad_input(weight, "weight", "class weights are constants")
        w = _np(weight)
    opts = dict(ignore_index=ignore_index, reduction=reduction, label_smoothing=label_smoothing,
                smoothing=smoothing, z_loss=z_loss, softcap=softcap, temperature=temperature,
                empty_mean=empty_mean, precision=precision, threads=threads)
    return _CrossEntropyFn.apply(input, t, w, dim, opts)


class _DistillationFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, s, t_np, target_np, dim, opts):
        need = ctx.needs_input_grad[0]
        r = _lk.distillation_loss(_np(s), t_np, target=target_np, axis=dim, return_grad=need,
                                  **opts)
        loss, grad = r if need else (r, None)
        ctx.grad, ctx.dim, ctx.none = grad, dim, opts["reduction"] == "none"
        if ctx.none:
            return torch.from_numpy(loss)
        return torch.tensor(loss, dtype=s.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        grad = torch.from_numpy(ctx.grad)
        if ctx.none:
            return grad * g.unsqueeze(ctx.dim % grad.dim()), None, None, None, None
        return _scaled(grad, g), None, None, None, None


def distillation_loss(student, teacher, temperature=1.0, *, target=None, dim=-1,
                      divergence="forward_kl", js_beta=0.5, tau_squared=True,
                      reduction="batchmean", teacher_input="logits", alpha=0.0, ignore_index=-100,
                      precision="accurate", threads=0):
    """Knowledge-distillation loss (logitkit.distillation_loss), differentiable in the student.

    With the defaults: tau^2 KL(softmax(teacher / tau) || softmax(student / tau)) / rows, i.e.
    ``F.kl_div(F.log_softmax(student / tau, -1), F.softmax(teacher / tau, -1),
    reduction='batchmean') * tau**2``. ``teacher`` is a constant: a teacher that requires grad
    raises ValueError (compute it under ``torch.no_grad()`` or pass ``teacher.detach()``).
    ``alpha > 0`` adds alpha times the hard-label cross-entropy against ``target``.

    Example:
      >>> s = torch.tensor([[1.0, 0.0]], dtype=torch.float64, requires_grad=True)
      >>> loss = logitkit.torch.distillation_loss(s, torch.tensor([[0.0, 1.0]], dtype=torch.float64), 2.0)
      >>> loss.backward(); loss.item(), s.grad
      (0.4898..., tensor([[ 0.4898, -0.4898]], dtype=torch.float64))
    """
    _check(student, "student")
    _check(teacher, "teacher")
    if teacher.dtype != student.dtype:
        raise TypeError(f"teacher must have the student's dtype {student.dtype}, got "
                        f"{teacher.dtype}")
    _no_grad_input(teacher, "teacher", "distillation_loss differentiates with respect to the "
                                       "student only")
    tgt = None if target is None else _index_target(target, "target")
    opts = dict(temperature=temperature, divergence=divergence, js_beta=js_beta,
                tau_squared=tau_squared, reduction=reduction, teacher_input=teacher_input,
                alpha=alpha, ignore_index=ignore_index, precision=precision, threads=threads)
    return _DistillationFn.apply(student, _np(teacher), tgt, dim, opts)


class _ContrastiveFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, image, text, log_scale, opts):
        need = any(ctx.needs_input_grad[:3])
        r = _lk.contrastive_loss(_np(image), _np(text), float(log_scale), return_grad=need,
                                 **opts)
        if need:
            loss, gi, gt, gs = r
            ctx.grads = (torch.from_numpy(gi), torch.from_numpy(gt), gs)
        else:
            loss = r
        ctx.scale_meta = (log_scale.dtype, log_scale.shape)
        return torch.tensor(loss, dtype=image.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        gi, gt, gs = ctx.grads
        dtype, shape = ctx.scale_meta
        gls = (torch.tensor(gs, dtype=dtype) * g.to(dtype)).reshape(shape)
        return _scaled(gi, g), _scaled(gt, g), gls, None


def contrastive_loss(image, text, log_scale, *, normalize=True, normalize_eps=1e-12,
                     max_scale=100.0, block=0, threads=0):
    """CLIP / InfoNCE loss (logitkit.contrastive_loss) with gradients to both embeddings and to
    the log-scale.

    ``image``, ``text``: [B, D] tensors of one dtype (row i of each is a matching pair);
    ``log_scale``: a 0-d tensor (learned, e.g. an nn.Parameter) or a float (a constant).
    Equals (F.cross_entropy(L, i) + F.cross_entropy(L.T, i)) / 2 with L = min(exp(log_scale),
    max_scale) * normalize(image) @ normalize(text).T, without holding L.

    Example:
      >>> e = torch.eye(2, dtype=torch.float64, requires_grad=True)
      >>> t = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
      >>> loss = logitkit.torch.contrastive_loss(e, torch.eye(2, dtype=torch.float64), t)
      >>> loss.backward(); round(loss.item(), 6), round(t.grad.item(), 6)
      (0.313262, -0.268941)
    """
    _check(image, "image")
    _check(text, "text")
    if text.dtype != image.dtype:
        raise TypeError(f"text must have image's dtype {image.dtype}, got {text.dtype}")
    if not isinstance(log_scale, torch.Tensor):
        log_scale = torch.tensor(_lk._float(log_scale, "log_scale"), dtype=image.dtype)
    _check(log_scale, "log_scale")
    if log_scale.numel() != 1:
        raise ValueError(f"log_scale must hold one value, got shape {tuple(log_scale.shape)}")
    opts = dict(normalize=normalize, normalize_eps=normalize_eps, max_scale=max_scale,
                block=block, threads=threads)
    return _ContrastiveFn.apply(image, text, log_scale, opts)


class _LinearCrossEntropyFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, target_np, class_weight_np, opts):
        need = ctx.needs_input_grad[0] or ctx.needs_input_grad[1]

        def bits(t):  # bfloat16 as its bits (NumPy has no bfloat16); the library reads them
            return _np(t.view(torch.int16)) if t.dtype == torch.bfloat16 else _np(t)

        r = _lk.linear_cross_entropy(bits(hidden), bits(weight), target_np, class_weight_np,
                                     return_grad=need, **opts)
        loss, gh, gw = r if need else (r, None, None)
        ctx.grads = None if not need else (torch.from_numpy(gh).to(hidden.dtype),
                                           torch.from_numpy(gw).to(weight.dtype))
        ctx.none = opts["reduction"] == "none"
        if ctx.none:
            return torch.from_numpy(loss)
        return torch.tensor(loss, dtype=torch.float32)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        gh, gw = ctx.grads
        if ctx.none:
            # The weight gradient sums over rows, so only a uniform incoming gradient can scale it.
            if g.numel() and not bool((g == g.reshape(-1)[0]).all()):
                raise RuntimeError(
                    "linear_cross_entropy(reduction='none') can be differentiated only through "
                    "a uniform sum of its row losses (e.g. loss.sum()); reduce with 'sum' or "
                    "'mean' instead")
            g = g.reshape(-1)[0] if g.numel() else g.new_ones(())
        return _scaled(gh, g), _scaled(gw, g), None, None, None


def linear_cross_entropy(hidden, weight, target, class_weight=None, *, ignore_index=-100,
                         reduction="mean", label_smoothing=0.0, smoothing="pytorch", z_loss=0.0,
                         softcap=0.0, temperature=1.0, empty_mean="nan", precision="accurate",
                         chunk_rows=0, chunk_vocab=0, threads=0):
    """cross_entropy(hidden @ weight.T, target) fused: gradients to hidden and weight without the
    [N, V] logits (logitkit.linear_cross_entropy).

    ``hidden``: [N, D]; ``weight``: [V, D] (an nn.Linear(D, V, bias=False)'s weight); float32 or
    bfloat16, either or both (the products run in float32; gradients come back in each input's
    dtype). float64 inputs take the materialised path instead: ``hidden @ weight.T`` in PyTorch,
    then logitkit.torch.cross_entropy in float64 (the fused kernel has float32 products only), so
    that gradients in float64 are exact enough for gradcheck. With ``reduction='none'`` the
    fused path differentiates only a uniform sum of the row losses.

    Example:
      >>> h = torch.tensor([[1.0, 0.0], [0.0, 1.0]], requires_grad=True)
      >>> w = torch.tensor([[2.0, 0.0], [0.0, 2.0], [1.0, 1.0]], requires_grad=True)
      >>> loss = logitkit.torch.linear_cross_entropy(h, w, torch.tensor([0, 1]))
      >>> loss.backward(); round(loss.item(), 6), h.grad.shape, w.grad.shape
      (0.407606, torch.Size([2, 2]), torch.Size([3, 2]))
    """
    dtypes = (torch.float32, torch.float64, torch.bfloat16)
    _check(hidden, "hidden", dtypes)
    _check(weight, "weight", dtypes)
    opts = dict(ignore_index=ignore_index, reduction=reduction, label_smoothing=label_smoothing,
                smoothing=smoothing, z_loss=z_loss, softcap=softcap, temperature=temperature,
                empty_mean=empty_mean, precision=precision, threads=threads)
    if hidden.dtype == torch.float64 or weight.dtype == torch.float64:
        if hidden.dtype != weight.dtype:
            raise TypeError(f"float64 hidden and weight must both be float64, got {hidden.dtype} "
                            f"and {weight.dtype}")
        if hidden.dim() != 2 or weight.dim() != 2 or hidden.shape[1] != weight.shape[1]:
            raise ValueError(f"hidden [N, D] and weight [V, D] must share D, got "
                             f"{tuple(hidden.shape)} and {tuple(weight.shape)}")
        return cross_entropy(hidden @ weight.T, target, class_weight, dim=1, **opts)
    t = _index_target(target, "target")
    cw = None
    if class_weight is not None:
        _check(class_weight, "class_weight")
        _no_grad_input(class_weight, "class_weight", "class weights are constants")
        cw = _np(class_weight)
    opts.update(chunk_rows=chunk_rows, chunk_vocab=chunk_vocab)
    return _LinearCrossEntropyFn.apply(hidden, weight, t, cw, opts)


# ------------------------------------------------------------------------------------------------
# Modules.

class CrossEntropyLoss(nn.Module):
    """Drop-in for torch.nn.CrossEntropyLoss (weight, ignore_index, reduction, label_smoothing)
    with logitkit's kernel and its extra options. Everything after ``weight`` is keyword-only
    (torch's deprecated positional ``size_average`` / ``reduce`` are not accepted), as in
    cross_entropy().

    Example:
      >>> loss_fn = logitkit.torch.CrossEntropyLoss(label_smoothing=0.1)
      >>> loss_fn(torch.tensor([[2.0, 0.5, -1.0]]), torch.tensor([0]))
      tensor(0.3913)
    """

    def __init__(self, weight=None, *, ignore_index=-100, reduction="mean", label_smoothing=0.0,
                 smoothing="pytorch", z_loss=0.0, softcap=0.0, temperature=1.0,
                 empty_mean="nan", precision="accurate", threads=0):
        super().__init__()
        self.register_buffer("weight", weight)
        self.ignore_index = ignore_index
        self.reduction = reduction
        self.label_smoothing = label_smoothing
        self.options = dict(smoothing=smoothing, z_loss=z_loss, softcap=softcap,
                            temperature=temperature, empty_mean=empty_mean, precision=precision,
                            threads=threads)

    def forward(self, input, target):
        return cross_entropy(input, target, self.weight, ignore_index=self.ignore_index,
                             reduction=self.reduction, label_smoothing=self.label_smoothing,
                             **self.options)


class DistillationLoss(nn.Module):
    """Knowledge-distillation loss as a module: ``loss_fn(student, teacher, target=None)``.

    The arguments of distillation_loss(); the default equals ``nn.KLDivLoss(reduction=
    'batchmean')(F.log_softmax(student / tau, -1), F.softmax(teacher / tau, -1)) * tau**2``.

    Example:
      >>> loss_fn = logitkit.torch.DistillationLoss(temperature=2.0)
      >>> loss_fn(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]]))
      tensor(0.4898)
    """

    def __init__(self, temperature=1.0, *, divergence="forward_kl", js_beta=0.5,
                 tau_squared=True, reduction="batchmean", teacher_input="logits", alpha=0.0,
                 ignore_index=-100, dim=-1, precision="accurate", threads=0):
        super().__init__()
        self.temperature = temperature
        self.options = dict(divergence=divergence, js_beta=js_beta, tau_squared=tau_squared,
                            reduction=reduction, teacher_input=teacher_input, alpha=alpha,
                            ignore_index=ignore_index, dim=dim, precision=precision,
                            threads=threads)

    def forward(self, student, teacher, target=None):
        return distillation_loss(student, teacher, self.temperature, target=target,
                                 **self.options)


class ContrastiveLoss(nn.Module):
    """CLIP's symmetric contrastive loss with its learned log-scale (``self.log_scale``, an
    nn.Parameter initialised to log(1/0.07) unless ``learnable=False`` makes it a buffer).

    Example:
      >>> loss_fn = logitkit.torch.ContrastiveLoss(log_scale=0.0)
      >>> loss_fn(torch.eye(2), torch.eye(2))
      tensor(0.3133, grad_fn=<_ContrastiveFnBackward>)
    """

    def __init__(self, log_scale=_lk.CLIP_INIT_LOG_SCALE, learnable=True, *, normalize=True,
                 normalize_eps=1e-12, max_scale=100.0, block=0, threads=0):
        super().__init__()
        value = torch.tensor(float(log_scale))
        if learnable:
            self.log_scale = nn.Parameter(value)
        else:
            self.register_buffer("log_scale", value)
        self.options = dict(normalize=normalize, normalize_eps=normalize_eps, max_scale=max_scale,
                            block=block, threads=threads)

    def forward(self, image, text):
        log_scale = self.log_scale
        if log_scale.dtype != image.dtype:
            log_scale = log_scale.to(image.dtype)
        return contrastive_loss(image, text, log_scale, **self.options)
