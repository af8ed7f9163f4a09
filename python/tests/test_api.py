# SPDX-License-Identifier: Apache-2.0
# The module's surface: layouts, out=, dtypes, error types and messages, GIL release, docstrings.
import doctest
import threading
import sys

import numpy as np
import pytest

import logitkit
from conftest import ref_softmax


def test_non_contiguous_inputs_match_contiguous(rng):
    base = rng.standard_normal((6, 8, 10)).astype(np.float32)
    views = [base.transpose(2, 0, 1), base[:, ::2, 1:], base[::-1], base[..., ::-1],
             np.broadcast_to(base[:1], (4, 8, 10)), np.asfortranarray(base)]
    for v in views:
        for axis in range(v.ndim):
            want = logitkit.softmax(np.ascontiguousarray(v), axis=axis, temperature=0.8)
            assert np.array_equal(logitkit.softmax(v, axis=axis, temperature=0.8), want)
            assert np.array_equal(logitkit.logsumexp(v, axis=axis),
                                  logitkit.logsumexp(np.ascontiguousarray(v), axis=axis))


def test_out_is_filled_and_returned(rng):
    x = rng.standard_normal((4, 5, 6))
    for axis in (0, 1, 2, None):
        want = logitkit.log_softmax(x, axis=axis)
        for out in (np.empty_like(x), np.empty(x.shape, order="F"),
                    np.empty((4, 5, 12))[..., ::2]):
            assert logitkit.log_softmax(x, axis=axis, out=out) is out
            assert np.array_equal(out, want)
    lse = np.empty((4, 6))
    assert logitkit.logsumexp(x, axis=1, out=lse) is lse
    assert np.array_equal(lse, logitkit.logsumexp(x, axis=1))
    y = x.copy()
    assert logitkit.softmax(y, out=y) is y  # in place
    assert np.array_equal(y, logitkit.softmax(x))
    dy = rng.standard_normal(x.shape)
    p = logitkit.softmax(x)
    want = logitkit.softmax_backward(p, dy)
    assert logitkit.softmax_backward(p, dy, out=dy) is dy  # dx may alias dy
    assert np.array_equal(dy, want)


def test_out_overlapping_input_is_safe(rng):
    buf = rng.standard_normal(20).astype(np.float32)
    x = buf[:16].reshape(4, 4)
    want = logitkit.softmax(x.copy())
    out = buf[4:].reshape(4, 4)  # overlaps x shifted by one row
    logitkit.softmax(x, out=out)
    assert np.array_equal(out, want)


def test_out_errors():
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(TypeError, match="dtype float32"):
        logitkit.softmax(x, out=np.empty((2, 3)))
    with pytest.raises(ValueError, match=r"shape \(2, 3\)"):
        logitkit.softmax(x, out=np.empty((3, 2), np.float32))
    ro = np.empty((2, 3), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        logitkit.softmax(x, out=ro)
    with pytest.raises(TypeError, match="ndarray"):
        logitkit.softmax(x, out=[0.0] * 6)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        logitkit.logsumexp(x, out=np.empty(3, np.float32))


def test_dtypes():
    x = np.array([[1.0, 2.0, 3.0]])
    assert logitkit.softmax(x).dtype == np.float64
    assert logitkit.softmax(x.astype(np.float32)).dtype == np.float32
    h = x.astype(np.float16)
    assert logitkit.softmax(h).dtype == np.float32  # float16 computed and returned in float32
    assert np.array_equal(logitkit.softmax(h), logitkit.softmax(h.astype(np.float32)))
    assert logitkit.logsumexp(h).dtype == np.float32
    assert np.array_equal(logitkit.softmax([1.0, 2.0]), logitkit.softmax(np.array([1.0, 2.0])))
    # Integer and bool input is converted to float64, as SciPy does.
    assert logitkit.softmax(np.array([1, 2, 3])).dtype == np.float64
    assert np.array_equal(logitkit.softmax(np.array([True, False])),
                          logitkit.softmax(np.array([1.0, 0.0])))
    for bad in (np.array([1 + 1j]), np.array([1.0], np.longdouble), np.array(["a"]),
                np.array([None])):
        with pytest.raises(TypeError, match="dtype"):
            logitkit.softmax(bad)
    with pytest.raises(TypeError, match="same dtype"):
        logitkit.softmax_backward(x, x.astype(np.float32))


def test_option_errors():
    x = np.zeros((2, 3))
    with pytest.raises(ValueError, match="empty_row must be one of"):
        logitkit.softmax(x, empty_row="ones")
    with pytest.raises(ValueError, match="nan must be one of"):
        logitkit.softmax(x, nan="ignore")
    with pytest.raises(ValueError, match="precision must be one of"):
        logitkit.softmax(x, precision="exact")
    with pytest.raises(ValueError, match="temperature"):
        logitkit.softmax(x, temperature=-1.0)
    with pytest.raises(ValueError, match="temperature"):
        logitkit.log_softmax(x, temperature=float("nan"))
    with pytest.raises(ValueError, match="out of bounds"):
        logitkit.softmax(x, axis=2)
    with pytest.raises(TypeError, match="axis"):
        logitkit.softmax(x, axis=(0, 1.5))
    with pytest.raises(TypeError, match="axis"):
        logitkit.softmax(x, axis="last")
    with pytest.raises(ValueError, match="same shape"):
        logitkit.log_softmax_backward(x, np.zeros((3, 2)))


def test_nan_policy_names_row_and_column():
    x = np.zeros((3, 4), np.float32)
    x[2, 1] = np.nan
    y = logitkit.softmax(x)
    assert np.isnan(y[2]).all() and not np.isnan(y[:2]).any()
    assert np.isnan(logitkit.logsumexp(x)[2])
    with pytest.raises(ValueError, match=r"row 2.*column 1|column 1.*row 2"):
        logitkit.softmax(x, nan="raise")


def test_empty_arrays():
    assert logitkit.softmax(np.zeros((0, 5))).shape == (0, 5)
    assert logitkit.softmax(np.zeros((3, 0))).shape == (3, 0)
    assert np.array_equal(logitkit.logsumexp(np.zeros((3, 0))), np.full(3, -np.inf))


def test_gil_released_during_kernel():
    """Another Python thread runs while a kernel runs (the GIL is released).

    Decided by the order of events, not by timing: with a switch interval longer than the test,
    the interpreter never preempts a thread, so the waiting main thread can run before the
    worker sets `finished` only if the kernel releases the GIL.
    """
    x = np.random.default_rng(0).standard_normal((16, 2 ** 18))
    t = np.random.default_rng(1).standard_normal(x.shape)
    started, finished = threading.Event(), threading.Event()

    def work():
        started.set()
        logitkit.distillation_loss(x, t, divergence="js", threads=1)
        finished.set()

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1000.0)
    try:
        worker = threading.Thread(target=work)
        worker.start()
        started.wait()
        ran_during_kernel = not finished.is_set()
        worker.join()
    finally:
        sys.setswitchinterval(interval)
    assert ran_during_kernel


def test_docstring_examples():
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    count = 0
    import logitkit._chain
    for module in (logitkit, logitkit._chain):
        for test in finder.find(module, module.__name__, globs={"np": np, "logitkit": logitkit}):
            count += len(test.examples)
            runner.run(test)
    assert count >= 15
    assert runner.failures == 0
    for name in logitkit.__all__:
        obj = getattr(logitkit, name)
        if callable(obj):
            assert obj.__doc__, name


def test_all_masked_row_in_place_float32():
    x = np.full((1, 20), -np.inf, np.float32)
    logitkit.softmax(x, out=x)
    assert np.array_equal(x, np.zeros((1, 20), np.float32))


def test_all_masked_row_float16():
    x = np.full((2, 4), -np.inf, np.float16)
    x[1, 0] = 1
    assert np.array_equal(logitkit.softmax(x), ref_softmax(x, 1.0).astype(np.float32))
