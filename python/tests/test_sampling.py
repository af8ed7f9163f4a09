# SPDX-License-Identifier: Apache-2.0
# sample / sampling_distribution: the filters against a NumPy/PyTorch reference, draws, reproducibility.
import numpy as np
import pytest
import torch

import logitkit


def ref_distribution(x, tau, top_k, top_p, min_p):
    """The documented chain in float64: rank by logit (lower index first among ties), top-k,
    top-p (shortest prefix with mass >= (top_p - 1e-6) total), min-p, renormalise."""
    order = np.lexsort((np.arange(len(x)), -x.astype(np.float64)))
    keep = np.zeros(len(x), bool)
    keep[order] = True
    p = np.exp((x.astype(np.float64) - x.max()) / tau)
    if top_k > 0:
        keep[order[top_k:]] = False
    if top_p < 1:
        ranked = [i for i in order if keep[i]]
        mass = np.cumsum(p[ranked])
        cut = int(np.searchsorted(mass, (top_p - 1e-6) * mass[-1])) + 1
        keep[:] = False
        keep[ranked[:cut]] = True
    if min_p > 0:
        keep &= (x.astype(np.float64) - x.max()) / tau >= np.log(min_p)
    q = np.where(keep, p, 0)
    return q / q.sum()


def test_distribution_matches_reference_and_hf_warpers(rng):
    """400 seeded cases of temperature, top-k, top-p, min-p; PyTorch's HF-style top-k / top-p
    warpers keep the same set."""
    for _ in range(400):
        v = int(rng.integers(2, 300))
        x = (rng.standard_normal(v) * rng.choice([0.5, 2.0, 8.0])).astype(np.float32)
        tau = float(rng.choice([0.3, 0.7, 1.0, 1.5]))
        top_k = int(rng.choice([0, 1, 5, 40]))
        top_p = float(rng.choice([1.0, 0.9, 0.5]))
        min_p = float(rng.choice([0.0, 0.05]))
        got = logitkit.sampling_distribution(x, temperature=tau, top_k=top_k, top_p=top_p,
                                             min_p=min_p)
        want = ref_distribution(x, tau, top_k, top_p, min_p)
        assert np.array_equal(got > 0, want.astype(np.float32) > 0)  # float32 underflow
        assert np.all(np.abs(got - want) <= 1e-6)
        if min_p == 0 and top_k != 1:
            # HF: TopKLogitsWarper then TopPLogitsWarper on logits / tau.
            t = torch.from_numpy(x.astype(np.float64)) / tau
            if top_k > 0:
                kth = torch.topk(t, min(top_k, v)).values[-1]
                t = t.masked_fill(t < kth, -np.inf)
            if top_p < 1:
                s, idx = torch.sort(t, descending=False)
                cum = s.softmax(-1).cumsum(-1)
                drop = cum <= (1 - top_p)
                drop[-1:] = False
                t = t.masked_fill(drop.scatter(0, idx, drop), -np.inf)
            hf = torch.softmax(t, -1).numpy()
            assert np.array_equal(got > 0, hf.astype(np.float32) > 0)
            assert np.allclose(got, hf, atol=1e-6)


def test_draws_follow_the_distribution(rng):
    x = np.array([2.0, 1.0, 0.5, 0.0, -1.0, -3.0], np.float32)
    want = logitkit.sampling_distribution(x, temperature=0.8, top_p=0.95)
    steps = np.arange(20000, dtype=np.uint64)
    batch = np.broadcast_to(x, (len(steps), len(x)))
    tokens = logitkit.sample(batch, temperature=0.8, top_p=0.95, seed=7, step=steps)
    freq = np.bincount(tokens, minlength=len(x)) / len(steps)
    assert np.all(freq[want == 0] == 0)
    sigma = np.sqrt(want * (1 - want) / len(steps))
    assert np.all(np.abs(freq - want) <= 5 * sigma + 1e-12)


def test_reproducible_and_batch_independent(rng):
    x = rng.standard_normal((8, 1000)).astype(np.float32)
    streams = np.arange(8, dtype=np.uint64) * 1000 + 3
    a = logitkit.sample(x, temperature=0.9, top_k=50, seed=11, stream=streams, step=4)
    b = logitkit.sample(x, temperature=0.9, top_k=50, seed=11, stream=streams, step=4, threads=1)
    assert np.array_equal(a, b)
    perm = rng.permutation(8)
    c = logitkit.sample(x[perm], temperature=0.9, top_k=50, seed=11, stream=streams[perm], step=4)
    assert np.array_equal(c, a[perm])
    for r in range(8):
        assert logitkit.sample(x[r], temperature=0.9, top_k=50, seed=11, stream=int(streams[r]),
                               step=4) == a[r]


def test_greedy_logprobs_and_top_logprobs():
    x = np.array([1.0, 4.0, 4.0, 2.0], np.float32)
    assert logitkit.sample(x, temperature=0.0) == 1  # lowest index among the maxima
    tok, lp = logitkit.sample(x, top_k=1, return_logprob=True)
    assert (tok, lp) == (1, 0.0)
    tok, lp, top_t, top_l = logitkit.sample(x, temperature=1.0, top_logprobs=3, seed=3)
    dist = logitkit.sampling_distribution(x)
    assert abs(lp - np.log(dist[tok])) <= 1e-6
    assert list(top_t) == [1, 2, 3]
    assert np.allclose(top_l, np.log(dist[[1, 2, 3]]), atol=1e-6)
    _, _, top_t, top_l = logitkit.sample(x, top_k=2, top_logprobs=3)
    assert top_t[2] == -1 and top_l[2] == -np.inf  # padding when fewer survive


def test_penalties_and_bias():
    x = np.array([2.0, 1.0, 0.0], np.float32)
    assert logitkit.sample(x, temperature=0.0, logit_bias={0: -np.inf}) == 1
    assert logitkit.sample(x, temperature=0.0, history=[0], repetition_penalty=4.0) == 1
    assert logitkit.sample(x, temperature=0.0, history=[0, 0, 1], frequency_penalty=1.5) == 2


def test_philox_is_the_documented_uniform():
    u = logitkit.philox_uniform(1, 2, 3)
    assert 0.0 <= u < 1.0 and u == logitkit.philox_uniform(1, 2, 3)
    assert u != logitkit.philox_uniform(1, 2, 4)


def test_sampling_errors():
    with pytest.raises(ValueError, match="NaN"):
        logitkit.sample(np.array([0.0, np.nan], np.float32))
    with pytest.raises(ValueError):
        logitkit.sample(np.full(3, -np.inf, np.float32))
    with pytest.raises(ValueError, match="top_p"):
        logitkit.sample(np.zeros(3, np.float32), top_p=1.5)
    with pytest.raises(ValueError, match="temperature"):
        logitkit.sample(np.zeros(3, np.float32), temperature=-1.0)
    with pytest.raises(TypeError, match="dtype"):
        logitkit.sample(np.zeros(3, np.complex64))
