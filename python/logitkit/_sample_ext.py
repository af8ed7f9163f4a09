# SPDX-License-Identifier: Apache-2.0
"""The batch conventions of logitkit.sample: per-row streams by default, per-row histories as a
list, and ``num_samples`` draws of one distribution. Wraps the single-call sample(); every token
is the one the plain call gives for the same (row, options, seed, stream, step)."""

import functools
import inspect
import operator

import numpy as np

_CHUNK_FLOATS = 1 << 22  # rows per call for num_samples: about 16 MiB of broadcast logits


def _is_history_list(history):
    return (isinstance(history, (list, tuple)) and len(history) > 0 and
            all(h is None or (hasattr(h, "__len__") and not isinstance(h, (str, bytes)))
                for h in history))


def _collect(results, batch):
    """Per-row results (a token, or a tuple) into arrays of the batch shape."""
    if not isinstance(results[0], tuple):
        return np.asarray(results, dtype=np.int32).reshape(batch)
    parts = list(zip(*results))
    out = [np.asarray(parts[0], dtype=np.int32).reshape(batch),
           np.asarray(parts[1], dtype=np.float32).reshape(batch)]
    for extra in parts[2:]:
        stacked = np.stack(extra)
        out.append(stacked.reshape(batch + stacked.shape[1:]))
    return tuple(out)


def extend_sample(original):
    @functools.wraps(original)
    def sample(logits, *args, stream=None, step=0, history=None, num_samples=None, **kwargs):
        x = np.asarray(logits)
        if num_samples is not None:
            n = operator.index(num_samples)
            if n < 1:
                raise ValueError(f"num_samples must be >= 1, got {n}")
            if x.ndim != 1:
                raise ValueError("num_samples draws many tokens from one row: logits must be 1-D, "
                                 f"got shape {x.shape}")
            if kwargs.get("top_logprobs", 0):
                raise ValueError("num_samples does not combine with top_logprobs")
            step0 = operator.index(step)
            if step0 < 0 or step0 + n > 2 ** 64:
                raise ValueError(f"steps {step0} .. {step0} + {n} - 1 must lie in [0, 2**64)")
            s = 0 if stream is None else stream
            chunk = max(1, _CHUNK_FLOATS // max(x.shape[0], 1))
            parts = []
            for begin in range(0, n, chunk):
                c = min(chunk, n - begin)
                steps = np.arange(c, dtype=np.uint64) + np.uint64(step0 + begin)
                parts.append(original(np.broadcast_to(x, (c, x.shape[0])), *args, stream=s,
                                      step=steps, history=history, **kwargs))
            if isinstance(parts[0], tuple):
                return tuple(np.concatenate(p) for p in zip(*parts))
            return np.concatenate(parts)
        if x.ndim <= 1:
            return original(logits, *args, stream=0 if stream is None else stream, step=step,
                            history=history, **kwargs)
        batch = x.shape[:-1]
        rows = int(np.prod(batch))
        if stream is None:  # row i draws from stream i
            stream = np.arange(rows, dtype=np.uint64).reshape(batch)
        if not _is_history_list(history):
            return original(logits, *args, stream=stream, step=step, history=history, **kwargs)
        if len(history) != rows:
            raise ValueError(f"history has {len(history)} per-row histories but logits has "
                             f"{rows} rows")
        flat = x.reshape(rows, x.shape[-1])
        streams = np.broadcast_to(np.asarray(stream), batch).reshape(-1)
        steps = np.broadcast_to(np.asarray(step), batch).reshape(-1)
        results = [original(flat[r], *args, stream=int(streams[r]), step=int(steps[r]),
                            history=history[r], **kwargs) for r in range(rows)]
        return _collect(results, batch)

    # The signature users see (help(), inspect, the .pyi stub): stream defaults to None (per-row
    # streams), and num_samples comes last.
    sig = inspect.signature(original)
    params = [p.replace(default=None) if p.name == "stream" else p for p in sig.parameters.values()]
    params.append(inspect.Parameter("num_samples", inspect.Parameter.KEYWORD_ONLY, default=None))
    sample.__signature__ = sig.replace(parameters=params)
    sample.__doc__ = (original.__doc__ or "") + """
    Batches (2-D or more): ``stream=None`` (the default) draws row i (in C order) from stream i;
    ``history`` may be a list with one history per row (each a sequence of token ids or None).
    ``num_samples=n`` (1-D logits): an int32 array of n draws of the same distribution, at steps
    ``step`` .. ``step + n - 1`` (with return_logprob, also their log-probabilities).
    """
    return sample
