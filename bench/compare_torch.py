#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# Side by side: logitkit (Python module) and PyTorch (CPU) on the same arrays, 1 and 2 threads.
"""Times logitkit and PyTorch on the same NumPy arrays and prints ms per call and the ratio.

Usage: PYTHONPATH=<build>/python /usr/bin/python3 bench/compare_torch.py [--quick] [--rows N]

Every case is timed as users call it ("fresh": each call allocates its result) and, both
libraries accept an output buffer, with memory reused ("out=": logitkit's out=, torch's
_softmax / _log_softmax / logsumexp out= overloads).
The reported figure is the median of the repeats. ratio = torch / logitkit (> 1: logitkit faster).
"""
import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

import logitkit

V = 128256


def median_ms(fn, repeats, min_time=0.2):
    fn()  # warm up (allocations, thread pools, page faults)
    times = []
    start = time.perf_counter()
    while len(times) < repeats or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) >= 10 * repeats:
            break
    return 1e3 * statistics.median(times)


def cases(rows):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows, V), dtype=np.float32) * 3
    t = rng.standard_normal((rows, V), dtype=np.float32) * 3
    target = rng.integers(0, V, rows)
    tx, tt, ttarget = torch.from_numpy(x), torch.from_numpy(t), torch.from_numpy(target)
    y = np.empty_like(x)
    ty = torch.from_numpy(y)
    lse = np.empty(rows, np.float32)
    tlse = torch.from_numpy(lse)
    tau = 0.8

    def torch_ce():
        a = tx.detach().requires_grad_()
        F.cross_entropy(a, ttarget).backward()
        return a.grad

    def torch_kd():
        a = tx.detach().requires_grad_()
        loss = F.kl_div(F.log_softmax(a / 2.0, -1), F.softmax(tt / 2.0, -1),
                        reduction="batchmean") * 4.0
        loss.backward()
        return a.grad

    row = x[0]
    trow = tx[0]

    def torch_sample():
        return torch.multinomial(torch.softmax(trow / tau, -1), 1)

    def torch_topk_topp():
        v, i = torch.topk(trow / tau, 40)
        p = torch.softmax(v, -1)
        keep = torch.cumsum(p, -1) - p < 0.9
        p = p * keep
        return i[torch.multinomial(p / p.sum(), 1)]

    yield (f"softmax [{rows}, {V}] fresh", lambda th: logitkit.softmax(x, threads=th),
           lambda: torch.softmax(tx, -1))
    yield (f"softmax [{rows}, {V}] out=", lambda th: logitkit.softmax(x, threads=th, out=y),
           lambda: torch._softmax(tx, -1, False, out=ty))
    yield (f"log_softmax [{rows}, {V}] fresh", lambda th: logitkit.log_softmax(x, threads=th),
           lambda: torch.log_softmax(tx, -1))
    yield (f"log_softmax [{rows}, {V}] out=",
           lambda th: logitkit.log_softmax(x, threads=th, out=y),
           lambda: torch._log_softmax(tx, -1, False, out=ty))
    yield (f"logsumexp [{rows}, {V}] out=", lambda th: logitkit.logsumexp(x, threads=th, out=lse),
           lambda: torch.logsumexp(tx, -1, out=tlse))
    yield (f"cross_entropy fwd+bwd [{rows}, {V}]",
           lambda th: logitkit.cross_entropy(x, target, threads=th, return_grad=True), torch_ce)
    yield (f"distillation fwd+bwd [{rows}, {V}] tau=2",
           lambda th: logitkit.distillation_loss(x, t, temperature=2.0, threads=th,
                                                 return_grad=True), torch_kd)
    yield (f"sample tau={tau} [{V}]",
           lambda th: logitkit.sample(row, temperature=tau, seed=1), torch_sample)
    yield (f"sample top-k 40, top-p 0.9 [{V}]",
           lambda th: logitkit.sample(row, temperature=tau, top_k=40, top_p=0.9, seed=1),
           torch_topk_topp)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=32, help="rows of the [rows, 128256] arrays")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", default="1,2")
    args = ap.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    print(f"logitkit {logitkit.__version__} (target {logitkit.targets()['chosen']}), "
          f"torch {torch.__version__}; median ms per call; ratio = torch / logitkit")
    print(f"{'case':44s} {'thr':>3s} {'logitkit':>10s} {'torch':>10s} {'ratio':>7s}")
    for name, ours, theirs in cases(args.rows):
        for th in threads:
            torch.set_num_threads(th)
            a = median_ms(lambda: ours(th), args.repeats)
            b = median_ms(theirs, args.repeats)
            print(f"{name:44s} {th:3d} {a:10.3f} {b:10.3f} {b / a:7.2f}", flush=True)


if __name__ == "__main__":
    main()
