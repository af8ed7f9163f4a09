#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# Computes the golden values of tests/data/loss/*.txt with PyTorch (float64, autograd).
#
# Run with Debian's interpreter (apt-get install python3-torch):
#   /usr/bin/python3 scripts/gen_loss_golden.py tests/data/loss
# Each record: "case NAME", then "key values..." lines, then "end". Floats are printed with 17
# significant digits (exact round trip of float64); inputs are float32-representable.
import math
import sys

import torch
import torch.nn.functional as F

torch.manual_seed(1234)
DT = torch.float64


def f32(t):
    """Rounds to float32 and back, so that the C++ float path sees the same inputs."""
    return t.to(torch.float32).to(DT)


def fmt(values):
    return " ".join("%.17g" % v for v in values)


def emit(out, name, fields):
    out.write("case %s\n" % name)
    for key, vals in fields:
        if isinstance(vals, (list, tuple)):
            out.write("%s %s\n" % (key, fmt(vals)))
        else:
            out.write("%s %s\n" % (key, vals))
    out.write("end\n")


def flat(t):
    return [float(v) for v in t.reshape(-1).tolist()]


def ce_case(out, name, n, c, *, reduction="mean", ignore_index=-100, weight=None, eps=0.0,
            smoothing="pytorch", z_loss=0.0, softcap=0.0, tau=1.0, prob=False, targets=None,
            x=None, spread=3.0, empty_mean="nan"):
    if x is None:
        x = f32(torch.randn(n, c, dtype=DT) * spread)
    x = x.clone().requires_grad_(True)
    w = None if weight is None else torch.tensor(weight, dtype=DT)
    if prob:
        y = torch.rand(n, c, dtype=DT)
        y = f32(y / y.sum(1, keepdim=True))
        t = y
    else:
        t = torch.tensor(targets if targets is not None else torch.randint(0, c, (n,)).tolist(),
                         dtype=torch.int64)
    z = softcap * torch.tanh(x / softcap) if softcap > 0 else x
    u = z / tau
    lse = torch.logsumexp(u, dim=1)
    if smoothing == "pytorch":
        row = F.cross_entropy(u, t, weight=w, ignore_index=ignore_index, reduction="none",
                              label_smoothing=eps)
    else:  # Megatron: (1 - eps) on the target, eps / (C - 1) on every other class
        logp = F.log_softmax(u, dim=1)
        ww = torch.ones(c, dtype=DT) if w is None else w
        keep = t != ignore_index
        tt = torch.where(keep, t, torch.zeros_like(t))
        q = torch.full((n, c), eps / (c - 1), dtype=DT)
        q.scatter_(1, tt[:, None], 1.0 - eps)
        row = -(q * ww[None, :] * logp).sum(1) * keep
    if prob:
        counted = torch.ones(n, dtype=torch.bool)
        den = float(n)
    else:
        counted = t != ignore_index
        ww = torch.ones(c, dtype=DT) if w is None else w
        den = float(ww[t[counted]].sum()) if counted.any() else 0.0
    row = row + z_loss * lse * lse * counted
    if reduction == "none":
        loss = row.sum()
    elif reduction == "sum":
        loss = row.sum()
    else:
        loss = row.sum() / den if den != 0 else (row.sum() * float("nan") if empty_mean == "nan" else row.sum() * 0)
    loss.backward()
    grad = x.grad
    fields = [("shape", "%d %d" % (n, c)), ("reduction", reduction),
              ("ignore_index", str(ignore_index)), ("eps", "%.17g" % eps),
              ("smoothing", smoothing), ("z_loss", "%.17g" % z_loss),
              ("softcap", "%.17g" % softcap), ("tau", "%.17g" % tau),
              ("empty_mean", empty_mean)]
    if w is not None:
        fields.append(("weight", flat(w)))
    if prob:
        fields.append(("y", flat(y)))
    else:
        fields.append(("target", " ".join(str(v) for v in t.tolist())))
    fields += [("x", flat(x.detach())), ("loss", [float(loss)]),
               ("row_loss", flat(row.detach())), ("lse", flat(lse.detach())),
               ("grad", flat(grad))]
    emit(out, name, fields)


def cross_entropy_cases(out):
    ce_case(out, "basic_mean", 4, 7)
    ce_case(out, "basic_sum", 4, 7, reduction="sum")
    ce_case(out, "basic_none", 5, 6, reduction="none")
    ce_case(out, "ignore_index", 5, 6, targets=[1, -100, 3, -100, 0])
    ce_case(out, "ignore_custom", 4, 6, ignore_index=2, targets=[2, 1, 2, 5])
    ce_case(out, "weights", 6, 5, weight=[0.5, 2.0, 1.0, 0.0, 3.0], targets=[0, 1, 2, 3, 4, 1])
    ce_case(out, "weights_sum", 6, 5, weight=[0.5, 2.0, 1.0, 0.25, 3.0], reduction="sum")
    ce_case(out, "smoothing", 4, 9, eps=0.1)
    ce_case(out, "smoothing_weights_ignore", 5, 6, eps=0.2, weight=[1, 2, 3, 0.5, 0.25, 1.5],
            targets=[0, -100, 5, 2, 3])
    ce_case(out, "smoothing_eps1", 3, 5, eps=1.0)
    ce_case(out, "smoothing_megatron", 4, 8, eps=0.1, smoothing="megatron")
    ce_case(out, "megatron_weights_none", 4, 5, eps=0.3, smoothing="megatron",
            weight=[1, 0.5, 2, 1, 3], reduction="none")
    ce_case(out, "z_loss", 4, 10, z_loss=1e-2)
    ce_case(out, "softcap", 4, 10, softcap=5.0, spread=8.0)
    ce_case(out, "tau_20", 3, 11, tau=20.0)
    ce_case(out, "tau_small", 3, 11, tau=0.25)
    ce_case(out, "everything", 6, 12, weight=[1 + 0.1 * i for i in range(12)], eps=0.15,
            z_loss=1e-3, softcap=4.0, tau=1.7, targets=[0, 11, -100, 5, 6, 7], spread=5.0)
    ce_case(out, "prob", 4, 7, prob=True)
    ce_case(out, "prob_weights_smoothing_sum", 4, 7, prob=True, weight=[1, 2, 0.5, 1, 0, 3, 1],
            eps=0.1, reduction="sum")
    ce_case(out, "prob_none_tau", 3, 9, prob=True, tau=2.5, reduction="none", z_loss=0.01)
    ce_case(out, "all_ignored_nan", 3, 4, targets=[-100, -100, -100])
    ce_case(out, "all_ignored_zero", 3, 4, targets=[-100, -100, -100], empty_mean="zero")
    ce_case(out, "zero_weights_nan", 3, 4, weight=[0, 0, 1, 1], targets=[0, 1, 0])
    ce_case(out, "long_row", 1, 17000, targets=[16999], spread=4.0)
    x = f32(torch.randn(3, 6, dtype=DT))
    x[0, 2] = -math.inf  # a masked entry that is not the target
    x[1, :] = -math.inf  # an all -inf row whose target is ignored
    ce_case(out, "masked", 3, 6, x=x, targets=[1, -100, 4])


def kd_case(out, name, n, c, *, tau=1.0, divergence="forward", beta=0.5, tau_squared=True,
            reduction="batchmean", teacher="logits", alpha=0.0, targets=None, s=None, t=None,
            spread=3.0):
    if s is None:
        s = f32(torch.randn(n, c, dtype=DT) * spread)
    if t is None:
        t = f32(torch.randn(n, c, dtype=DT) * spread)
    if teacher == "logprobs":
        t = f32(F.log_softmax(t / tau, dim=1))
    s = s.clone().requires_grad_(True)
    logq = F.log_softmax(s / tau, dim=1)
    logp = t if teacher == "logprobs" else F.log_softmax(t / tau, dim=1)
    if teacher == "logprobs":
        logp = logp - torch.logsumexp(logp, dim=1, keepdim=True)
    p, q = logp.exp(), logq.exp()
    if divergence == "forward":
        elem = F.kl_div(logq, logp, reduction="none", log_target=True)
    elif divergence == "reverse":
        elem = F.kl_div(logp, logq, reduction="none", log_target=True)
    else:
        logm = torch.log(beta * p + (1 - beta) * q)
        elem = beta * F.kl_div(logm, logp, reduction="none", log_target=True) + \
            (1 - beta) * F.kl_div(logm, logq, reduction="none", log_target=True)
    factor = tau * tau if tau_squared else 1.0
    row = elem.sum(1) * factor
    if reduction == "batchmean":
        loss = row.sum() / n
    elif reduction == "mean":
        loss = row.sum() / (n * c)
    else:
        loss = row.sum()
    tt = None
    if alpha > 0:
        tt = torch.tensor(targets, dtype=torch.int64)
        loss = loss + alpha * F.cross_entropy(s, tt)
    loss.backward()
    fields = [("shape", "%d %d" % (n, c)), ("tau", "%.17g" % tau), ("divergence", divergence),
              ("beta", "%.17g" % beta), ("tau_squared", "1" if tau_squared else "0"),
              ("reduction", reduction), ("teacher", teacher), ("alpha", "%.17g" % alpha)]
    if tt is not None:
        fields.append(("target", " ".join(str(v) for v in tt.tolist())))
    fields += [("student", flat(s.detach())), ("teacher_values", flat(t)), ("loss", [float(loss)]),
               ("row_loss", flat(row.detach())), ("grad", flat(s.grad))]
    emit(out, name, fields)


def distillation_cases(out):
    kd_case(out, "forward", 4, 10)
    kd_case(out, "forward_tau20", 3, 12, tau=20.0)
    kd_case(out, "forward_tau4_no_tau2_sum", 3, 12, tau=4.0, tau_squared=False, reduction="sum")
    kd_case(out, "forward_mean", 3, 5, tau=2.0, reduction="mean")
    kd_case(out, "reverse", 4, 9, tau=2.0, divergence="reverse")
    kd_case(out, "js", 4, 9, tau=1.5, divergence="js", beta=0.5)
    kd_case(out, "js_beta03", 3, 7, tau=3.0, divergence="js", beta=0.3)
    kd_case(out, "logprobs", 3, 8, tau=2.0, teacher="logprobs")
    kd_case(out, "hard_label", 4, 6, tau=4.0, alpha=0.5, targets=[1, 0, 5, 3])
    kd_case(out, "long_row", 1, 17000, tau=2.0)
    x = f32(torch.randn(2, 6, dtype=DT))
    kd_case(out, "identical", 2, 6, s=x, t=x.clone())


# --- Contrastive (CLIP) loss ------------------------------------------------------------------
# Its own generator, so that adding cases here never changes the other files' inputs.
CL_GEN = torch.Generator().manual_seed(4321)


def cl_case(out, name, b, d, *, t=math.log(1 / 0.07), normalize=True, max_scale=100.0,
            spread=1.0):
    img = f32(torch.randn(b, d, dtype=DT, generator=CL_GEN) * spread).requires_grad_(True)
    txt = f32(torch.randn(b, d, dtype=DT, generator=CL_GEN) * spread).requires_grad_(True)
    ts = torch.tensor(t, dtype=DT, requires_grad=True)
    a = F.normalize(img, dim=1) if normalize else img
    bb = F.normalize(txt, dim=1) if normalize else txt
    scale = torch.clamp(ts.exp(), max=max_scale)
    logits = scale * a @ bb.T
    labels = torch.arange(b)
    loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    loss.backward()
    emit(out, name, [("shape", "%d %d" % (b, d)), ("log_scale", [t]),
                     ("normalize", "1" if normalize else "0"), ("max_scale", [max_scale]),
                     ("image", flat(img.detach())), ("text", flat(txt.detach())),
                     ("loss", [float(loss)]), ("grad_image", flat(img.grad)),
                     ("grad_text", flat(txt.grad)), ("grad_log_scale", [float(ts.grad)])])


def contrastive_cases(out):
    cl_case(out, "clip_init", 8, 16)
    cl_case(out, "b1", 1, 5)
    cl_case(out, "no_normalize", 6, 4, normalize=False, t=0.3)
    cl_case(out, "clamped", 5, 8, t=5.0)
    cl_case(out, "small_scale", 7, 3, t=-1.0)
    cl_case(out, "odd_sizes", 37, 19, t=2.0, spread=2.0)
    cl_case(out, "no_normalize_clamped", 4, 6, normalize=False, t=4.7, spread=0.3)


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else "tests/data/loss"
    with open(outdir + "/cross_entropy.txt", "w") as out:
        out.write("# Generated by scripts/gen_loss_golden.py with PyTorch %s; do not edit.\n" %
                  torch.__version__)
        cross_entropy_cases(out)
    with open(outdir + "/distillation.txt", "w") as out:
        out.write("# Generated by scripts/gen_loss_golden.py with PyTorch %s; do not edit.\n" %
                  torch.__version__)
        distillation_cases(out)
    with open(outdir + "/contrastive.txt", "w") as out:
        out.write("# Generated by scripts/gen_loss_golden.py with PyTorch %s; do not edit.\n" %
                  torch.__version__)
        contrastive_cases(out)


if __name__ == "__main__":
    main()
