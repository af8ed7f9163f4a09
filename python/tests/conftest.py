# SPDX-License-Identifier: Apache-2.0
# Shared helpers for the conformance suite: seeded logits, extended-precision references, ULP metrics.
import zlib

import numpy as np
import pytest

LD = np.longdouble
assert np.finfo(LD).nmant >= 63, "the references need x87 80-bit long double (x86-64)"

TEMPERATURES = (1e-3, 0.07, 0.5, 1.0, 4.0, 20.0, 1e3)


def random_logits(rng, shape, dtype, kind=None):
    """Seeded logits of several characters: scaled normals, large offsets, ties, masked entries."""
    kind = kind if kind is not None else rng.integers(0, 6)
    n = int(np.prod(shape))
    if kind == 0:
        x = rng.standard_normal(n)
    elif kind == 1:
        x = rng.standard_normal(n) * rng.choice([0.01, 10.0, 100.0])
    elif kind == 2:
        x = rng.standard_normal(n) + rng.choice([-3e4, 1e3, 5e4])
    elif kind == 3:
        x = rng.integers(-3, 3, n).astype(np.float64)  # ties
    elif kind == 4:
        x = rng.standard_normal(n) * 5
        x[rng.random(n) < 0.3] = -np.inf  # masked entries (never the whole row, usually)
    else:
        x = rng.uniform(-60, 20, n)
    return x.reshape(shape).astype(dtype)


def ulp_of(ref, dtype):
    """The ULP of the exact value `ref` (long double) in `dtype`: 2^(e - p) for |ref| in [2^(e-1), 2^e)."""
    info = np.finfo(dtype)
    _, e = np.frexp(np.abs(ref).astype(LD))
    return np.ldexp(LD(1), e.astype(np.int64) - (info.nmant + 1))


def ulp_error(ours, ref, dtype):
    """|ours - ref| in ULPs of ref, where |ref| >= the smallest normal; 0 elsewhere (checked apart)."""
    ref = np.asarray(ref, dtype=LD)
    ours = np.asarray(ours).astype(LD)
    both_inf = np.isinf(ref) & (ours == ref)
    normal = np.isfinite(ref) & (np.abs(ref) >= LD(np.finfo(dtype).tiny))
    err = np.zeros(ref.shape, dtype=LD)
    err[normal] = np.abs(ours[normal] - ref[normal]) / ulp_of(ref[normal], dtype)
    err[~normal & ~both_inf & np.isinf(ref)] = np.inf
    return err


def assert_ulp(ours, ref, dtype, ulps, what=""):
    """Every entry within `ulps` ULP of ref (|ref| below the smallest normal: absolute <= it)."""
    ref = np.asarray(ref, dtype=LD)
    ours = np.asarray(ours)
    assert ours.shape == ref.shape
    assert np.array_equal(np.isnan(ours), np.isnan(ref)), f"{what}: NaN pattern differs"
    err = ulp_error(ours, ref, dtype)
    worst = float(err.max()) if err.size else 0.0
    assert worst <= ulps, f"{what}: {worst:.3f} ULP > {ulps} (ours {ours.ravel()[err.argmax()]!r}, " \
                          f"exact {float(ref.ravel()[err.argmax()])!r})"
    small = np.isfinite(ref) & (np.abs(ref) < LD(np.finfo(dtype).tiny))
    if small.any():
        assert float(np.abs(ours[small].astype(LD) - ref[small]).max()) <= np.finfo(dtype).tiny
    return worst


def ref_stats(x, tau):
    """Per row (last axis) of x taken as exact: (z = (x - m)/tau, rest, ties, m) in long double,
    rest = sum over entries below the max of exp(z), so that lse = m/tau + log(ties + rest)."""
    x = np.asarray(x).astype(LD)
    m = np.max(x, axis=-1, keepdims=True)
    # An all -inf row: z = -inf everywhere, every entry a tie (softmax 0, log_softmax -inf).
    z = (x - np.where(m == -np.inf, LD(0), m)) / LD(tau)
    top = x == m
    e = np.where(top, LD(0), np.exp(z))
    return z, e.sum(-1, keepdims=True), top.sum(-1, keepdims=True).astype(LD), m


def ref_log_normalizer(rest, ties):
    return np.where(ties == 1, np.log1p(rest), np.log(ties + rest))


def ref_softmax(x, tau):
    z, rest, ties, _ = ref_stats(x, tau)
    return np.exp(z) / (ties + rest)


def ref_log_softmax(x, tau):
    z, rest, ties, _ = ref_stats(x, tau)
    return z - ref_log_normalizer(rest, ties)


def ref_logsumexp(x, tau):
    _, rest, ties, m = ref_stats(x, tau)
    return (m / LD(tau) + ref_log_normalizer(rest, ties))[..., 0]


@pytest.fixture
def rng(request):
    """A generator seeded by the test's name, so every failure replays."""
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))
