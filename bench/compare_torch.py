#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# Side by side: logitkit (Python module) and PyTorch (CPU) on the same arrays, 1 and 2 threads.
"""Times logitkit and PyTorch on the same arrays and prints ms per call and the ratio.

Usage: PYTHONPATH=<build>/python /usr/bin/python3 bench/compare_torch.py [--quick] [--rows N]
       [--autograd-shapes 512x128256,4096x32000] [--threads 1,2]

Two parts:
1. The NumPy API beside torch's functions on [rows, 128256] float32: every case timed as users
   call it ("fresh": each call allocates its result) and, where both libraries accept an output
   buffer, with memory reused ("out=": logitkit's out=, torch's _softmax / _log_softmax /
   logsumexp out= overloads).
2. Training losses through autograd, forward + backward, on each --autograd-shapes [N, V]
   float32: logitkit.torch.cross_entropy against F.cross_entropy, and
   logitkit.torch.distillation_loss (tau = 2) against F.kl_div(F.log_softmax(s / 2),
   F.softmax(t / 2), 'batchmean') * 4; each call takes a fresh leaf tensor over the same
   logits and runs loss.backward(), so autograd's overhead and the gradient's allocation count
   on both sides.
The reported figure is the median of the repeats. ratio = torch / logitkit (> 1: logitkit faster).
--quick: 8 rows in part 1 and [64, 128256], [256, 32000] in part 2 (a smoke test of the script).
"""
import argparse
import itertools
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

import logitkit
import logitkit.torch as lt

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


def autograd_cases(shapes):
    for rows, vocab in shapes:
        g = torch.Generator().manual_seed(0)
        x = torch.randn(rows, vocab, generator=g) * 3
        t = torch.randn(rows, vocab, generator=g) * 3
        target = torch.randint(0, vocab, (rows,), generator=g)

        def run(loss_fn):
            a = x.detach().requires_grad_()
            loss_fn(a).backward()
            return a.grad

        def kd_torch(a):
            return F.kl_div(F.log_softmax(a / 2.0, -1), F.softmax(t / 2.0, -1),
                            reduction="batchmean") * 4.0

        yield (f"autograd cross_entropy [{rows}, {vocab}]",
               lambda th: run(lambda a: lt.cross_entropy(a, target, threads=th)),
               lambda: run(lambda a: F.cross_entropy(a, target)))
        yield (f"autograd distillation [{rows}, {vocab}] tau=2",
               lambda th: run(lambda a: lt.distillation_loss(a, t, 2.0, threads=th)),
               lambda: run(kd_torch))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=32, help="rows of the [rows, 128256] arrays")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--autograd-shapes", default="512x128256,4096x32000",
                    help="comma-separated NxV shapes of the autograd part ('' skips it)")
    ap.add_argument("--quick", action="store_true", help="small sizes: checks that it runs")
    ap.add_argument("--autograd-only", action="store_true", help="skip the NumPy API part")
    args = ap.parse_args()
    if args.quick:
        args.rows, args.repeats, args.autograd_shapes = 8, 2, "64x128256,256x32000"
    threads = [int(t) for t in args.threads.split(",")]
    shapes = [tuple(int(n) for n in s.split("x")) for s in args.autograd_shapes.split(",") if s]
    print(f"logitkit {logitkit.__version__} (target {logitkit.targets()['chosen']}), "
          f"torch {torch.__version__}; median ms per call; ratio = torch / logitkit")
    print(f"{'case':44s} {'thr':>3s} {'logitkit':>10s} {'torch':>10s} {'ratio':>7s}")
    first = iter(()) if args.autograd_only else cases(args.rows)
    for name, ours, theirs in itertools.chain(first, autograd_cases(shapes)):
        for th in threads:
            torch.set_num_threads(th)
            a = median_ms(lambda: ours(th), args.repeats)
            b = median_ms(theirs, args.repeats)
            print(f"{name:44s} {th:3d} {a:10.3f} {b:10.3f} {b / a:7.2f}", flush=True)


if __name__ == "__main__":
    main()
