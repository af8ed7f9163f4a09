# SPDX-License-Identifier: Apache-2.0
# logitkit.torch: gradcheck in float64 for every autograd function, agreement with PyTorch's own
# functions (values and gradients), the nn.Modules, zero-copy and the errors.
import tracemalloc

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch.autograd import gradcheck  # noqa: E402

import logitkit  # noqa: E402
import logitkit.torch as lt  # noqa: E402

F64 = torch.float64


def randn(*shape, seed=0, scale=2.0, grad=True, dtype=F64):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=g, dtype=dtype) * scale).requires_grad_(grad)


def check(fn, *inputs):
    assert gradcheck(fn, inputs, eps=1e-6, atol=1e-7, rtol=1e-5)


def test_import_logitkit_does_not_import_torch():
    import subprocess
    import sys
    code = "import sys, logitkit; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("tau", [0.5, 1.0, 3.0])
def test_gradcheck_softmax_family(tau):
    x = randn(3, 5, 4, seed=1)
    for dim in (0, 1, -1):
        check(lambda a: lt.softmax(a, dim=dim, temperature=tau), x)
        check(lambda a: lt.log_softmax(a, dim=dim, temperature=tau), x)
        for keepdim in (False, True):
            check(lambda a: lt.logsumexp(a, dim=dim, keepdim=keepdim, temperature=tau), x)
    check(lambda a: lt.logsumexp(a, dim=None, temperature=tau), x)


def test_softmax_family_matches_torch():
    x = randn(4, 7, seed=2)
    xt = x.detach().clone().requires_grad_()
    g = torch.randn(4, 7, dtype=F64)
    for ours, theirs in ((lt.softmax(x, 1, temperature=2.0), torch.softmax(xt / 2.0, 1)),
                         (lt.log_softmax(x, 0), torch.log_softmax(xt, 0))):
        torch.testing.assert_close(ours, theirs, rtol=1e-13, atol=1e-15)
        (ga,) = torch.autograd.grad(ours, x, g)
        (gb,) = torch.autograd.grad(theirs, xt, g)
        torch.testing.assert_close(ga, gb, rtol=1e-12, atol=1e-14)
    ours = lt.logsumexp(x, 1, keepdim=True)
    theirs = torch.logsumexp(xt, 1, keepdim=True)
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(torch.autograd.grad(ours.sum(), x)[0],
                               torch.autograd.grad(theirs.sum(), xt)[0])


CE_OPTIONS = [
    {},
    {"reduction": "sum"},
    {"reduction": "none"},
    {"label_smoothing": 0.2},
    {"label_smoothing": 0.2, "smoothing": "megatron"},
    {"z_loss": 0.01},
    {"softcap": 3.0},
    {"temperature": 2.5},
    {"ignore_index": 2},
    {"weight": "w"},
    {"weight": "w", "label_smoothing": 0.1, "reduction": "mean"},
    {"precision": "fast", "threads": 2},
]


@pytest.mark.parametrize("opts", CE_OPTIONS, ids=[str(o) for o in CE_OPTIONS])
def test_gradcheck_cross_entropy(opts):
    opts = dict(opts)
    x = randn(5, 6, seed=3)
    target = torch.tensor([0, 2, 5, 1, 2])
    if opts.get("weight") == "w":
        opts["weight"] = torch.tensor([0.5, 1.0, 2.0, 1.5, 0.25, 1.0], dtype=F64)
    check(lambda a: lt.cross_entropy(a, target, **opts), x)


def test_gradcheck_cross_entropy_probabilities_and_class_dim():
    x = randn(4, 5, seed=4)
    p = torch.softmax(torch.randn(4, 5, dtype=F64), 1)
    for red in ("mean", "sum", "none"):
        check(lambda a: lt.cross_entropy(a, p, reduction=red, label_smoothing=0.1), x)
    x3 = randn(2, 5, 3, seed=5)  # [N, C, d]: PyTorch's class dimension 1
    t3 = torch.tensor([[0, 4, 2], [1, 1, 3]])
    check(lambda a: lt.cross_entropy(a, t3, reduction="none"), x3)
    check(lambda a: lt.cross_entropy(a, t3), x3)
    x1 = randn(5, seed=6)  # 1-D input, 0-d target
    check(lambda a: lt.cross_entropy(a, torch.tensor(3)), x1)


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (F64, 1e-12)])
def test_cross_entropy_matches_torch(dtype, tol):
    g = torch.Generator().manual_seed(7)
    x = (torch.randn(6, 11, 3, generator=g) * 3).to(dtype)
    t = torch.randint(0, 11, (6, 3), generator=g)
    t[0, 1] = -100
    w = torch.rand(11, generator=g).to(dtype) + 0.1
    for kw in ({}, {"weight": w}, {"label_smoothing": 0.3}, {"reduction": "sum"},
               {"reduction": "none", "weight": w, "label_smoothing": 0.1}):
        a = x.clone().requires_grad_()
        b = x.clone().requires_grad_()
        ours = lt.cross_entropy(a, t, **kw)
        theirs = F.cross_entropy(b, t, **kw)
        torch.testing.assert_close(ours, theirs, rtol=tol, atol=tol)
        up = torch.rand(ours.shape, generator=g, dtype=dtype)
        ours.backward(up)
        theirs.backward(up)
        torch.testing.assert_close(a.grad, b.grad, rtol=tol, atol=tol)


DIST_OPTIONS = [
    {},
    {"divergence": "reverse_kl"},
    {"divergence": "js", "js_beta": 0.3},
    {"tau_squared": False, "reduction": "sum"},
    {"reduction": "mean"},
    {"reduction": "none"},
    {"teacher_input": "log_probs"},
    {"alpha": 0.5, "target": True},
    {"alpha": 0.5, "target": True, "ignore_index": 1},
]


@pytest.mark.parametrize("opts", DIST_OPTIONS, ids=[str(o) for o in DIST_OPTIONS])
def test_gradcheck_distillation(opts):
    opts = dict(opts)
    s = randn(4, 6, seed=8)
    t = randn(4, 6, seed=9, grad=False)
    if opts.get("teacher_input") == "log_probs":
        t = torch.log_softmax(t / 2.0, 1)
    if opts.pop("target", False):
        opts["target"] = torch.tensor([0, 1, 5, 3])
    check(lambda a: lt.distillation_loss(a, t, 2.0, **opts), s)


def test_distillation_matches_torch():
    g = torch.Generator().manual_seed(10)
    s = torch.randn(8, 40, generator=g) * 3
    t = torch.randn(8, 40, generator=g) * 3
    for tau in (1.0, 4.0):
        a = s.clone().requires_grad_()
        b = s.clone().requires_grad_()
        ours = lt.distillation_loss(a, t, tau)
        theirs = F.kl_div(F.log_softmax(b / tau, -1), F.softmax(t / tau, -1),
                          reduction="batchmean") * tau ** 2
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
        (ours * 3).backward()
        (theirs * 3).backward()
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-6)


def clip_reference(image, text, log_scale, max_scale=100.0):
    a, b = F.normalize(image, dim=1), F.normalize(text, dim=1)
    logits = torch.clamp(log_scale.exp(), max=max_scale) * a @ b.T
    i = torch.arange(len(image))
    return (F.cross_entropy(logits, i) + F.cross_entropy(logits.T, i)) / 2


def test_gradcheck_contrastive():
    img, txt = randn(5, 3, seed=11), randn(5, 3, seed=12)
    ls = torch.tensor(0.7, dtype=F64, requires_grad=True)
    for normalize in (True, False):
        check(lambda a, b, c: lt.contrastive_loss(a, b, c, normalize=normalize), img, txt, ls)
    ours = lt.contrastive_loss(img, txt, ls)
    theirs = clip_reference(img, txt, ls)
    torch.testing.assert_close(ours, theirs)
    ga = torch.autograd.grad(ours, (img, txt, ls))
    gb = torch.autograd.grad(theirs, (img, txt, ls))
    for u, v in zip(ga, gb):
        torch.testing.assert_close(u, v)
    big = torch.tensor(10.0, dtype=F64, requires_grad=True)  # clamped at max_scale: zero slope
    lt.contrastive_loss(img, txt, big).backward()
    assert big.grad.item() == 0.0


def test_linear_cross_entropy():
    h, w = randn(6, 4, seed=13), randn(9, 4, seed=14)
    t = torch.tensor([0, 8, 3, -100, 4, 4])
    for kw in ({}, {"reduction": "sum"}, {"label_smoothing": 0.1, "z_loss": 1e-3},
               {"softcap": 2.0, "temperature": 1.5}):
        check(lambda a, b: lt.linear_cross_entropy(a, b, t, **kw), h, w)
    # float32: the fused kernel, against the materialised float64 computation.
    h32 = h.detach().float().requires_grad_()
    w32 = w.detach().float().requires_grad_()
    for kw in ({}, {"reduction": "sum", "label_smoothing": 0.2}, {"chunk_rows": 2},
               {"chunk_vocab": 4}):
        h32.grad = w32.grad = None
        loss = lt.linear_cross_entropy(h32, w32, t, **kw)
        loss.backward()
        ref = F.cross_entropy(h @ w.T, t, **{k: v for k, v in kw.items() if "chunk" not in k})
        gh, gw = torch.autograd.grad(ref, (h, w))
        torch.testing.assert_close(loss.double(), ref.detach(), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(h32.grad.double(), gh, rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(w32.grad.double(), gw, rtol=1e-4, atol=1e-6)
    # bfloat16 inputs: gradients come back in bfloat16.
    hb, wb = h.detach().bfloat16().requires_grad_(), w.detach().bfloat16().requires_grad_()
    loss = lt.linear_cross_entropy(hb, wb, t)
    loss.backward()
    assert hb.grad.dtype == torch.bfloat16 and wb.grad.dtype == torch.bfloat16
    ref = F.cross_entropy(hb.detach().double() @ wb.detach().double().T, t)
    assert abs(loss.item() - ref.item()) < 1e-5
    # reduction='none' differentiates a uniform sum; anything else is refused.
    rl = lt.linear_cross_entropy(h32, w32, t, reduction="none")
    rl.sum().backward()
    with pytest.raises(RuntimeError, match="uniform sum"):
        lt.linear_cross_entropy(h32, w32, t, reduction="none").backward(torch.arange(6.0))


def test_modules_match_torch():
    g = torch.Generator().manual_seed(15)
    x = torch.randn(5, 8, generator=g) * 2
    t = torch.randint(0, 8, (5,), generator=g)
    w = torch.rand(8, generator=g) + 0.5
    ours = lt.CrossEntropyLoss(weight=w, label_smoothing=0.1, ignore_index=3)
    theirs = torch.nn.CrossEntropyLoss(weight=w, label_smoothing=0.1, ignore_index=3)
    torch.testing.assert_close(ours(x, t), theirs(x, t))
    assert "weight" in dict(ours.named_buffers())
    teacher = torch.randn(5, 8, generator=g)
    kd = lt.DistillationLoss(temperature=3.0)
    ref = torch.nn.KLDivLoss(reduction="batchmean")(F.log_softmax(x / 3, -1),
                                                    F.softmax(teacher / 3, -1)) * 9
    torch.testing.assert_close(kd(x, teacher), ref)
    clip = lt.ContrastiveLoss()
    assert isinstance(clip.log_scale, torch.nn.Parameter)
    assert abs(clip.log_scale.item() - logitkit.CLIP_INIT_LOG_SCALE) < 1e-6
    img, txt = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    loss = clip(img, txt)
    loss.backward()
    assert clip.log_scale.grad is not None
    torch.testing.assert_close(loss, clip_reference(img, txt, clip.log_scale.detach()))
    frozen = lt.ContrastiveLoss(log_scale=1.0, learnable=False)
    assert not list(frozen.parameters())


def test_training_step_with_module():
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    loss_fn = lt.CrossEntropyLoss()
    first = None
    for _ in range(30):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert loss.item() < first


def test_no_copy_of_the_logits():
    """Forward + backward of cross-entropy on contiguous logits allocates the gradient only."""
    x = torch.randn(64, 50000).requires_grad_()
    t = torch.randint(0, 50000, (64,))
    nbytes = x.numel() * 4
    lt.cross_entropy(x, t).backward()  # warm-up
    x.grad = None
    tracemalloc.start()
    loss = lt.cross_entropy(x, t)
    loss.backward()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert nbytes <= peak < 1.5 * nbytes, (peak, nbytes)  # the gradient, not a copy of x
    s = torch.randn(64, 50000)
    x.grad = None
    tracemalloc.start()
    lt.distillation_loss(x, s, 2.0).backward()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert nbytes <= peak < 1.5 * nbytes, (peak, nbytes)


def test_errors():
    x = torch.randn(2, 3)
    with pytest.raises(TypeError, match="input must have dtype float32 or float64, got float16"):
        lt.softmax(x.half())
    with pytest.raises(TypeError, match="int64"):
        lt.cross_entropy(torch.ones(2, 3, dtype=torch.int64), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="device meta.*CPU"):
        lt.cross_entropy(torch.empty(2, 3, device="meta"), torch.tensor([0, 1]))
    with pytest.raises(TypeError, match="torch.Tensor"):
        lt.softmax(np.zeros(3))
    with pytest.raises(TypeError, match="class indices"):
        lt.cross_entropy(x, torch.tensor([True, False]))
    with pytest.raises(ValueError, match="teacher requires grad"):
        lt.distillation_loss(x, x.clone().requires_grad_())
    with pytest.raises(ValueError, match="target requires grad"):
        lt.cross_entropy(x, torch.softmax(x, 1).requires_grad_())
    with pytest.raises(ValueError, match="reduction must be one of"):
        lt.cross_entropy(x, torch.tensor([0, 1]), reduction="avg")
    with pytest.raises(ValueError, match="temperature"):  # the library's own message
        lt.softmax(x, temperature=-1.0)


def test_torch_docstring_examples():
    import doctest
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    count = 0
    for test in finder.find(lt, "logitkit.torch",
                            globs={"np": np, "torch": torch, "logitkit": logitkit}):
        count += len(test.examples)
        runner.run(test)
    assert runner.failures == 0
    for name in lt.__all__:
        doc = getattr(lt, name).__doc__
        assert doc and ">>>" in doc, name
    assert count >= 20
