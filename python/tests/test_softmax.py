# SPDX-License-Identifier: Apache-2.0
# softmax / log_softmax / logsumexp (+ backward) against exact references, PyTorch and scipy.special.
import mpmath
import numpy as np
import pytest
import scipy.special
import torch

import logitkit
from conftest import (LD, TEMPERATURES, assert_ulp, random_logits, ref_log_softmax, ref_logsumexp,
                      ref_softmax, ulp_of)

SHAPES = ((1,), (7,), (1, 1), (3, 5), (2, 3, 17), (4, 33), (2, 129, 3), (5, 1, 40), (3, 300))


def random_case(rng, dtype):
    shape = SHAPES[rng.integers(len(SHAPES))]
    axis = int(rng.integers(-len(shape), len(shape)))
    tau = float(rng.choice(TEMPERATURES))
    return random_logits(rng, shape, dtype), axis, tau


def exact(x, axis, tau, op):
    """The long-double reference along `axis` of x (taken as exact)."""
    m = np.moveaxis(np.asarray(x, dtype=LD), axis, -1)
    if op == "logsumexp":
        return ref_logsumexp(m, tau)
    r = ref_softmax(m, tau) if op == "softmax" else ref_log_softmax(m, tau)
    return np.moveaxis(r, -1, axis)


def check_logsumexp(ours, x, axis, tau, dtype):
    """2 ULP, or where m/tau and the log cancel, 2e-16 max(|m/tau|, 1) absolute plus rounding."""
    ref = exact(x, axis, tau, "logsumexp")
    m = np.max(np.moveaxis(np.asarray(x, dtype=LD), axis, -1), axis=-1) / LD(tau)
    assert np.array_equal(np.isnan(ours), np.isnan(ref))
    fin = np.isfinite(ref)
    assert np.array_equal(ours[~fin], ref[~fin].astype(ours.dtype))
    err = np.abs(ours[fin].astype(LD) - ref[fin])
    ulp = ulp_of(ref[fin], dtype)
    allowed = np.maximum(2 * ulp, LD(2e-16) * np.maximum(np.abs(m[fin]), 1) + ulp / 2)
    assert np.all(err <= allowed), float((err / ulp).max())


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_forward_within_2_ulp_of_exact(rng, dtype):
    """1500 seeded cases per dtype: shapes, axes, temperatures, logit characters."""
    out_dtype = np.float64 if dtype == np.float64 else np.float32
    for _ in range(1500):
        x, axis, tau = random_case(rng, dtype)
        y = logitkit.softmax(x, axis=axis, temperature=tau)
        assert y.dtype == out_dtype and y.shape == x.shape
        assert_ulp(y, exact(x, axis, tau, "softmax"), out_dtype, 2, "softmax")
        sums = np.sum(y.astype(LD), axis=axis)
        live = np.any(np.moveaxis(x, axis, -1) > -np.inf, axis=-1)
        assert np.all(np.abs(sums[live] - 1) <= (2.5e-7 if out_dtype == np.float32 else 1e-15))
        ls = logitkit.log_softmax(x, axis=axis, temperature=tau)
        assert_ulp(ls, exact(x, axis, tau, "log_softmax"), out_dtype, 2, "log_softmax")
        lse = logitkit.logsumexp(x, axis=axis, temperature=tau)
        assert lse.shape == tuple(np.delete(x.shape, axis % x.ndim))
        check_logsumexp(lse, x, axis, tau, out_dtype)


def test_long_rows_sum_to_one(rng):
    """Rows longer than a chunk (16384) and than the per-thread split (65536)."""
    for n in (16385, 70000, 128256):
        x = random_logits(rng, (2, n), np.float32, kind=int(rng.integers(0, 3)))
        for tau in (0.07, 1.0):
            y = logitkit.softmax(x, temperature=tau)
            assert np.all(np.abs(y.astype(LD).sum(-1) - 1) <= 2.5e-7)
            assert_ulp(y, ref_softmax(x, tau), np.float32, 2, "softmax long")
            assert_ulp(logitkit.log_softmax(x, temperature=tau), ref_log_softmax(x, tau),
                       np.float32, 2, "log_softmax long")


def test_mpmath_50_digits(rng):
    """Small rows against mpmath at 50 digits (also checks the long-double references)."""
    mpmath.mp.dps = 50
    for _ in range(150):
        dtype = (np.float32, np.float64)[rng.integers(2)]
        n = int(rng.integers(1, 9))
        x = random_logits(rng, (n,), dtype, kind=int(rng.choice([0, 1, 2, 3, 5])))
        tau = float(rng.choice(TEMPERATURES))
        xs = [mpmath.mpf(float(v)) for v in x]
        m = max(xs)
        e = [mpmath.exp((v - m) / mpmath.mpf(tau)) for v in xs]
        s = mpmath.fsum(e)
        # log(s) as log1p(s - 1) with s - 1 summed apart: 50 digits cannot hold 1 + 1e-70.
        ties = sum(1 for v in xs if v == m)
        rest = mpmath.fsum(ev for v, ev in zip(xs, e) if v != m)
        log_s = mpmath.log1p(rest) if ties == 1 else mpmath.log(s)
        def ld(v):
            return LD(mpmath.nstr(v, 30, min_fixed=1, max_fixed=0))
        sm = np.array([ld(v / s) for v in e], dtype=LD)
        ls = np.array([ld((v - m) / mpmath.mpf(tau) - log_s) for v in xs], dtype=LD)
        lse = np.array(ld(m / mpmath.mpf(tau) + log_s), dtype=LD)
        assert_ulp(logitkit.softmax(x, temperature=tau), sm, dtype, 2, "softmax/mpmath")
        assert_ulp(logitkit.log_softmax(x, temperature=tau), ls, dtype, 2, "log_softmax/mpmath")
        assert_ulp(ref_log_softmax(x, tau), ls, np.float64, 0.25, "reference/mpmath")  # ref is sound
        assert_ulp(logitkit.logsumexp(x, temperature=tau), lse, dtype, 2, "logsumexp/mpmath")


def torch_rtol(x, axis, tau, eps):
    """PyTorch computes softmax(x / tau): x / tau and x/tau - max are rounded (relative eps each),
    which exp turns into a relative error of about |x/tau| eps per entry, plus its exp and sum."""
    scale = np.max(np.abs(np.where(np.isfinite(x), x, 0)), axis=axis, keepdims=True) / tau
    return eps * (16 + 4 * scale)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_against_pytorch(rng, dtype):
    """Agreement with torch.softmax / log_softmax / logsumexp (CPU) on x / tau, within PyTorch's
    own error model, over 1000 cases without fully masked rows (a documented difference)."""
    eps = float(np.finfo(dtype).eps)
    for _ in range(1000):
        x, axis, tau = random_case(rng, dtype)
        if not np.all(np.any(np.moveaxis(x, axis, -1) > -np.inf, axis=-1)):
            continue
        t = torch.from_numpy(x) / tau
        rtol = torch_rtol(x, axis, tau, eps)
        tiny = np.finfo(dtype).tiny
        y = logitkit.softmax(x, axis=axis, temperature=tau)
        ty = torch.softmax(t, dim=axis).numpy()
        assert np.all(np.abs(y - ty) <= rtol * ty + tiny), "softmax"
        ls = logitkit.log_softmax(x, axis=axis, temperature=tau)
        tls = torch.log_softmax(t, dim=axis).numpy()
        fin = np.isfinite(tls)
        assert np.array_equal(ls[~fin], tls[~fin])
        assert np.all(np.abs(ls - tls)[fin] <= (rtol * (1 + np.abs(tls)))[fin]), "log_softmax"
        lse = logitkit.logsumexp(x, axis=axis, temperature=tau)
        tlse = torch.logsumexp(t, dim=axis).numpy()
        assert np.allclose(lse, tlse, rtol=0, atol=0) or np.all(
            np.abs(lse - tlse) <= np.squeeze(rtol, axis) * (1 + np.abs(tlse))), "logsumexp"


def test_against_scipy(rng):
    """scipy.special.softmax / log_softmax / logsumexp in float64 on x / tau."""
    eps = float(np.finfo(np.float64).eps)
    for _ in range(1000):
        x, axis, tau = random_case(rng, np.float64)
        if not np.all(np.any(np.moveaxis(x, axis, -1) > -np.inf, axis=-1)):
            continue
        rtol = torch_rtol(x, axis, tau, eps)
        ref = scipy.special.softmax(x / tau, axis=axis)
        y = logitkit.softmax(x, axis=axis, temperature=tau)
        assert np.all(np.abs(y - ref) <= rtol * ref + 1e-300)
        ref = scipy.special.log_softmax(x / tau, axis=axis)
        ls = logitkit.log_softmax(x, axis=axis, temperature=tau)
        fin = np.isfinite(ref)
        assert np.array_equal(ls[~fin], ref[~fin])
        assert np.all(np.abs(ls - ref)[fin] <= (rtol * (1 + np.abs(ref)))[fin])
        ref = scipy.special.logsumexp(x / tau, axis=axis)
        lse = logitkit.logsumexp(x, axis=axis, temperature=tau)
        assert np.all(np.abs(lse - ref) <= np.squeeze(rtol, axis) * (1 + np.abs(ref)))


def test_axis_none_matches_scipy(rng):
    x = rng.standard_normal((3, 4, 5))
    assert np.allclose(logitkit.softmax(x, axis=None), scipy.special.softmax(x), rtol=1e-14,
                       atol=0)
    assert np.allclose(logitkit.log_softmax(x, axis=None), scipy.special.log_softmax(x),
                       rtol=1e-14, atol=0)
    assert np.isclose(logitkit.logsumexp(x, axis=None), scipy.special.logsumexp(x), rtol=1e-15)
    assert logitkit.logsumexp(x, axis=None, keepdims=True).shape == (1, 1, 1)
    assert logitkit.logsumexp(x, axis=1, keepdims=True).shape == (3, 1, 5)


def test_backward_contract_and_pytorch(rng):
    """Backward passes against the long-double formula (the contract's bound) and torch.autograd."""
    for _ in range(400):
        dtype = (np.float32, np.float64)[rng.integers(2)]
        x, axis, tau = random_case(rng, dtype)
        if not np.all(np.any(np.moveaxis(x, axis, -1) > -np.inf, axis=-1)):
            continue
        dy = rng.standard_normal(x.shape).astype(dtype)
        # The contract: 2 ULP + 2^-24 |S| y_i / tau (f32, computed in double). float64 is computed
        # in double, so the sum S carries n 2^-53 sum_j |dy_j y_j| and the subtraction dy_i - S
        # rounds relative to its operands: 2^-52 (|dy_i| + |S| + n sum_j |dy_j y_j|) y_i / tau.
        f64 = dtype == np.float64
        eps = LD(2.0 ** -52) if f64 else LD(2.0 ** -24)
        y = logitkit.softmax(x, axis=axis, temperature=tau)
        dx = logitkit.softmax_backward(y, dy, axis=axis, temperature=tau)
        yl, dyl = y.astype(LD), dy.astype(LD)
        s = np.sum(yl * dyl, axis=axis, keepdims=True)
        ref = (dyl - s) * yl / LD(tau)
        n = x.shape[axis]
        cancel = np.abs(s) + ((np.abs(dyl) + n * np.sum(np.abs(dyl * yl), axis=axis,
                                                        keepdims=True)) if f64 else 0)
        bound = 2 * ulp_of(ref, dtype) + eps * cancel * yl / LD(tau) + LD(np.finfo(dtype).tiny)
        assert np.all(np.abs(dx.astype(LD) - ref) <= bound), "softmax_backward"
        ls = logitkit.log_softmax(x, axis=axis, temperature=tau)
        dx = logitkit.log_softmax_backward(ls, dy, axis=axis, temperature=tau)
        s = np.sum(np.where(ls == -np.inf, LD(0), dyl), axis=axis, keepdims=True)
        p = np.exp(ls.astype(LD))
        ref = np.where(ls == -np.inf, LD(0), (dyl - p * s) / LD(tau))  # masked: no gradient
        cancel = np.abs(s) * p + ((np.abs(dyl) + n * p * np.sum(np.abs(dyl), axis=axis,
                                                                keepdims=True)) if f64 else 0)
        bound = 2 * ulp_of(ref, dtype) + eps * cancel / LD(tau) + LD(np.finfo(dtype).tiny)
        assert np.all(np.abs(dx.astype(LD) - ref) <= bound), "log_softmax_backward"
        if dtype == np.float64:
            t = torch.from_numpy(x).requires_grad_()
            torch.softmax(t / tau, dim=axis).backward(torch.from_numpy(dy))
            g = logitkit.softmax_backward(y, dy, axis=axis, temperature=tau)
            scale = np.max(np.abs(g), axis=axis, keepdims=True) + 1e-300
            rtol = torch_rtol(x, axis, tau, float(np.finfo(np.float64).eps))
            # PyTorch rounds dy_i - S in double too: where it cancels, both are off by its ulp.
            s64 = np.sum(dy * y, axis=axis, keepdims=True)
            cancel = 4 * 2.0 ** -52 * (np.abs(dy) + np.abs(s64)) * y / tau
            assert np.all(np.abs(g - t.grad.numpy()) <= 4 * rtol * scale + cancel), "vs torch"


def test_all_simd_targets_agree(rng):
    """Every supported SIMD target gives the same bits through the module."""
    x = random_logits(rng, (8, 3000), np.float32, kind=0)
    names = logitkit.targets()["supported"]
    try:
        outs = []
        for name in names:
            assert logitkit.force_target(name)
            outs.append((logitkit.softmax(x, temperature=0.7), logitkit.log_softmax(x),
                         logitkit.logsumexp(x)))
    finally:
        logitkit.reset_target()
    for o in outs[1:]:
        for a, b in zip(o, outs[0]):
            assert np.array_equal(a, b)
    assert not logitkit.force_target("NOT_A_TARGET")


def test_thread_counts_bitwise_identical(rng):
    x = random_logits(rng, (3, 140000), np.float32, kind=0)
    ref = logitkit.softmax(x, threads=1)
    for threads in (0, 2, 3):
        assert np.array_equal(logitkit.softmax(x, threads=threads), ref)
        assert np.array_equal(logitkit.log_softmax(x, threads=threads),
                              logitkit.log_softmax(x, threads=1))


def test_fast_precision_bound(rng):
    """precision='fast': row sums still within 2.5e-7; error within the documented kFast bound
    3 ulp(y) + 3 2^-24 (t_i + T) y_i, t_i = |x_i - m|/tau, T = sum_j p_j t_j."""
    for _ in range(200):
        x = random_logits(rng, (4, int(rng.integers(1, 500))), np.float32,
                          kind=int(rng.choice([0, 1, 5])))
        tau = float(rng.choice(TEMPERATURES))
        y = logitkit.softmax(x, temperature=tau, precision="fast")
        ref = ref_softmax(x, tau)
        assert np.all(np.abs(y.astype(LD).sum(-1) - 1) <= 2.5e-7)
        t = (np.max(x, -1, keepdims=True).astype(LD) - x.astype(LD)) / LD(tau)
        big_t = np.sum(ref * t, -1, keepdims=True)
        bound = 3 * ulp_of(ref, np.float32) + 3 * LD(2.0 ** -24) * (t + big_t) * ref + 2 * LD(
            np.finfo(np.float32).tiny)
        assert np.all(np.abs(y.astype(LD) - ref) <= bound)
