# SPDX-License-Identifier: Apache-2.0
# SciPy / NumPy / PyTorch calling conventions: logsumexp(b=, return_sign=, keepdims=), integer
# and bool input, tuple axes, axis=None, dim= as an alias of axis=.
import numpy as np
import pytest
import scipy.special as sp

import logitkit


def test_logsumexp_b_and_return_sign_match_scipy(rng):
    cases = 0
    for _ in range(300):
        shape = tuple(int(n) for n in rng.integers(1, 5, int(rng.integers(1, 4))))
        x = rng.standard_normal(shape) * 3
        kind = rng.integers(4)
        if kind == 0:
            b = rng.random(shape)  # positive weights
        elif kind == 1:
            b = rng.standard_normal(shape)  # mixed signs
        elif kind == 2:
            b = -rng.random(shape[-1:])  # broadcast, all negative
        else:
            b = rng.standard_normal(shape) * (rng.random(shape) < 0.5)  # zeros ignored
        axis = [None, -1, 0, tuple(range(len(shape)))][rng.integers(4)]
        keepdims = bool(rng.integers(2))
        ours, s1 = logitkit.logsumexp(x, axis=axis, b=b, keepdims=keepdims, return_sign=True)
        ref, s2 = sp.logsumexp(x, axis=axis, b=b, keepdims=keepdims, return_sign=True)
        assert np.shape(ours) == np.shape(ref)
        np.testing.assert_array_equal(s1, s2)
        finite = np.isfinite(ref)
        np.testing.assert_array_equal(np.isfinite(ours), finite)
        # Both round x + log|b| (or b e^x) once per entry; the mixed-sign difference may cancel.
        np.testing.assert_allclose(np.asarray(ours)[finite], np.asarray(ref)[finite],
                                   rtol=1e-12, atol=1e-12)
        cases += 1
    assert cases == 300


def test_logsumexp_b_special_cases():
    r, s = logitkit.logsumexp(np.array([0.0, 0.0]), b=np.array([1.0, -1.0]), return_sign=True)
    assert r == -np.inf and s == 0.0  # exact cancellation, as SciPy
    r, s = logitkit.logsumexp(np.array([1.0, 2.0]), b=np.array([0.0, 0.0]), return_sign=True)
    assert r == -np.inf and s == 0.0
    r = logitkit.logsumexp(np.array([1.0, 2.0]), b=np.array([np.nan, 1.0]))
    assert np.isnan(r)
    assert logitkit.logsumexp(np.array([1.0, 2.0]), b=2.0) == pytest.approx(
        sp.logsumexp([1.0, 2.0], b=2.0), rel=1e-15)
    r, s = logitkit.logsumexp(np.array([-np.inf, -np.inf]), return_sign=True)
    assert r == -np.inf and s == 0.0
    r, s = logitkit.logsumexp(np.array([[1.0, np.nan], [0.0, 1.0]]), return_sign=True)
    assert np.isnan(r[0]) and np.isnan(s[0]) and s[1] == 1.0
    with pytest.raises(ValueError, match="temperature 1"):
        logitkit.logsumexp(np.zeros(3), b=np.ones(3), temperature=2.0)
    with pytest.raises(ValueError, match="broadcast"):
        logitkit.logsumexp(np.zeros(3), b=np.ones(4))


def test_integer_and_bool_input_as_float64():
    for a in (np.array([[1, 2, 3]]), np.array([[1, 2, 3]], np.uint8), np.array([True, False]),
              [1, 2, 3]):
        f = np.asarray(a, np.float64)
        got = logitkit.softmax(a)
        assert got.dtype == np.float64 and logitkit.logsumexp(a).dtype == np.float64
        np.testing.assert_allclose(got, sp.softmax(f, axis=-1), rtol=1e-15)
        np.testing.assert_allclose(logitkit.logsumexp(a), sp.logsumexp(f, axis=-1), rtol=1e-15)
        np.testing.assert_allclose(logitkit.log_softmax(a), sp.log_softmax(f, axis=-1),
                                   rtol=1e-15)
    loss = logitkit.cross_entropy(np.array([[2, 0, 1]]), np.array([0]))
    assert loss == pytest.approx(-sp.log_softmax([2.0, 0.0, 1.0])[0], rel=1e-15)


def test_tuple_axes_and_axis_none(rng):
    x = rng.standard_normal((3, 4, 5))
    for axis in ((0, 1), (1, 2), (0, 2), (2, 0), (0, 1, 2), (1,), None):
        np.testing.assert_allclose(logitkit.softmax(x, axis=axis), sp.softmax(x, axis=axis),
                                   rtol=1e-14, atol=1e-300)
        np.testing.assert_allclose(logitkit.log_softmax(x, axis=axis),
                                   sp.log_softmax(x, axis=axis), rtol=1e-14)
        for keepdims in (False, True):
            np.testing.assert_allclose(logitkit.logsumexp(x, axis=axis, keepdims=keepdims),
                                       sp.logsumexp(x, axis=axis, keepdims=keepdims), rtol=1e-14)
    # A tuple over non-adjacent axes of a non-contiguous view, with out=.
    v = x[:, ::2, :]
    out = np.empty(v.shape)
    assert logitkit.softmax(v, axis=(0, 2), out=out) is out
    np.testing.assert_allclose(out, sp.softmax(v, axis=(0, 2)), rtol=1e-14)
    with pytest.raises(ValueError, match="repeats"):
        logitkit.softmax(x, axis=(1, 1))
    with pytest.raises(ValueError, match="out of bounds"):
        logitkit.softmax(x, axis=(0, 3))


def test_two_dimensional_default_is_row_wise():
    """logitkit's 2-D default stays the last axis (SciPy's softmax/logsumexp: every entry)."""
    x = np.array([[1.0, 2.0], [3.0, 5.0]])
    np.testing.assert_allclose(logitkit.softmax(x), sp.softmax(x, axis=-1))
    assert not np.allclose(logitkit.softmax(x), sp.softmax(x))
    np.testing.assert_allclose(logitkit.softmax(x, axis=None), sp.softmax(x))
    np.testing.assert_allclose(logitkit.logsumexp(x, axis=None), sp.logsumexp(x))


def test_dim_alias():
    x = np.random.default_rng(1).standard_normal((3, 4))
    assert np.array_equal(logitkit.softmax(x, dim=0), logitkit.softmax(x, axis=0))
    assert np.array_equal(logitkit.log_softmax(x, dim=0), logitkit.log_softmax(x, axis=0))
    assert np.array_equal(logitkit.logsumexp(x, dim=0, keepdim=True),
                          logitkit.logsumexp(x, axis=0, keepdims=True))
    y = logitkit.softmax(x, dim=0)
    assert np.array_equal(logitkit.softmax_backward(y, x, dim=0),
                          logitkit.softmax_backward(y, x, axis=0))
    with pytest.raises(TypeError, match="not both"):
        logitkit.softmax(x, axis=0, dim=1)
