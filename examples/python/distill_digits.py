#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Knowledge distillation in miniature (Hinton, Vinyals and Dean, 2015) on real data.

The handwritten digits of scikit-learn (`load_digits`: 1797 8x8 images, 10 classes) are split
into a training set (1200 images) and a test set (597). A teacher MLP (64-128-128-10) learns the
whole training set with logitkit.torch's cross-entropy. A small student (64-12-10) then learns
from only the first --student-examples training images, twice over:

  * on the hard labels alone (cross-entropy), and
  * distilled from the teacher at each temperature tau in {1, 2, 4, 8, 20}: logitkit.torch's
    distillation loss, tau^2 KL(softmax(teacher / tau) || softmax(student / tau)), plus
    alpha = 0.5 times the hard-label cross-entropy (logitkit's `alpha` term).

It prints the test accuracies as a table and plots student accuracy against tau
(distill_digits.png). With --compare-torch the whole run is repeated with PyTorch's own losses
(F.cross_entropy, F.kl_div of log_softmax / softmax) from the same seed, and the largest
difference between the two runs' losses, step by step, must be below 1e-5 (exit status 1
otherwise).

The models and losses run in float64 by default (--dtype float32 is available): the comparison
then measures the two implementations of the losses rather than float32 rounding. In float32,
PyTorch's own KL at tau = 20 is computed with an absolute error near 1e-4 once multiplied by
tau^2 = 400 (p (log p - log q) summed in float32 over near-uniform distributions), which is
above the 1e-5 that the comparison requires.

Usage: /usr/bin/python3 examples/python/distill_digits.py [--compare-torch] [--out DIR]
(with the package installed, or PYTHONPATH=<build>/python).
"""
import argparse
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

import logitkit
import logitkit.torch as lt

TAUS = (1.0, 2.0, 4.0, 8.0, 20.0)
TEACHER = [64, 128, 128, 10]
STUDENT = [64, 12, 10]
ALPHA = 0.5


def data(seed, dtype):
    digits = load_digits()
    x = torch.tensor(digits.data / 16.0, dtype=dtype)
    y = torch.tensor(digits.target, dtype=torch.int64)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    train, test = order[:1200], order[1200:]
    return x[train], y[train], x[test], y[test]


def mlp(sizes, seed, dtype):
    torch.manual_seed(seed)
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers).to(dtype)


def hard_loss(impl, logits, y):
    if impl == "logitkit":
        return lt.cross_entropy(logits, y)
    return F.cross_entropy(logits, y)


def distill_loss(impl, s, t, y, tau):
    if impl == "logitkit":
        return lt.distillation_loss(s, t, tau, alpha=ALPHA, target=y)
    kd = F.kl_div(F.log_softmax(s / tau, -1), F.softmax(t / tau, -1), reduction="batchmean")
    return kd * tau * tau + ALPHA * F.cross_entropy(s, y)


def train(model, x, y, loss_fn, epochs, lr, seed, batch=64):
    """Minibatch SGD with momentum; returns the loss of every step."""
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    g = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), batch):
            idx = order[i:i + batch]
            opt.zero_grad()
            loss = loss_fn(model(x[idx]), idx)
            loss.backward()
            opt.step()
            losses.append(loss.item())
    return losses


def accuracy(model, x, y):
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def run(impl, args):
    """The whole experiment with one implementation of the losses; (accuracies, step losses)."""
    dtype = getattr(torch, args.dtype)
    xtr, ytr, xte, yte = data(args.seed, dtype)
    losses = {}
    teacher = mlp(TEACHER, args.seed, dtype)
    losses["teacher"] = train(teacher, xtr, ytr, lambda out, i: hard_loss(impl, out, ytr[i]),
                              args.teacher_epochs, 0.05, args.seed)
    acc = {"teacher": accuracy(teacher, xte, yte)}
    teacher.eval()
    with torch.no_grad():
        soft = teacher(xtr)  # the teacher's logits on the training images (constants)
    n = args.student_examples
    xs, ys, ts = xtr[:n], ytr[:n], soft[:n]
    student = mlp(STUDENT, args.seed + 1, dtype)
    losses["hard"] = train(student, xs, ys, lambda out, i: hard_loss(impl, out, ys[i]),
                           args.student_epochs, 0.05, args.seed + 1)
    acc["hard"] = accuracy(student, xte, yte)
    for tau in TAUS:
        student = mlp(STUDENT, args.seed + 1, dtype)
        key = f"tau={tau:g}"
        losses[key] = train(student, xs, ys,
                            lambda out, i, tau=tau: distill_loss(impl, out, ts[i], ys[i], tau),
                            args.student_epochs, 0.05, args.seed + 1)
        acc[key] = accuracy(student, xte, yte)
    return acc, losses


def plot(acc, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(TAUS, [100 * acc[f"tau={t:g}"] for t in TAUS], "o-", label="student, distilled")
    ax.axhline(100 * acc["hard"], color="tab:red", ls="--", label="student, hard labels only")
    ax.axhline(100 * acc["teacher"], color="tab:green", ls=":", label="teacher")
    values = [100 * v for v in acc.values()]
    ax.set_ylim(min(values) - 2, max(values) + 2)
    ax.set_xscale("log")
    ax.set_xticks(TAUS)
    ax.set_xticklabels([f"{t:g}" for t in TAUS])
    ax.set_xlabel("temperature tau")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Distillation on sklearn digits (logitkit.torch losses)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=".", help="folder for distill_digits.png")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    ap.add_argument("--teacher-epochs", type=int, default=20)
    ap.add_argument("--student-epochs", type=int, default=60)
    ap.add_argument("--student-examples", type=int, default=200)
    ap.add_argument("--compare-torch", action="store_true",
                    help="repeat with PyTorch's losses and require equal losses within 1e-5")
    args = ap.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    acc, losses = run("logitkit", args)
    print(f"logitkit {logitkit.__version__}, torch {torch.__version__}, {args.dtype}; teacher "
          f"trained on 1200 images, student on {args.student_examples}; test set 597 images")
    print(f"{'model':28s} {'test accuracy':>14s}")
    print(f"{'teacher 64-128-128-10':28s} {100 * acc['teacher']:13.2f}%")
    print(f"{'student 64-12-10, hard':28s} {100 * acc['hard']:13.2f}%")
    for tau in TAUS:
        print(f"{f'student, distilled tau={tau:g}':28s} {100 * acc[f'tau={tau:g}']:13.2f}%")
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "distill_digits.png")
    plot(acc, path)
    print(f"plot: {path}")
    status = 0
    if args.compare_torch:
        acc_t, losses_t = run("torch", args)
        worst, where = 0.0, ""
        steps = 0
        for key, ours in losses.items():
            theirs = losses_t[key]
            assert len(ours) == len(theirs)
            steps += len(ours)
            d = np.abs(np.array(ours) - np.array(theirs))
            if d.max() > worst:
                worst, where = float(d.max()), f"{key} step {int(d.argmax())}"
        print(f"PyTorch's own losses, same seed: max |loss difference| over {steps} steps = "
              f"{worst:.3g} ({where})")
        if not worst < 1e-5:
            print("FAILED: the losses differ by 1e-5 or more", file=sys.stderr)
            status = 1
    print(f"time {time.perf_counter() - start:.1f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())
