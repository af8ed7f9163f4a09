# SPDX-License-Identifier: Apache-2.0
# Every deliberate difference from PyTorch / SciPy (docs/python.md "Differences"), shown side by side.
import numpy as np
import scipy.special
import torch
import torch.nn.functional as F

import logitkit
from conftest import assert_ulp, ref_log_softmax

NINF = -np.inf


def test_all_masked_row_zeros_by_default_nan_like_pytorch_on_request():
    x = np.array([[NINF, NINF, NINF], [0.0, 1.0, NINF]], np.float32)
    torch_y = torch.softmax(torch.from_numpy(x), -1).numpy()
    assert np.isnan(torch_y[0]).all()  # PyTorch: NaN
    y = logitkit.softmax(x)
    assert np.array_equal(y[0], np.zeros(3, np.float32))  # logitkit default: zeros
    assert np.array_equal(logitkit.log_softmax(x)[0], np.full(3, NINF, np.float32))
    nan_y = logitkit.softmax(x, empty_row="nan")
    assert np.isnan(nan_y[0]).all()  # empty_row='nan': PyTorch's answer
    assert np.allclose(nan_y[1], torch_y[1], rtol=1e-6, atol=0)
    assert logitkit.logsumexp(x)[0] == NINF == torch.logsumexp(torch.from_numpy(x), -1)[0]
    g = logitkit.softmax_backward(y, np.ones_like(y))
    assert np.array_equal(g[0], np.zeros(3, np.float32))  # no NaN gradient either


def test_plus_inf_entries_share_the_mass():
    x = np.array([np.inf, 1.0, np.inf, 0.0])
    assert np.isnan(torch.softmax(torch.from_numpy(x), -1).numpy()).all()  # PyTorch: NaN
    assert np.isnan(scipy.special.softmax(x)).all()  # SciPy: NaN
    assert np.array_equal(logitkit.softmax(x), [0.5, 0.0, 0.5, 0.0])
    assert np.array_equal(logitkit.log_softmax(x), [-np.log(2), NINF, -np.log(2), NINF])
    assert logitkit.logsumexp(x) == np.inf


def test_temperature_zero_is_the_argmax_limit():
    x = np.array([1.0, 3.0, 3.0, -2.0], np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = torch.softmax(torch.from_numpy(x) / 0.0, -1).numpy()
    assert np.isnan(t).all()  # PyTorch on x / 0: NaN
    assert np.array_equal(logitkit.softmax(x, temperature=0.0), [0.0, 0.5, 0.5, 0.0])
    ls = logitkit.log_softmax(x, temperature=0.0)
    assert np.array_equal(ls, np.array([NINF, -np.log(2), -np.log(2), NINF], np.float32))
    assert logitkit.logsumexp(x, temperature=0.0) == np.inf  # m > 0


def test_temperature_inf_is_uniform_over_unmasked_entries():
    x = np.array([1.0, NINF, 5.0, 2.0])
    t = torch.softmax(torch.from_numpy(x) / np.inf, -1).numpy()
    assert np.isnan(t).all()  # -inf / inf = NaN in PyTorch
    y = logitkit.softmax(x, temperature=np.inf)
    assert np.array_equal(y, [1 / 3, 0.0, 1 / 3, 1 / 3])


def test_winning_log_probability_is_not_rounded_to_zero():
    x = np.array([30.0, 0.0], np.float32)
    assert torch.log_softmax(torch.from_numpy(x), -1).numpy()[0] == 0.0  # PyTorch: 0
    ours = logitkit.log_softmax(x)
    assert ours[0] < 0  # the exact value is -exp(-30) ~ -9.4e-14
    assert_ulp(ours, ref_log_softmax(x, 1.0), np.float32, 2, "winner")
    x64 = np.array([40.0, 0.0])
    assert scipy.special.log_softmax(x64)[0] == 0.0  # SciPy in float64: 0 (log of 1 + 4e-18)
    assert_ulp(logitkit.log_softmax(x64), ref_log_softmax(x64, 1.0), np.float64, 2, "winner64")


def test_confident_cross_entropy_keeps_its_tiny_loss():
    x = np.array([[20.0, 0.0, 0.0]], np.float32)
    t = np.array([0])
    torch_loss = F.cross_entropy(torch.from_numpy(x), torch.from_numpy(t)).item()
    exact = float(-ref_log_softmax(x, 1.0)[0, 0])  # 2 exp(-20) ~ 4.1e-9
    assert abs(torch_loss - exact) > 0.5 * exact  # PyTorch: 0 or a wrong digit
    assert abs(logitkit.cross_entropy(x, t) - exact) <= 4 * 2.0 ** -24 * exact


def test_masked_entries_get_no_log_softmax_gradient():
    x = np.array([0.0, NINF, 1.0])
    y = logitkit.log_softmax(x)
    dy = np.array([1.0, 2.0, 3.0])
    t = torch.from_numpy(x).requires_grad_()
    torch.log_softmax(t, -1).backward(torch.from_numpy(dy))
    assert t.grad.numpy()[1] == 2.0  # PyTorch passes dy through a masked entry
    assert logitkit.log_softmax_backward(y, dy)[1] == 0.0  # logitkit: it does not depend on x


def test_defaults_that_differ():
    x = np.arange(6.0).reshape(2, 3)
    # logsumexp reduces the last axis by default (SciPy: every entry).
    assert logitkit.logsumexp(x).shape == (2,)
    assert np.isclose(logitkit.logsumexp(x, axis=None), scipy.special.logsumexp(x))
    # cross_entropy's class axis is the last by default (PyTorch: dimension 1).
    x3 = np.zeros((2, 3, 4))
    assert logitkit.cross_entropy(x3, np.zeros((2, 3), np.int64), reduction="none").shape == (2, 3)
