# SPDX-License-Identifier: Apache-2.0
# cross_entropy and distillation_loss against a long-double reference and torch.nn.functional.
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import logitkit
from conftest import LD, assert_ulp, random_logits, ulp_of

REDUCTIONS = ("mean", "sum", "none")


def ref_log_probs(x, tau):
    """Long-double log-softmax of x / tau over the last axis (winner via log1p)."""
    x = np.asarray(x, dtype=LD) / LD(tau)
    m = x.max(-1, keepdims=True)
    top = x == m
    rest = np.where(top, LD(0), np.exp(x - m)).sum(-1, keepdims=True)
    ties = top.sum(-1, keepdims=True)
    return x - m - np.where(ties == 1, np.log1p(rest), np.log(ties + rest))


def random_ce_case(rng, dtype):
    n, c = int(rng.integers(1, 9)), int(rng.integers(2, 40))
    x = random_logits(rng, (n, c), dtype, kind=int(rng.choice([0, 1, 3, 5])))
    tau = float(rng.choice([0.5, 1.0, 2.0]))
    eps = float(rng.choice([0.0, 0.0, 0.1, 0.3]))
    weight = rng.uniform(0.1, 2.0, c) if rng.random() < 0.4 else None
    if rng.random() < 0.3:
        target = rng.dirichlet(np.ones(c), n).astype(dtype)
    else:
        target = rng.integers(0, c, n)
        target[rng.random(n) < 0.2] = -100
    return x, target, weight, tau, eps


def ref_cross_entropy(x, target, weight, tau, eps):
    """Per-row losses, the reduction's denominator, and the gradient of the row losses."""
    n, c = x.shape
    logp = ref_log_probs(x, tau)
    w = np.ones(c, dtype=LD) if weight is None else weight.astype(LD)
    if target.dtype.kind == "f":
        q = (1 - LD(eps)) * target.astype(LD) + LD(eps) / c
        counted = np.ones(n, bool)
        den = LD(n)
    else:
        counted = target != -100
        t = np.where(counted, target, 0)
        q = (1 - LD(eps)) * np.eye(c, dtype=LD)[t] + LD(eps) / c
        den = w[t][counted].sum()
    wq = w * q
    rows = np.where(counted, -(wq * logp).sum(-1), 0)
    p = np.exp(logp)
    grad = np.where(counted[:, None], (wq.sum(-1, keepdims=True) * p - wq) / LD(tau), 0)
    return rows, den, grad


def grad_terms(x, target, weight, tau, eps):
    """|S p_j| + |w_j q_j| / tau: the operands of the gradient's subtraction."""
    logp = ref_log_probs(x, tau)
    c = x.shape[1]
    w = np.ones(c, dtype=LD) if weight is None else weight.astype(LD)
    if target.dtype.kind == "f":
        q = (1 - LD(eps)) * target.astype(LD) + LD(eps) / c
    else:
        q = (1 - LD(eps)) * np.eye(c, dtype=LD)[np.where(target != -100, target, 0)] + LD(eps) / c
    wq = w * q
    return (wq.sum(-1, keepdims=True) * np.exp(logp) + wq) / LD(tau)


def test_cross_entropy_against_reference_and_torch(rng):
    """1200 cases: class indices and probabilities, weights, label smoothing, ignore_index,
    temperature, every reduction, both dtypes."""
    for _ in range(1200):
        dtype = (np.float32, np.float64)[rng.integers(2)]
        x, target, weight, tau, eps = random_ce_case(rng, dtype)
        reduction = REDUCTIONS[rng.integers(3)]
        rows, den, grad = ref_cross_entropy(x, target, weight, tau, eps)
        got, g = logitkit.cross_entropy(x, target, weight=weight, reduction=reduction,
                                        label_smoothing=eps, temperature=tau, return_grad=True)
        ulps = 4
        if reduction == "none":
            assert got.dtype == dtype and got.shape == (x.shape[0],)
            assert_ulp(got, rows, dtype, ulps, "row losses")
            scale = LD(1)
        else:
            total = rows.sum() / (den if reduction == "mean" else 1)
            bound = ulps * LD(np.finfo(dtype).eps) * np.abs(rows).sum() / (
                den if reduction == "mean" else 1) + LD(1e-300)
            if reduction == "mean" and den == 0:
                assert np.isnan(got)
                continue
            assert abs(LD(got) - total) <= bound
            scale = 1 / den if reduction == "mean" else LD(1)
        ref_g = grad * scale
        # The contract (float): 2 ULP + 2^-24 max |gradient row|. float64: 2 ULP plus the
        # rounding of S p_j - w_j q_j relative to its operands (double inputs to the subtraction).
        row_scale = np.abs(ref_g).max(-1, keepdims=True)
        if dtype == np.float64:
            row_scale = row_scale + 2 * np.abs(grad_terms(x, target, weight, tau, eps)) * scale
        gbound = 2 * ulp_of(ref_g, dtype) + LD(np.finfo(dtype).eps) / 2 * row_scale + LD(
            np.finfo(dtype).tiny)
        assert np.all(np.abs(g.astype(LD) - ref_g) <= gbound), "gradient"

        # PyTorch on x / tau (where the class-index mean is over at least one counted row).
        tx = (torch.from_numpy(x) / tau).requires_grad_()
        tt = torch.from_numpy(target if target.dtype.kind == "f" else target.astype(np.int64))
        tw = None if weight is None else torch.from_numpy(weight.astype(dtype))
        loss = F.cross_entropy(tx, tt, weight=tw, reduction=reduction, label_smoothing=eps,
                               ignore_index=-100)
        if reduction == "mean" and target.dtype.kind != "f" and den == 0:
            continue
        loss.backward(torch.ones_like(loss))
        tol = 1e-5 if dtype == np.float32 else 1e-11
        assert np.allclose(got, loss.detach().numpy(), rtol=tol, atol=tol)
        assert np.allclose(g, tx.grad.numpy() / tau, rtol=tol, atol=tol)


def test_cross_entropy_axis_and_batch_dims(rng):
    """The class axis anywhere; targets of the batch shape; same numbers as the 2-D call."""
    x = rng.standard_normal((3, 5, 4)).astype(np.float32)  # class axis 1, like PyTorch's (N, C, d)
    t = rng.integers(0, 5, (3, 4))
    loss, g = logitkit.cross_entropy(x, t, axis=1, reduction="none", return_grad=True)
    flat = np.moveaxis(x, 1, -1).reshape(-1, 5)
    l2, g2 = logitkit.cross_entropy(flat, t.reshape(-1), reduction="none", return_grad=True)
    assert np.array_equal(loss, l2.reshape(3, 4))
    assert np.array_equal(g, np.moveaxis(g2.reshape(3, 4, 5), -1, 1))
    tl = F.cross_entropy(torch.from_numpy(x), torch.from_numpy(t), reduction="none")
    assert np.allclose(loss, tl.numpy(), rtol=1e-6, atol=1e-7)


def test_cross_entropy_megatron_smoothing_and_empty_mean():
    x = np.array([[2.0, 0.0, -1.0]])
    eps = 0.3
    got = logitkit.cross_entropy(x, np.array([0]), label_smoothing=eps, smoothing="megatron")
    logp = ref_log_probs(x, 1.0)[0]
    want = -((1 - eps) * logp[0] + eps / 2 * (logp[1] + logp[2]))
    assert abs(LD(got) - want) <= 4 * np.finfo(np.float64).eps * abs(want)
    assert np.isnan(logitkit.cross_entropy(x, np.array([-100])))
    assert logitkit.cross_entropy(x, np.array([-100]), empty_mean="zero") == 0.0


def ref_distillation(s, t, tau, divergence, beta, tau_squared, teacher_input):
    q = np.exp(ref_log_probs(s, tau))
    if teacher_input == "log_probs":
        p = np.exp(t.astype(LD))
        p = p / p.sum(-1, keepdims=True)
    else:
        p = np.exp(ref_log_probs(t, tau))

    def kl(a, b):
        return np.where(a > 0, a * (np.log(a) - np.log(b)), 0).sum(-1)

    if divergence == "forward_kl":
        d = kl(p, q)
    elif divergence == "reverse_kl":
        d = kl(q, p)
    else:
        mix = LD(beta) * p + (1 - LD(beta)) * q
        d = LD(beta) * kl(p, mix) + (1 - LD(beta)) * kl(q, mix)
    return d * (LD(tau) ** 2 if tau_squared else 1), p, q


def test_distillation_against_reference_and_torch(rng):
    """800 cases: divergences, temperatures, tau^2, reductions, log-prob teachers, hard labels."""
    for _ in range(800):
        dtype = (np.float32, np.float64)[rng.integers(2)]
        n, c = int(rng.integers(1, 7)), int(rng.integers(2, 30))
        s = random_logits(rng, (n, c), dtype, kind=int(rng.choice([0, 1, 5])))
        t = random_logits(rng, (n, c), dtype, kind=int(rng.choice([0, 1, 5])))
        tau = float(rng.choice([0.5, 1.0, 2.0, 4.0]))
        divergence = ("forward_kl", "reverse_kl", "js")[rng.integers(3)]
        beta = float(rng.uniform(0.1, 0.9))
        tau_squared = bool(rng.integers(2))
        teacher_input = ("logits", "log_probs")[rng.integers(2)]
        if teacher_input == "log_probs":
            t = np.asarray(ref_log_probs(t, tau), dtype=dtype)
        reduction = ("batchmean", "mean", "sum", "none")[rng.integers(4)]
        rows, p, q = ref_distillation(s, t, tau, divergence, beta, tau_squared, teacher_input)
        got = logitkit.distillation_loss(s, t, temperature=tau, divergence=divergence, js_beta=beta,
                                         tau_squared=tau_squared, reduction=reduction,
                                         teacher_input=teacher_input)
        den = {"batchmean": n, "mean": n * c, "sum": 1, "none": 1}[reduction]
        # The contract: 1e-6 relative + 1e-7 absolute per row (KL near 0 cancels); float64 tighter.
        rel, ab = (1e-6, 1e-7) if dtype == np.float32 else (1e-12, 1e-14)
        if reduction == "none":
            assert np.all(np.abs(got.astype(LD) - rows) <= rel * np.abs(rows) + ab)
        else:
            assert abs(LD(got) - rows.sum() / den) <= (rel * np.abs(rows).sum() + ab * n) / den
        if divergence == "forward_kl":
            ls = F.log_softmax(torch.from_numpy(s) / tau, -1)
            tt = torch.from_numpy(t)
            log_target = teacher_input == "log_probs"
            target = tt if log_target else F.softmax(tt / tau, -1)
            red = "batchmean" if reduction == "batchmean" else reduction
            k = F.kl_div(ls, target, reduction=red, log_target=log_target)
            if reduction == "none":
                k = k.sum(-1)
            k = k * (tau * tau if tau_squared else 1)
            tol = 1e-5 if dtype == np.float32 else 1e-10
            assert np.allclose(got, k.numpy(), rtol=tol, atol=tol)


def test_distillation_gradient_and_hard_labels(rng):
    """return_grad against torch.autograd (float64), with the alpha * cross-entropy term."""
    for _ in range(100):
        n, c = int(rng.integers(1, 6)), int(rng.integers(2, 20))
        s, t = rng.standard_normal((2, n, c)) * 3
        tau = float(rng.choice([1.0, 2.0, 4.0]))
        alpha = float(rng.choice([0.0, 0.5]))
        target = rng.integers(0, c, n)
        loss, g = logitkit.distillation_loss(s, t, temperature=tau, alpha=alpha,
                                             target=target if alpha else None, return_grad=True)
        ts = torch.from_numpy(s).requires_grad_()
        k = F.kl_div(F.log_softmax(ts / tau, -1), F.softmax(torch.from_numpy(t) / tau, -1),
                     reduction="batchmean") * tau * tau
        if alpha:
            k = k + alpha * F.cross_entropy(ts, torch.from_numpy(target))
        k.backward()
        assert np.isclose(loss, k.item(), rtol=1e-12, atol=1e-14)
        assert np.allclose(g, ts.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_loss_errors():
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="target"):
        logitkit.cross_entropy(x, np.array([0, 3]))
    with pytest.raises(ValueError, match="shape"):
        logitkit.cross_entropy(x, np.array([0]))
    with pytest.raises(TypeError, match="target"):
        logitkit.cross_entropy(x, np.array(["a", "b"]))
    with pytest.raises(ValueError, match="reduction"):
        logitkit.cross_entropy(x, np.array([0, 1]), reduction="batchmean")
    with pytest.raises(ValueError, match="weight"):
        logitkit.cross_entropy(x, np.array([0, 1]), weight=np.ones(2))
    with pytest.raises(ValueError, match="label_smoothing"):
        logitkit.cross_entropy(x, np.array([0, 1]), label_smoothing=1.5)
    with pytest.raises(ValueError, match="same shape"):
        logitkit.distillation_loss(x, np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match="alpha"):
        logitkit.distillation_loss(x, x, alpha=0.5)
    with pytest.raises(ValueError, match="alpha"):
        logitkit.distillation_loss(x, x, alpha=0.5, target=np.array([0, 1]), reduction="none")
    with pytest.raises(ValueError, match="temperature"):
        logitkit.distillation_loss(x, x, temperature=0.0)
    with pytest.raises(ValueError, match="divergence"):
        logitkit.distillation_loss(x, x, divergence="kl")


def test_contrastive_against_torch(rng):
    """CLIP loss and its three gradients against torch.autograd (float64 and float32)."""
    for _ in range(60):
        dtype = (np.float32, np.float64)[rng.integers(2)]
        b, d = int(rng.integers(1, 20)), int(rng.integers(1, 16))
        img, txt = rng.standard_normal((2, b, d)).astype(dtype)
        t = float(rng.choice([0.0, 1.0, np.log(1 / 0.07), 5.0]))  # 5.0: clamped at 100
        normalize = bool(rng.integers(2))
        loss, gi, gt, gs = logitkit.contrastive_loss(img, txt, t, normalize=normalize,
                                                     return_grad=True)
        ti, tt = torch.from_numpy(img).requires_grad_(), torch.from_numpy(txt).requires_grad_()
        ts = torch.tensor(t, dtype=ti.dtype, requires_grad=True)
        a, c = (F.normalize(ti, dim=-1), F.normalize(tt, dim=-1)) if normalize else (ti, tt)
        logits = ts.exp().clamp(max=100.0) * a @ c.T
        lab = torch.arange(b)
        ref = (F.cross_entropy(logits, lab) + F.cross_entropy(logits.T, lab)) / 2
        ref.backward()
        tol = 1e-4 if dtype == np.float32 else 1e-10
        assert np.isclose(loss, ref.item(), rtol=tol, atol=tol)
        assert np.allclose(gi, ti.grad.numpy(), rtol=tol, atol=tol)
        assert np.allclose(gt, tt.grad.numpy(), rtol=tol, atol=tol)
        assert np.isclose(gs, ts.grad.item(), rtol=tol, atol=tol)
    assert logitkit.contrastive_loss(np.eye(2), np.eye(2), 0.0) == pytest.approx(
        np.log(1 + np.exp(-1.0)), rel=1e-15)
    with pytest.raises(ValueError, match="same shape"):
        logitkit.contrastive_loss(np.eye(2), np.eye(3))
