# SPDX-License-Identifier: Apache-2.0
# logitkit.SamplerChain: specs and stage lists, distributions against the references' expected
# values (llama.cpp tests/test-sampling.cpp, Hugging Face tests/generation/test_logits_process.py),
# draws, mirostat's state in and out, per-row histories and streams, num_samples, errors.
import numpy as np
import pytest

import logitkit


def logs(p):
    return np.log(np.asarray(p, dtype=np.float32))


def test_spec_and_stage_list_agree():
    a = logitkit.SamplerChain("penalties,dry,top_k=40,typical=0.95,top_p=0.95,min_p=0.05,"
                              "xtc=0.1:0.5,temp=0.8")
    b = logitkit.SamplerChain([("penalties", {}), ("dry", {}), ("top_k", {"k": 40}),
                               ("typical", {"p": 0.95}), ("top_p", {"p": 0.95}),
                               ("min_p", {"p": 0.05}),
                               ("xtc", {"probability": 0.1, "threshold": 0.5}),
                               ("temp", {"t": 0.8})])
    assert a.spec == b.spec
    assert "SamplerChain(" in repr(a)


def test_llama_cpp_top_p_and_min_p():
    x = logs([0.1, 0.2, 0.3, 0.4])
    np.testing.assert_allclose(logitkit.SamplerChain("top_p=0.7:0").distribution(x),
                               [0, 0, 0.428571, 0.571429], atol=1e-5)
    np.testing.assert_allclose(logitkit.SamplerChain("min_p=0.26:0").distribution(x),
                               [0, 0.2 / 0.9, 0.3 / 0.9, 0.4 / 0.9], atol=1e-5)
    np.testing.assert_allclose(logitkit.SamplerChain("top_n_sigma=1").distribution(x),
                               [0, 0, 0.428571, 0.571429], atol=1e-5)


def test_llama_cpp_dry_with_history_and_breakers():
    x = logs([0.25] * 4)
    c = logitkit.SamplerChain([("dry", {"multiplier": 1.0, "base": 1.1, "allowed_length": 2,
                                        "last_n": 5})])
    np.testing.assert_allclose(c.distribution(x, history=[0, 1, 2, 0, 1]),
                               [0.296923, 0.296923, 0.109232, 0.296923], atol=1e-5)
    c2 = logitkit.SamplerChain([("dry", {"multiplier": 1.0, "base": 1.1, "last_n": 6,
                                         "sequence_breakers": [[3]]})])
    np.testing.assert_allclose(c2.distribution(logs([0.2] * 5), history=[0, 1, 3, 4, 0, 1]),
                               [0.2] * 5, atol=1e-5)


def test_hugging_face_epsilon_eta_typical():
    np.testing.assert_allclose(
        logitkit.SamplerChain("epsilon=0.1").distribution(logs([0.87, 0.099, 0.001, 0.03])),
        [1, 0, 0, 0], atol=1e-3)
    np.testing.assert_allclose(
        logitkit.SamplerChain("eta=0.0625").distribution(logs([0.01, 0.04, 0.9, 0.05])),
        [0, 0, 1, 0], atol=1e-3)
    np.testing.assert_allclose(
        logitkit.SamplerChain("typical=0.5").distribution(logs([0.4, 0.2, 0.2, 0.2])),
        [0, 1 / 3, 1 / 3, 1 / 3], atol=1e-3)


def test_distribution_2d_takes_a_list_of_histories():
    x = np.zeros((2, 5), np.float32)
    c = logitkit.SamplerChain("penalties=-1:1:0:10")
    d = c.distribution(x, history=[[0], [4, 3]])
    assert d.shape == (2, 5)
    assert d[0, 0] < 1e-4 and d[1, 4] < 1e-4 and d[1, 3] < 1e-4 and d[1, 0] > 0.3
    with pytest.raises(TypeError, match="list of per-row histories"):
        c.distribution(x, history=np.array([0, 1]))
    with pytest.raises(ValueError, match="history has 1 rows"):
        c.distribution(x, history=[[0]])


def test_sample_matches_the_distribution():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 2, 300).astype(np.float32)
    c = logitkit.SamplerChain("top_k=50,typical=0.9,temp=0.9")
    p = c.distribution(x)
    tokens = c.sample(x, seed=3, step=0, num_samples=20000)
    assert tokens.dtype == np.int32 and tokens.shape == (20000,)
    assert np.all(p[tokens] > 0)
    counts = np.bincount(tokens, minlength=300) / 20000
    assert np.abs(counts - p).max() < 0.02
    # num_samples draws are the single draws at steps step .. step + n - 1.
    assert [c.sample(x, seed=3, step=s) for s in range(5)] == list(tokens[:5])


def test_rows_draw_from_their_own_streams_by_default():
    x = np.zeros((16, 1000), np.float32)
    c = logitkit.SamplerChain("temp=1")
    tokens = c.sample(x, seed=1, step=0)
    assert len(set(tokens.tolist())) >= 12
    for r in range(16):
        assert tokens[r] == c.sample(x[r], seed=1, step=0, stream=r)
    same = c.sample(x, seed=1, step=0, stream=7)
    assert len(set(same.tolist())) == 1


def test_mirostat_state_in_and_out():
    rng = np.random.default_rng(1)
    x = rng.normal(0, 2, 2000).astype(np.float32)
    c = logitkit.SamplerChain("mirostat_v2=3:0.1")
    assert c.initial_mu == 6.0
    mu = None
    tokens = []
    for step in range(10):
        tok, mu = c.sample(x, seed=5, step=step, mu=mu)
        tokens.append(tok)
    # Replaying with the same states gives the same tokens; a different start differs in mu.
    mu2 = None
    for step in range(10):
        tok, mu2 = c.sample(x, seed=5, step=step, mu=mu2)
        assert tok == tokens[step]
    assert mu2 == mu
    toks, mus = c.sample(np.stack([x, x]), seed=5, step=0)
    assert mus.shape == (2,) and np.all(mus != 6.0)
    with pytest.raises(ValueError, match="mirostat's state changes"):
        c.sample(x, seed=5, step=0, num_samples=3)


def test_errors_name_the_stage_and_value():
    with pytest.raises(ValueError, match='unknown stage "topk" at position 1'):
        logitkit.SamplerChain("topk=40")
    with pytest.raises(ValueError, match=r"stage 1 \(top_p\): p must be in \[0, 1\], got 1.5"):
        logitkit.SamplerChain("top_p=1.5")
    with pytest.raises(ValueError, match="repeats stage 1"):
        logitkit.SamplerChain([("top_k", {"k": 4}), ("top_k", {"k": 3})])
    with pytest.raises(ValueError, match='unknown parameter "q"'):
        logitkit.SamplerChain([("top_p", {"q": 0.5})])
    with pytest.raises(TypeError, match="must be a number"):
        logitkit.SamplerChain([("top_p", {"p": "0.5"})])
    with pytest.raises(TypeError):
        logitkit.SamplerChain(40)
    c = logitkit.SamplerChain("penalties=64:1.2,temp=1")
    x = np.zeros(10, np.float32)
    with pytest.raises(ValueError, match=r"history\[1\] \(10\) is outside \[0, 10\)"):
        c.sample(x, seed=0, step=0, history=[1, 10])
    with pytest.raises(ValueError, match=r"history\[0\] \(4294967296\)"):
        c.sample(x, seed=0, step=0, history=[2 ** 32])
    with pytest.raises(ValueError, match="seed"):
        c.sample(x, seed=-1, step=0)
    with pytest.raises(TypeError, match="dtype"):
        c.sample(np.zeros(10, np.int64), seed=0, step=0)
    x[2] = np.nan
    with pytest.raises(ValueError, match=r"logits\[2\] is NaN"):
        c.sample(x, seed=0, step=0)


def test_sample_chains_takes_per_row_chains_histories_and_seeds():
    rng = np.random.default_rng(2)
    x = rng.normal(0, 2, (3, 400)).astype(np.float32)
    chains = [logitkit.SamplerChain("top_k=5,temp=0.7"), logitkit.SamplerChain("temp=0"),
              logitkit.SamplerChain("penalties=-1:1:0:100,temp=0")]
    hist = [[1, 2], None, [int(np.argmax(x[2]))]]
    tokens = logitkit.sample_chains(chains, x, seed=[1, 2, 3], step=4, history=hist)
    assert tokens[0] == chains[0].sample(x[0], seed=1, step=4, stream=0, history=[1, 2])
    assert tokens[1] == int(np.argmax(x[1]))
    assert tokens[2] != int(np.argmax(x[2]))  # its own history's penalty
    with pytest.raises(ValueError, match="chains has 2 entries"):
        logitkit.sample_chains(chains[:2], x, seed=0, step=0)
    with pytest.raises(TypeError, match="SamplerChain"):
        logitkit.sample_chains("temp=1", x, seed=0, step=0)


def test_sample_batch_streams_histories_and_num_samples():
    x = np.zeros((16, 1000), np.float32)
    tokens = logitkit.sample(x, seed=1, step=0)
    assert len(set(tokens.tolist())) >= 12  # row i on stream i
    for r in (0, 5, 15):
        assert tokens[r] == logitkit.sample(x[r], seed=1, step=0, stream=r)
    assert len(set(logitkit.sample(x, seed=1, step=0, stream=3).tolist())) == 1
    y = np.array([[3.0, 2.9, 0.0], [3.0, 2.9, 0.0]], np.float32)
    t = logitkit.sample(y, temperature=0.0, history=[[0], []], repetition_penalty=10.0, seed=0)
    assert t.tolist() == [1, 0]
    with pytest.raises(ValueError, match="history has 1 per-row"):
        logitkit.sample(y, history=[[0]], seed=0)
    z = np.array([2.0, 1.0, 0.5, -1.0], np.float32)
    draws = logitkit.sample(z, temperature=0.8, seed=4, step=10, num_samples=5000)
    assert draws.shape == (5000,) and draws.dtype == np.int32
    assert [logitkit.sample(z, temperature=0.8, seed=4, step=10 + i) for i in range(4)] == \
        draws[:4].tolist()
    want = logitkit.sampling_distribution(z, temperature=0.8)
    assert np.abs(np.bincount(draws, minlength=4) / 5000 - want).max() < 0.03
    tok, lp = logitkit.sample(z, seed=4, step=0, num_samples=3, return_logprob=True)
    assert tok.shape == (3,) and lp.shape == (3,)


def test_logit_bias():
    x = np.zeros(5, np.float32)
    c = logitkit.SamplerChain("temp=0")
    assert c.sample(x, seed=0, step=0, logit_bias={3: 1.0}) == 3
    np.testing.assert_array_equal(c.distribution(x, logit_bias={4: 2.0}), [0, 0, 0, 0, 1])
    assert c.sample(np.zeros((2, 5), np.float32), seed=0, step=0, logit_bias={2: 1.0}).tolist() \
        == [2, 2]
    with pytest.raises(ValueError, match=r"logit_bias\[0\].token \(7\) is outside \[0, 5\)"):
        c.sample(x, seed=0, step=0, logit_bias={7: 1.0})
    with pytest.raises(ValueError, match="NaN"):
        c.distribution(x, logit_bias={1: float("nan")})
    with pytest.raises(TypeError, match="dict"):
        c.sample(x, seed=0, step=0, logit_bias=[(1, 2.0)])
