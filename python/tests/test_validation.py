# SPDX-License-Identifier: Apache-2.0
# Every argument is checked in Python before the bindings: TypeError / ValueError naming the
# argument and the value, never pybind11's "incompatible function arguments", never a wrap-around.
import numpy as np
import pytest

import logitkit

LOGITS = np.array([1.0, 3.0, 2.0, 0.5], np.float32)
X = np.zeros((2, 3), np.float32)


def raises(exc, pattern, fn, *args, **kwargs):
    with pytest.raises(exc, match=pattern) as info:
        fn(*args, **kwargs)
    assert "incompatible function arguments" not in str(info.value)


@pytest.mark.parametrize("value,exc,pattern", [
    (-1, ValueError, r"seed must be in \[0, 18446744073709551615\], got -1"),
    (2 ** 64, ValueError, r"seed .* got 18446744073709551616"),
    (1.5, TypeError, r"seed must be an integer, got 1.5"),
    ("7", TypeError, r"seed must be an integer, got '7'"),
])
def test_seed(value, exc, pattern):
    raises(exc, pattern, logitkit.sample, LOGITS, seed=value)
    raises(exc, pattern, logitkit.philox_uniform, value, 0, 0)


def test_seed_extremes_are_accepted():
    assert 0 <= logitkit.sample(LOGITS, seed=2 ** 64 - 1) < 4
    assert 0 <= logitkit.sample(LOGITS, seed=np.uint64(2 ** 64 - 1)) < 4


@pytest.mark.parametrize("name,value,exc,pattern", [
    ("top_k", -1, ValueError, r"top_k must be in \[0, 2147483647\], got -1"),
    ("top_k", 2 ** 31, ValueError, r"top_k .* got 2147483648"),
    ("top_k", 2.0, TypeError, r"top_k must be an integer, got 2.0"),
    ("threads", -2, ValueError, r"threads must be in \[0, 2147483647\], got -2"),
    ("threads", 2 ** 40, ValueError, r"threads .* got 1099511627776"),
    ("top_logprobs", -1, ValueError, r"top_logprobs .* got -1"),
    ("min_tokens_to_keep", 2 ** 33, ValueError, r"min_tokens_to_keep .* got 8589934592"),
    ("temperature", "hot", TypeError, r"temperature must be a real number, got 'hot'"),
])
def test_sampling_integers(name, value, exc, pattern):
    raises(exc, pattern, logitkit.sample, LOGITS, **{name: value})


@pytest.mark.parametrize("fn", [
    lambda t: logitkit.softmax(X, threads=t),
    lambda t: logitkit.log_softmax(X, threads=t),
    lambda t: logitkit.logsumexp(X, threads=t),
    lambda t: logitkit.cross_entropy(X, np.array([0, 1]), threads=t),
    lambda t: logitkit.distillation_loss(X, X, threads=t),
    lambda t: logitkit.contrastive_loss(X, X, threads=t),
])
def test_threads_everywhere(fn):
    raises(ValueError, r"threads must be in \[0, 2147483647\], got -1", fn, -1)
    raises(ValueError, r"threads .* got 4294967296", fn, 2 ** 32)
    raises(TypeError, r"threads must be an integer, got None", fn, None)


def test_token_ids_out_of_range():
    raises(ValueError, r"history\[1\] = 4 is not a token id in \[0, 4\)",
           logitkit.sample, LOGITS, history=[0, 4], repetition_penalty=1.2)
    raises(ValueError, r"history\[0\] = 4294967296 is not a token id",  # would wrap to 0
           logitkit.sample, LOGITS, history=[2 ** 32], repetition_penalty=1.2)
    raises(ValueError, r"history\[0\] = -1", logitkit.sample, LOGITS, history=[-1])
    raises(TypeError, r"history must hold integer token ids, got float64",
           logitkit.sample, LOGITS, history=[1.0])
    raises(ValueError, r"logit_bias key 9 is not a token id in \[0, 4\)",
           logitkit.sample, LOGITS, logit_bias={9: 1.0})
    raises(ValueError, r"logit_bias key .* got 4294967296",
           logitkit.sample, LOGITS, logit_bias={2 ** 32: 1.0})
    raises(TypeError, r"logit_bias\[1\] must be a real number, got 'x'",
           logitkit.sample, LOGITS, logit_bias={1: "x"})
    raises(TypeError, r"logit_bias must be a dict", logitkit.sample, LOGITS, logit_bias=[1, 2])
    raises(ValueError, r"history\[2\] = 7", logitkit.sampling_distribution, LOGITS,
           history=np.array([1, 2, 7]))


def test_stream_and_step():
    batch = np.tile(LOGITS, (3, 1))
    raises(TypeError, r"stream must be an integer or an integer array, got 1.5",
           logitkit.sample, LOGITS, stream=1.5)
    raises(TypeError, r"step must be an integer or an integer array, got dtype float64",
           logitkit.sample, batch, step=np.array([0.0, 1.0, 2.0]))
    raises(ValueError, r"stream must be >= 0, got -3", logitkit.sample, batch,
           stream=np.array([0, -3, 1]))
    raises(ValueError, r"stream .* got 18446744073709551616", logitkit.sample, LOGITS,
           stream=2 ** 64)
    raises(ValueError, r"does not broadcast", logitkit.sample, batch, stream=[1, 2])
    assert logitkit.sample(LOGITS, stream=2 ** 64 - 1) == logitkit.sample(
        LOGITS, stream=np.uint64(2 ** 64 - 1))


def test_reduction_and_option_names():
    t = np.array([0, 1])
    raises(ValueError, r"reduction must be one of .* got 'avg'", logitkit.cross_entropy, X, t,
           reduction="avg")
    raises(ValueError, r"reduction must be 'none', 'mean' or 'sum' .* got 'batchmean'",
           logitkit.cross_entropy, X, t, reduction="batchmean")
    raises(ValueError, r"reduction must be one of .* got 'Mean'", logitkit.distillation_loss, X,
           X, reduction="Mean")
    raises(ValueError, r"divergence must be one of .* got 'kl'", logitkit.distillation_loss, X,
           X, divergence="kl")
    raises(ValueError, r"reduction must be one of .* got None", logitkit.cross_entropy, X, t,
           reduction=None)
    raises(TypeError, r"label_smoothing must be a real number, got '0.1'",
           logitkit.cross_entropy, X, t, label_smoothing="0.1")
    raises(ValueError, r"ignore_index .* got 9223372036854775808", logitkit.cross_entropy, X, t,
           ignore_index=2 ** 63)
    raises(ValueError, r"block .* got -1", logitkit.contrastive_loss, X, X, block=-1)


def test_unsigned_targets_that_would_wrap():
    x = np.zeros((2, 3))
    wrap = np.array([0, 2 ** 64 - 100], np.uint64)  # as int64: -100, the default ignore_index
    raises(ValueError, r"target holds 18446744073709551516 \(uint64\), beyond int64: it would "
                       r"wrap to -100", logitkit.cross_entropy, x, wrap)
    raises(ValueError, r"target holds 18446744073709551516", logitkit.distillation_loss, x, x,
           alpha=0.5, target=wrap)
    ok = np.array([0, 2], np.uint64)
    assert logitkit.cross_entropy(x, ok) == logitkit.cross_entropy(x, np.array([0, 2]))
    raises(ValueError, r"target", logitkit.cross_entropy, x, np.array([0, 3], np.uint8))


def test_masked_arrays_are_refused():
    m = np.ma.masked_array([[1.0, 2.0, 3.0]], mask=[[False, True, False]])
    for fn in (logitkit.softmax, logitkit.log_softmax, logitkit.logsumexp, logitkit.sample):
        raises(TypeError, r"x is a numpy.ma.MaskedArray|logits is a numpy.ma.MaskedArray", fn, m)
    raises(TypeError, r"logits is a numpy.ma.MaskedArray.*np.ma.filled",
           logitkit.cross_entropy, m, np.array([0]))
    raises(TypeError, r"target is a numpy.ma.MaskedArray", logitkit.cross_entropy,
           np.zeros((1, 3)), np.ma.masked_array([0], mask=[True]))
    # What the message suggests gives the masked semantics.
    np.testing.assert_array_equal(logitkit.softmax(np.ma.filled(m, -np.inf))[0, 1], 0.0)


def test_temperature_errors_come_from_the_library():
    """The library validates temperature (one message everywhere); Python only checks the type."""
    for fn in (lambda t: logitkit.softmax(X, temperature=t),
               lambda t: logitkit.cross_entropy(X, np.array([0, 1]), temperature=t),
               lambda t: logitkit.distillation_loss(X, X, temperature=t),
               lambda t: logitkit.sample(LOGITS, temperature=t)):
        with pytest.raises(ValueError, match="temperature") as info:
            fn(-1.0)
        assert "must be in [" not in str(info.value)  # not a Python-side range message
