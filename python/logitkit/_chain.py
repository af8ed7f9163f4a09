# SPDX-License-Identifier: Apache-2.0
"""logitkit.SamplerChain: the sampler stages of llama.cpp and Hugging Face in any order.

The C++ library does the work (include/logitkit/sampler_chain.h, docs/sampling.md); this layer
checks and converts the arguments. Stage names and parameters are the same as the C++ API and the
CLI's ``--chain``: penalties, dry, top_k, typical, top_p, min_p, xtc, top_n_sigma, epsilon, eta,
temp, dynatemp, mirostat, mirostat_v2.
"""

import operator

import numpy as np

from ._logitkit import chain as _c

_U64 = 2 ** 64
_I32 = 2 ** 31
_FLOATS = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))


def _logits(x, ndim_ok=(1, 2)):
    a = np.asarray(x)
    if a.dtype not in _FLOATS:
        raise TypeError(f"logits must have dtype float16, float32 or float64, got {a.dtype}")
    if a.ndim not in ndim_ok:
        raise ValueError(f"logits must have {' or '.join(map(str, ndim_ok))} dimensions, "
                         f"got shape {a.shape}")
    return np.ascontiguousarray(a, dtype=np.float32)


def _u64(v, name):
    try:
        i = operator.index(v)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(v).__name__}") from None
    if not 0 <= i < _U64:
        raise ValueError(f"{name} must be in [0, 2**64), got {i}")
    return i


def _u64_list(v, name, rows):
    if isinstance(v, (list, tuple, np.ndarray)):
        out = [_u64(x, f"{name}[{j}]") for j, x in enumerate(v)]
        if len(out) != rows:
            raise ValueError(f"{name} has {len(out)} entries but logits has {rows} rows")
        return out
    return [_u64(v, name)]


def _history(h, name):
    if h is None:
        return []
    if isinstance(h, (str, bytes)) or not hasattr(h, "__iter__"):
        raise TypeError(f"{name} must be a sequence of token ids, got {type(h).__name__}")
    out = []
    for j, t in enumerate(h):
        try:
            i = operator.index(t)
        except TypeError:
            raise TypeError(f"{name}[{j}] must be an integer token id, "
                            f"got {type(t).__name__}") from None
        if not -_I32 <= i < _I32:
            raise ValueError(f"{name}[{j}] ({i}) is outside [0, vocabulary)")
        out.append(i)
    return out


def _bias(logit_bias):
    """{token: bias} -> [(token, bias)] (ids in int32; range and NaN checked by the library)."""
    if logit_bias is None:
        return []
    if not isinstance(logit_bias, dict):
        raise TypeError("logit_bias must be a dict {token: bias}, "
                        f"got {type(logit_bias).__name__}")
    out = []
    for t, b in logit_bias.items():
        try:
            i = operator.index(t)
        except TypeError:
            raise TypeError(f"logit_bias keys must be integer token ids, got {t!r}") from None
        if not -_I32 <= i < _I32:
            raise ValueError(f"logit_bias token {i} is outside [0, vocabulary)")
        if isinstance(b, bool) or not isinstance(b, (int, float, np.integer, np.floating)):
            raise TypeError(f"logit_bias[{i}] must be a number, got {b!r}")
        out.append((i, float(b)))
    return out


def _stages(stages):
    if isinstance(stages, str):
        return stages
    if not isinstance(stages, (list, tuple)):
        raise TypeError("stages must be a spec string (e.g. 'top_k=40,temp=0.8') or a list of "
                        f"(name, {{param: value}}) pairs, got {type(stages).__name__}")
    out = []
    for j, item in enumerate(stages):
        if (not isinstance(item, (list, tuple)) or len(item) != 2 or
                not isinstance(item[0], str) or not isinstance(item[1], dict)):
            raise TypeError(f"stages[{j}] must be a (name, {{param: value}}) pair, got {item!r}")
        params = {}
        for k, v in item[1].items():
            if not isinstance(k, str):
                raise TypeError(f"stages[{j}] ({item[0]}): parameter names are strings, got {k!r}")
            if k == "sequence_breakers":
                params[k] = [_history(b, f"stages[{j}] ({item[0]}): sequence_breakers[{i}]")
                             for i, b in enumerate(v)]
            elif isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
                raise TypeError(f"stages[{j}] ({item[0]}): {k} must be a number, got {v!r}")
            else:
                params[k] = float(v)
        out.append((item[0], params))
    return out


class SamplerChain:
    """A chain of sampling stages, each seeing the survivors of the one before.

    ``stages``: the CLI's spec string (``"penalties,top_k=40,top_p=0.95,temp=0.8"``; one-number
    stages ``name=value``, several numbers ``name=a:b``) or a list of ``(name, {param: value})``
    pairs (``[("top_k", {"k": 40}), ("temp", {"t": 0.8})]``; dry also takes
    ``"sequence_breakers": [[id, ...], ...]``). Unknown stages or parameters, values out of range
    and misplaced stages raise ValueError naming the stage and the value.

    Example:
      >>> chain = logitkit.SamplerChain("top_k=2,temp=0.5")
      >>> chain.distribution(np.array([2.0, 1.0, 0.0], np.float32)).round(4)
      array([0.8808, 0.1192, 0.    ], dtype=float32)
      >>> chain.sample(np.array([2.0, 1.0, 0.0], np.float32), seed=7, step=0) in (0, 1)
      True
    """

    def __init__(self, stages):
        self._chain = _c.SamplerChain(_stages(stages))

    @property
    def spec(self):
        """The canonical spec, every parameter written out."""
        return self._chain.spec

    @property
    def has_mirostat(self):
        return self._chain.has_mirostat

    @property
    def initial_mu(self):
        """Mirostat's starting mu (2 * tau); NaN without mirostat."""
        return self._chain.initial_mu

    def __repr__(self):
        return f"SamplerChain({self.spec!r})"

    def distribution(self, logits, history=None, *, seed=0, stream=0, step=0, mu=None,
                     logit_bias=None):
        """Final probabilities over the whole vocabulary (0 for removed tokens), float32.

        1-D logits: ``history`` is a sequence of token ids. 2-D logits [rows, V]: ``history`` is
        None or a list of per-row histories, and the result is [rows, V]. ``stream``/``step``
        matter only for xtc's coin; ``mu`` (mirostat's state) is only read (None: 2 * tau).
        ``logit_bias``: {token: bias} added to the logits before the first stage.
        """
        bias = _bias(logit_bias)
        x = _logits(logits)
        seed = _u64(seed, "seed")
        mu = float("nan") if mu is None else float(mu)
        if x.ndim == 1:
            return self._chain.distribution(x, _history(history, "history"), seed,
                                            _u64(stream, "stream"), _u64(step, "step"), mu, bias)
        hists = self._row_histories(history, x.shape[0])
        streams = _u64_list(stream, "stream", x.shape[0])
        steps = _u64_list(step, "step", x.shape[0])
        out = np.empty(x.shape, dtype=np.float32)
        for r in range(x.shape[0]):
            out[r] = self._chain.distribution(
                x[r], hists[r] if hists else [], seed, streams[r if len(streams) > 1 else 0],
                steps[r if len(steps) > 1 else 0], mu, bias)
        return out

    def sample(self, logits, *, seed, step, stream=None, history=None, mu=None,
               num_samples=None, logit_bias=None, threads=0):
        """Draws tokens; the same (seed, stream, step) give the same token everywhere.

        1-D logits: one token (an int) from stream ``stream`` (default 0); with
        ``num_samples=n``, an int32 array of n independent draws of the same distribution (steps
        ``step`` .. ``step + n - 1``). 2-D logits [rows, V]: an int32 array, row i drawing from
        stream i unless ``stream`` gives one per row (or one for all); ``history`` is None or a
        list of per-row histories; ``step`` an int or one per row. Mirostat chains return
        ``(token, mu)`` (2-D: ``(tokens, mus)``): pass the returned mu back at the next step
        (``mu=None`` starts at 2 * tau). ``logit_bias``: {token: bias}, every row.
        """
        x = _logits(logits)
        if x.ndim == 2:
            if num_samples is not None:
                raise ValueError("num_samples is for 1-D logits (many draws of one distribution)")
            return sample_chains(self, x, seed=seed, step=step, stream=stream, history=history,
                                 mu=mu, logit_bias=logit_bias, threads=threads)
        seed = _u64(seed, "seed")
        bias = _bias(logit_bias)
        if x.ndim == 1:
            if num_samples is not None:
                n = operator.index(num_samples)
                if n < 1:
                    raise ValueError(f"num_samples must be >= 1, got {n}")
                if self.has_mirostat:
                    raise ValueError("num_samples draws many tokens from one distribution, but "
                                     "mirostat's state changes with every token: call sample() "
                                     "once per step")
                step0 = _u64(step, "step")
                if step0 + n > _U64:
                    raise ValueError(f"step + num_samples ({step0} + {n}) exceeds 2**64")
                return _c.sample_many(self._chain, x, _history(history, "history"), seed,
                                      _u64(0 if stream is None else stream, "stream"), step0, n,
                                      bias)
            s = 0 if stream is None else _u64(stream, "stream")
            mus = [float("nan") if mu is None else float(mu)] if self.has_mirostat else []
            tokens, _, new_mu = _c.sample_rows(
                [self._chain], x[None, :], [_history(history, "history")], [seed], [s],
                [_u64(step, "step")], mus, bias, threads)
            if self.has_mirostat:
                return int(tokens[0]), float(new_mu[0])
            return int(tokens[0])

    @staticmethod
    def _row_histories(history, rows):
        if history is None:
            return []
        if not isinstance(history, (list, tuple)):
            raise TypeError("history for 2-D logits must be a list of per-row histories "
                            f"(one sequence of token ids per row), got {type(history).__name__}")
        if len(history) != rows:
            raise ValueError(f"history has {len(history)} rows but logits has {rows}")
        out = []
        for r, h in enumerate(history):
            if h is not None and not isinstance(h, (str, bytes)) and not hasattr(h, "__iter__"):
                raise TypeError("history for 2-D logits must be a list of per-row histories, "
                                f"but history[{r}] is {type(h).__name__}")
            out.append(_history(h, f"history[{r}]"))
        return out


def sample_chains(chains, logits, *, seed, step, stream=None, history=None, mu=None,
                  logit_bias=None, threads=0):
    """Draws one token per row of 2-D ``logits`` [rows, V] with per-row state.

    ``chains``: one SamplerChain for every row, or a list with one per row (per-row params).
    ``history``: None or a list of per-row histories (each a sequence of token ids, or None).
    ``seed`` and ``step``: an int or one per row. ``stream``: None (row i draws from stream i),
    an int, or one per row. ``mu``: mirostat's per-row state (None: 2 * tau). Returns the int32
    tokens, or ``(tokens, mus)`` when a chain ends in mirostat. Rows run on ``threads`` threads
    (0: the library's default); each row's token is the single-row call's.

    Example:
      >>> greedy = logitkit.SamplerChain("temp=0")
      >>> logitkit.sample_chains(greedy, np.array([[0.0, 1.0], [1.0, 0.0]], np.float32),
      ...                        seed=1, step=0)
      array([1, 0], dtype=int32)
    """
    x = _logits(logits, ndim_ok=(2,))
    rows = x.shape[0]
    if isinstance(chains, SamplerChain):
        chain_list = [chains]
    elif isinstance(chains, (list, tuple)) and all(isinstance(c, SamplerChain) for c in chains):
        chain_list = list(chains)
        if len(chain_list) != rows:
            raise ValueError(f"chains has {len(chain_list)} entries but logits has {rows} rows")
    else:
        raise TypeError("chains must be a SamplerChain or a list of them (one per row)")
    hists = SamplerChain._row_histories(history, rows)
    seeds = _u64_list(seed, "seed", rows)
    streams = [] if stream is None else _u64_list(stream, "stream", rows)
    steps = _u64_list(step, "step", rows)
    mirostat = any(c.has_mirostat for c in chain_list)
    mus = []
    if mirostat:
        if mu is None:
            mus = [float("nan")] * rows
        else:
            m = np.asarray(mu, dtype=np.float64)
            if m.ndim > 1 or (m.ndim == 1 and m.shape[0] != rows):
                raise ValueError(f"mu must be a number or one per row ({rows}), "
                                 f"got shape {m.shape}")
            mus = [float(v) for v in np.broadcast_to(m, (rows,))]
    tokens, _, new_mus = _c.sample_rows([c._chain for c in chain_list], x, hists, seeds, streams,
                                        steps, mus, _bias(logit_bias), threads)
    if mirostat:
        return tokens, new_mus
    return tokens
