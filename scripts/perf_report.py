#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Writes docs/performance.md and docs/perf_rowlength.svg from the benches' JSON (stdlib only)."""

import argparse
import datetime
import glob
import json
import math
import os
import re
import platform
import subprocess

SHAPES = [(1, 32000), (64, 32000), (4096, 1000), (512, 128256), (65536, 10), (8, 1048576)]
IN_CACHE = [(1, 32000), (64, 32000), (4096, 1000), (65536, 10)]
SOFTMAX_PEERS = ["torch", "onednn", "xnnpack", "eigen", "plain"]
MEMORY_PEERS = ["memcpy", "stream_copy", "stream_read"]
OPS = ["softmax", "log_softmax", "logsumexp"]
SWEEP_TOTAL = 1 << 22

# Softmax goals (docs/design.md §4): (mode, shape, bound), the bound a multiple of memcpy of the
# same bytes in the same run. The in-cache goals were set as ns per element on a machine whose
# memcpy took 0.03 ([1, 32000]), 0.07 ([64, 32000], [65536, 10]) and 0.11 ([4096, 1000]) ns per
# element; they are kept here as those ratios, so that they carry over to any machine.
TARGETS = [
    ("fast", (1, 32000), 5.0), ("fast", (64, 32000), 2.14),
    ("fast", (4096, 1000), 1.82), ("fast", (65536, 10), 5.71),
    ("fast", (512, 128256), 1.2), ("fast", (8, 1048576), 1.5),
    ("accurate", (64, 32000), 3.57), ("accurate", (4096, 1000), 2.73),
    ("accurate", (65536, 10), 7.14), ("accurate", (512, 128256), 1.5),
    ("accurate", (8, 1048576), 2.0),
]


def load_json(path):
    """A bench's JSON; a file cut short by the time budget keeps its complete entries."""
    with open(path) as f:
        text = f.read()
    try:
        return json.loads(text), True
    except ValueError:
        pass
    dec = json.JSONDecoder()
    ctx = {}
    i = text.find('"context"')
    if i >= 0:
        try:
            ctx, _ = dec.raw_decode(text, text.index("{", i))
        except ValueError:
            ctx = {}
    benches = []
    i = text.find('"benchmarks"')
    if i >= 0:
        pos = text.index("[", i) + 1
        while True:
            start = text.find("{", pos)
            if start < 0:
                break
            try:
                obj, pos = dec.raw_decode(text, start)
            except ValueError:
                break
            benches.append(obj)
    return {"context": ctx, "benchmarks": benches}, False


def medians(doc):
    """run name -> the median entry (or the single run when there were no repetitions)."""
    out = {}
    for b in doc["benchmarks"]:
        if b.get("error_occurred"):
            continue
        name = b.get("run_name", b["name"])
        if name.endswith("/real_time"):
            name = name[: -len("/real_time")]
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                out[name] = b
        elif name not in out:
            out[name] = b
    return out


def to_ns(value, unit):
    return value * {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}[unit]


class Softmax:
    """Results of softmax_bench keyed by (op, dtype, impl, mode, shape, dist, cache, threads)."""

    def __init__(self, runs):
        self.r = {}
        self.best = None
        for name, b in runs.items():
            f = name.split("/")
            if len(f) != 8:
                continue
            rows, cols = (int(v) for v in f[4].split("x"))
            key = (f[0], f[1], f[2], f[3], (rows, cols), f[5], f[6], int(f[7][1:]))
            ns = to_ns(b["real_time"], b["time_unit"])
            self.r[key] = {"ns_elem": ns / (rows * cols), "gbs": b.get("bytes_per_second", 0) / 1e9}

    def get(self, op, impl, mode, shape, dist="normal", cache="hot", threads=1, dtype="f32"):
        return self.r.get((op, dtype, impl, mode, shape, dist, cache, threads))

    def ours(self, op, mode, shape, **kw):
        return self.get(op, self.best, mode, shape, **kw)

    def peer(self, op, name, shape, **kw):
        return self.get(op, name, "peer", shape, **kw)


def fmt(v):
    if v is None:
        return "–"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    if v >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def shape_str(s):
    return f"[{s[0]}, {s[1]}]"


def ns_of(entry):
    return entry["ns_elem"] if entry else None


def ratio(a, b):
    return a / b if a and b else None


def machine():
    model, cores = platform.processor() or "unknown", str(os.cpu_count())
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        info = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        model = info.get("Model name", model).strip()
        cores = info.get("CPU(s)", cores).strip()
        # The family and model tell generations apart where the name does not ("AMD EPYC" in a
        # VM): AMD family 25 is Zen 3/4, 26 is Zen 5.
        family, number = info.get("CPU family", "").strip(), info.get("Model", "").strip()
        if family and number:
            model += f" (CPU family {family}, model {number})"
        l3 = info.get("L3 cache", "").strip()
        if l3:
            model += f", L3 {l3}"
    except (OSError, subprocess.CalledProcessError, ValueError):
        pass
    return model, cores


def ratio_goal_row(md, what, shape, value, goal, at_least):
    """One row of the ratio goals: met, or the distance to the goal."""
    if value is None:
        dist = "not measured"
    elif (value >= goal) if at_least else (value <= goal):
        dist = "met"
    else:
        dist = (f"**not met** ({fmt(goal / value)}× short)" if at_least
                else f"**not met** ({fmt(value / goal)}× over)")
    sign = "≥" if at_least else "≤"
    md.append(f"| {what} | {shape_str(shape) if shape else '–'} | {sign} {goal} | {fmt(value)} | {dist} |")


def scaling_probe(results):
    """{"fp": x, "int": y} from scaling_probe.txt (2-thread throughput over 1 thread)."""
    out = {}
    path = os.path.join(results, "scaling_probe.txt")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                m = re.match(r"scaling_probe (fp|int)=([\d.]+)", line)
                if m:
                    out[m.group(1)] = float(m.group(2))
    return out


def mpi_results(results):
    """{ranks: (ours_ms, megatron_ms)} from mpi_bench's `mpi_comm` lines (mpi_np<P>.txt)."""
    runs = {}
    for path in sorted(glob.glob(os.path.join(results, "mpi_np*.txt"))):
        with open(path) as f:
            for line in f:
                m = re.match(r"mpi_comm ranks=(\d+) rows=\d+ ours_ms=([\d.e+-]+) megatron_ms=([\d.e+-]+)",
                             line)
                if m:
                    runs[int(m.group(1))] = (float(m.group(2)), float(m.group(3)))
    return runs


def ratio_goals_section(s, md, loss_runs, mpi_runs, results):
    """The speed goals as ratios measured side by side in this run (see the header for the CPU)."""
    md.append("## Speed goals as ratios (same run, medians; the CPU model and load are above)\n")
    md.append("| goal | shape | goal | measured | met or distance |")
    md.append("|---|---|---|---|---|")
    ns = lambda impl, mode, shape, **kw: ns_of(s.get("softmax", impl, mode, shape, **kw))
    best = s.best
    ratio_goal_row(md, "fast ÷ memcpy", (65536, 10),
                   ratio(ns(best, "fast", (65536, 10)), ns("memcpy", "peer", (65536, 10))), 6, False)
    for shape in SHAPES:
        eig = ns("eigen", "peer", shape)
        ratio_goal_row(md, "Eigen ÷ fast", shape, ratio(eig, ns(best, "fast", shape)), 1.25, True)
        ratio_goal_row(md, "Eigen ÷ accurate", shape, ratio(eig, ns(best, "accurate", shape)), 1.0,
                       True)
    for mode, goal in (("fast", 1.3), ("accurate", 1.5)):
        # 263 MB in and 263 MB out: every call reads from DRAM (its "hot" run).
        ratio_goal_row(md, f"{mode} ÷ memcpy, from DRAM", (512, 128256),
                       ratio(ns(best, mode, (512, 128256)), ns("memcpy", "peer", (512, 128256))),
                       goal, False)
    for mode in ("accurate", "fast"):
        ratio_goal_row(md, f"1 thread ÷ 2 threads, {mode}", (1, 1048576),
                       ratio(ns(best, mode, (1, 1048576)), ns(best, mode, (1, 1048576), threads=2)),
                       1.7, True)
    probe = scaling_probe(results)
    if probe:
        md.append(f"| (the machine: 2 threads ÷ 1 of pure compute, `scaling_probe`) | – | – | "
                  f"{probe.get('fp', '–')} floating point, {probe.get('int', '–')} integer | "
                  "what a second thread can give here |")
    for mode, goal in (("fast", 1.3), ("accurate", 1.3)):
        ratio_goal_row(md, f"2 threads {mode} ÷ 2-thread memcpy, from DRAM", (512, 128256),
                       ratio(ns(best, mode, (512, 128256), threads=2),
                             ns("memcpy", "peer", (512, 128256), threads=2)),
                       goal, False)
    worst = {}
    for lg in range(3, 23):
        shape = (SWEEP_TOTAL >> lg, 1 << lg)
        eig = ns("eigen", "peer", shape)
        for mode in ("fast", "accurate"):
            v = ratio(eig, ns(best, mode, shape))
            if v is not None and (mode not in worst or v < worst[mode][0]):
                worst[mode] = (v, shape)
    for mode, goal in (("fast", 1.25), ("accurate", 1.0)):
        v, shape = worst.get(mode, (None, None))
        ratio_goal_row(md, f"Eigen ÷ {mode}, row-length sweep 8 .. 2^22 (the worst length)", shape,
                       v, goal, True)
    if loss_runs:
        per, soft = {}, {}
        for run, b in loss_runs.items():
            base, a = _strip_args(run)
            if base in ("BM_CrossEntropyFwdBwd", "BM_DistillationFwdBwd",
                        "BM_SoftmaxSameShape") and len(a) >= 4:
                # Args: rows, cols, precision (1: kFast), threads
                key = (int(a[0]), int(a[1]), int(a[2]), int(a[3]))
                t = to_ns(b["real_time"], b["time_unit"]) / (int(a[0]) * int(a[1]))
                if base == "BM_SoftmaxSameShape":  # 5th arg: beside cross-entropy (0) or KL (1)
                    soft[("kl" if len(a) > 4 and a[4] == "1" else "ce",) + key] = t
                else:
                    per[("ce" if "Cross" in base else "kl",) + key] = t
        for (kind, rows, cols, fast, threads), t in sorted(per.items()):
            mode = "fast" if fast else "accurate"
            # The softmax run beside the loss in loss_bench, else softmax_bench's of that shape.
            sm = soft.get((kind, rows, cols, fast, threads)) or ns(best, mode, (rows, cols),
                                                                    threads=threads)
            what = ("cross-entropy" if kind == "ce" else "forward-KL distillation") + \
                f" fwd+bwd ÷ softmax, {mode}, {threads} thread{'s' if threads > 1 else ''}"
            ratio_goal_row(md, what, (rows, cols), ratio(t, sm), 1.15 if kind == "ce" else 2.2,
                           False)
    for ranks, (ours, megatron) in sorted(mpi_runs.items()):
        ratio_goal_row(md, f"logitkit::mpi's merge ÷ Megatron's three allreduces, {ranks} ranks "
                       f"({ours:.4f} / {megatron:.4f} ms, 4096 rows)", None, ratio(ours, megatron),
                       1.0, False)
    md.append("\nWhere a goal is not met, [What bounds the unmet goals](#what-bounds-the-unmet-goals) "
              "gives the measured bound.\n")
    if not mpi_runs:
        md.append("\nThe collective's goal (logitkit's merge ≤ Megatron's three built-in allreduces, "
                  "2 and 4 ranks) is measured by `mpi_bench` under mpirun; it did not run here.\n")
    else:
        md.append("\nThe collective: `mpirun -np P build-bench/bench/mpi_bench --comm-only --rows "
                  "4096` (OpenMPI, shared memory; 4 ranks oversubscribe 2 cores where the machine "
                  "has 2), the variants interleaved round by round, medians; "
                  "[distributed.md](distributed.md) has the other designs' figures.\n")


def targets_section(s, md):
    md.append("## Goals (1 thread, hot cache, N(0, 3²) logits)\n")
    md.append("Each goal is a ratio to memcpy of the same bytes in the same run "
              "(docs/design.md §4).\n")
    md.append("| mode | shape | goal | measured | memcpy (same run) | distance |")
    md.append("|---|---|---|---|---|---|")
    for mode, shape, bound in TARGETS:
        ours = ns_of(s.ours("softmax", mode, shape))
        mem = ns_of(s.peer("softmax", "memcpy", shape))
        target = f"≤ {bound} × memcpy"
        value = ratio(ours, mem)
        measured = f"{fmt(value)} × memcpy ({fmt(ours)} ns/elem)" if value else "–"
        if value is None:
            dist = "not measured"
        elif value <= bound:
            dist = f"met ({fmt(bound / value)}× margin)"
        else:
            dist = f"**{fmt(value / bound)}× over** (+{fmt(value - bound)})"
        md.append(f"| {mode} | {shape_str(shape)} | {target} | {measured} | "
                  f"{fmt(mem)} ns/elem | {dist} |")
    md.append("")
    md.append("The family together and the spread logits (ratios; ≤ 1 means met):\n")
    md.append("| requirement | shape | accurate | fast |")
    md.append("|---|---|---|---|")
    for shape in SHAPES:
        for op in ("log_softmax", "logsumexp"):
            cells = [fmt(ratio(ns_of(s.ours(op, m, shape)), ns_of(s.ours("softmax", m, shape))))
                     for m in ("accurate", "fast")]
            md.append(f"| {op} time ÷ softmax time | {shape_str(shape)} | {cells[0]} | {cells[1]} |")
    for shape in SHAPES:
        cells = [fmt(ratio(ns_of(s.ours("softmax", m, shape, dist="spread")),
                           ns_of(s.ours("softmax", m, shape)))) for m in ("accurate", "fast")]
        md.append(f"| spread ±1e3 time ÷ N(0,3²) time | {shape_str(shape)} | {cells[0]} | {cells[1]} |")
    md.append("")
    md.append("Two threads (speedup over one thread; the goal is ≥ 1.7):\n")
    md.append("| shape | accurate | fast |")
    md.append("|---|---|---|")
    for shape in [(512, 128256), (1, 1048576)]:
        cells = [fmt(ratio(ns_of(s.ours("softmax", m, shape)),
                           ns_of(s.ours("softmax", m, shape, threads=2))))
                 for m in ("accurate", "fast")]
        md.append(f"| {shape_str(shape)} | {cells[0]} | {cells[1]} |")
    md.append("")
    md.append("Against the peers (peer time ÷ logitkit time, softmax, 1 thread; > 1: logitkit "
              "faster). Claims: accurate beats torch, onednn, xnnpack; fast beats every peer.\n")
    md.append("| shape | " + " | ".join(f"{p} ÷ accurate | {p} ÷ fast" for p in SOFTMAX_PEERS) + " |")
    md.append("|---|" + "---|---|" * len(SOFTMAX_PEERS))
    for shape in SHAPES:
        cells = []
        for p in SOFTMAX_PEERS:
            pn = ns_of(s.peer("softmax", p, shape))
            for m in ("accurate", "fast"):
                v = ratio(pn, ns_of(s.ours("softmax", m, shape)))
                must = m == "fast" or p in ("torch", "onednn", "xnnpack")
                cells.append(f"**{fmt(v)}**" if v is not None and v < 1 and must else fmt(v))
        md.append(f"| {shape_str(shape)} | " + " | ".join(cells) + " |")
    md.append("\nBold: a claim not met in this run.\n")


def op_table(s, md, op, title, shapes, **kw):
    peers = [p for p in SOFTMAX_PEERS + MEMORY_PEERS
             if any(s.peer(op, p, sh, **kw) for sh in shapes)]
    md.append(f"### {title}\n")
    md.append("ns per element (median); logitkit's GB/s counts its input and output once.\n")
    md.append("| shape | accurate | fast | " + " | ".join(peers) +
              " | accurate GB/s | fast GB/s | accurate ÷ memcpy | fast ÷ memcpy |")
    md.append("|---|---|---|" + "---|" * len(peers) + "---|---|---|---|")
    for sh in shapes:
        acc, fast = s.ours(op, "accurate", sh, **kw), s.ours(op, "fast", sh, **kw)
        # The memory limits do not depend on the logits' values or the input type: the f32 run.
        mkw = {k: v for k, v in kw.items() if k not in ("dist", "dtype")}
        mem = ns_of(s.peer(op, "memcpy", sh, **mkw)) or ns_of(s.peer(op, "stream_read", sh, **mkw))
        cells = [fmt(ns_of(acc)), fmt(ns_of(fast))]
        cells += [fmt(ns_of(s.peer(op, p, sh, **kw))) for p in peers]
        cells += [fmt(acc and acc["gbs"]), fmt(fast and fast["gbs"]),
                  fmt(ratio(ns_of(acc), mem)), fmt(ratio(ns_of(fast), mem))]
        md.append(f"| {shape_str(sh)} | " + " | ".join(cells) + " |")
    if any(s.peer(op, p, sh, **kw) for p in SOFTMAX_PEERS for sh in shapes):
        md.append("")
        md.append("Peer time ÷ logitkit time (> 1: logitkit faster):\n")
        sp = [p for p in SOFTMAX_PEERS if p in peers]
        md.append("| shape | " + " | ".join(f"{p} ÷ acc | {p} ÷ fast" for p in sp) + " |")
        md.append("|---|" + "---|---|" * len(sp))
        for sh in shapes:
            cells = []
            for p in sp:
                pn = ns_of(s.peer(op, p, sh, **kw))
                cells += [fmt(ratio(pn, ns_of(s.ours(op, m, sh, **kw)))) for m in ("accurate", "fast")]
            md.append(f"| {shape_str(sh)} | " + " | ".join(cells) + " |")
    md.append("")


def per_target_table(s, md):
    tgts = []
    for key in s.r:
        if key[0] == "softmax" and key[3] in ("accurate", "fast") and key[2] not in tgts:
            tgts.append(key[2])
    order = ["AVX3_ZEN4", "AVX3", "AVX2", "SSE4", "SSSE3", "EMU128", "SCALAR"]
    tgts.sort(key=lambda t: order.index(t) if t in order else len(order))
    md.append("### softmax on every SIMD target (force_target), ns per element\n")
    md.append("| shape | " + " | ".join(f"{t} acc | {t} fast" for t in tgts) + " |")
    md.append("|---|" + "---|---|" * len(tgts))
    for sh in IN_CACHE:
        cells = [fmt(ns_of(s.get("softmax", t, m, sh))) for t in tgts for m in ("accurate", "fast")]
        md.append(f"| {shape_str(sh)} | " + " | ".join(cells) + " |")
    md.append("")


def compare_table(s, md, title, variants, shapes, impls):
    """variants: [(label, kwargs)]; one column per impl and variant, plus their ratio."""
    md.append(f"### {title}\n")
    (la, ka), (lb, kb) = variants
    md.append("| shape | impl | " + f"{la} ns/elem | {lb} ns/elem | {lb} ÷ {la} |")
    md.append("|---|---|---|---|---|")
    for sh in shapes:
        for impl, mode in impls:
            def pick(kw):
                if mode == "peer":
                    return ns_of(s.peer("softmax", impl, sh, **kw))
                return ns_of(s.ours("softmax", mode, sh, **kw))
            a, b = pick(ka), pick(kb)
            if a is None and b is None:
                continue
            name = f"logitkit {mode}" if mode != "peer" else impl
            md.append(f"| {shape_str(sh)} | {name} | {fmt(a)} | {fmt(b)} | {fmt(ratio(b, a))} |")
    md.append("")


def sweep_points(s, impl, mode):
    pts = []
    for lg in range(3, 23):
        cols = 1 << lg
        e = s.get("softmax", impl, mode, (SWEEP_TOTAL // cols, cols))
        if e:
            pts.append((lg, 1.0 / e["ns_elem"]))  # G elements per second
    return pts


def sweep_table(s, md, impls):
    md.append(f"### Row length swept at {SWEEP_TOTAL} elements (softmax, 1 thread), ns per element\n")
    names = [f"logitkit {m}" if m != "peer" else i for i, m in impls]
    md.append("| cols | " + " | ".join(names) + " |")
    md.append("|---|" + "---|" * len(impls))
    for lg in range(3, 23):
        cols = 1 << lg
        cells = [fmt(ns_of(s.get("softmax", i, m, (SWEEP_TOTAL // cols, cols)))) for i, m in impls]
        if any(c != "–" for c in cells):
            md.append(f"| {cols} | " + " | ".join(cells) + " |")
    md.append("\n![throughput against row length](perf_rowlength.svg)\n")


def write_svg(s, impls, path):
    colors = ["#d62728", "#ff7f0e", "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#7f7f7f", "#17becf"]
    series = [(f"logitkit {m}" if m != "peer" else i, sweep_points(s, i, m)) for i, m in impls]
    series = [(n, p) for n, p in series if p]
    W, H, L, R, T, B = 820, 480, 70, 170, 40, 50
    ys = [y for _, p in series for _, y in p] or [1.0]
    lo, hi = math.floor(math.log10(min(ys))), math.ceil(math.log10(max(ys)))
    hi = max(hi, lo + 1)

    def X(lg):
        return L + (lg - 3) / 19 * (W - L - R)

    def Y(v):
        return T + (hi - math.log10(v)) / (hi - lo) * (H - T - B)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W / 2 - R / 2}" y="22" text-anchor="middle" font-size="14">softmax '
           f'throughput against row length ({SWEEP_TOTAL} elements, 1 thread)</text>']
    for e in range(lo, hi + 1):
        for m in (1, 2, 5):
            v = m * 10 ** e
            if v > 10 ** hi:
                break
            y = Y(v)
            out.append(f'<line x1="{L}" y1="{y:.1f}" x2="{W - R}" y2="{y:.1f}" '
                       f'stroke="{"#ccc" if m == 1 else "#eee"}"/>')
            out.append(f'<text x="{L - 6}" y="{y + 4:.1f}" text-anchor="end">{v:g}</text>')
    for lg in range(3, 23):
        x = X(lg)
        out.append(f'<line x1="{x:.1f}" y1="{T}" x2="{x:.1f}" y2="{H - B}" stroke="#eee"/>')
        if lg % 2 == 1:
            out.append(f'<text x="{x:.1f}" y="{H - B + 16}" text-anchor="middle">2^{lg}</text>')
    out.append(f'<text x="{(L + W - R) / 2}" y="{H - 10}" text-anchor="middle">columns per row</text>')
    out.append(f'<text x="16" y="{(T + H - B) / 2}" text-anchor="middle" '
               f'transform="rotate(-90 16 {(T + H - B) / 2})">G elements / s (log scale)</text>')
    out.append(f'<rect x="{L}" y="{T}" width="{W - L - R}" height="{H - T - B}" fill="none" '
               f'stroke="#333"/>')
    for k, (name, pts) in enumerate(series):
        c = colors[k % len(colors)]
        d = " ".join(f"{X(lg):.1f},{Y(v):.1f}" for lg, v in pts)
        out.append(f'<polyline points="{d}" fill="none" stroke="{c}" stroke-width="2"/>')
        for lg, v in pts:
            out.append(f'<circle cx="{X(lg):.1f}" cy="{Y(v):.1f}" r="2.5" fill="{c}"/>')
        ly = T + 14 + 18 * k
        out.append(f'<line x1="{W - R + 12}" y1="{ly - 4}" x2="{W - R + 32}" y2="{ly - 4}" '
                   f'stroke="{c}" stroke-width="2"/>')
        out.append(f'<text x="{W - R + 38}" y="{ly}">{name}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def callgrind_section(path, md):
    md.append("## Instruction counts (valgrind --tool=callgrind)\n")
    if not os.path.exists(path):
        md.append("Not measured in this run (valgrind missing or scripts/callgrind.sh not run).\n")
        return
    md.append("One call after a warm-up call, counted inside `counted_call` only "
              "(bench/softmax_count.cc, scripts/callgrind.sh), 1 thread. Deterministic: a change "
              "means the kernels do more or less work. Valgrind runs no AVX-512, so AVX2 is the "
              "widest target counted.\n")
    md.append("| case | target | elements | instructions | per element |")
    md.append("|---|---|---|---|---|")
    with open(path) as f:
        next(f)
        for line in f:
            c = line.rstrip("\n").split("\t")
            if len(c) == 5:
                md.append(f"| {c[0]} | {c[1]} | {c[2]} | {c[3]} | {c[4]} |")
    md.append("")


def other_section(name, runs, md):
    md.append(f"## {name}\n")
    md.append("| benchmark | median time | items/s | label |")
    md.append("|---|---|---|---|")
    for run, b in runs.items():
        t = to_ns(b["real_time"], b["time_unit"])
        tt = f"{t / 1e6:.3f} ms" if t >= 1e6 else (f"{t / 1e3:.2f} µs" if t >= 1e3 else f"{t:.1f} ns")
        ips = b.get("items_per_second")
        md.append(f"| {run} | {tt} | {f'{ips:.4g}' if ips else '–'} | {b.get('label', '')} |")
    md.append("")


def _strip_args(name):
    """BM_X/1/2/min_time:0.250/repeats:3 -> ('BM_X', ['1', '2'])."""
    parts = name.split("/")
    return parts[0], [x for x in parts[1:] if ":" not in x and x != "real_time"]


def loss_section(runs, md):
    """Cross-entropy and distillation forward+backward beside libtorch, ns per logit."""
    ours, torch, cons, prods = {}, {}, {}, {}
    for run, b in runs.items():
        base, a = _strip_args(run)
        t = to_ns(b["real_time"], b["time_unit"])
        if base in ("BM_CrossEntropyFwdBwd", "BM_DistillationFwdBwd") and len(a) >= 4:
            kind = "ce" if "Cross" in base else "kl"
            ours[(kind, int(a[0]), int(a[1]), int(a[3]), int(a[2]))] = t / (int(a[0]) * int(a[1]))
        elif base in ("BM_TorchCrossEntropyFwdBwd", "BM_TorchKlDivFwdBwd") and len(a) >= 4:
            kind = "ce" if "Cross" in base else "kl"
            # a[2]: 0 = preallocated, reused memory; 1 = through autograd, as users call it
            torch[(kind, int(a[0]), int(a[1]), int(a[3]), int(a[2]))] = t / (int(a[0]) * int(a[1]))
        elif base == "BM_ContrastiveFwdBwd" and len(a) >= 5:
            cons[tuple(a)] = t
        elif base == "BM_ContrastiveBlasProducts" and len(a) >= 3:
            prods[a[2]] = t  # a[2]: 3 whole-matrix products or 4 blocked ones
    if not ours:
        return
    md.append("## Losses beside libtorch (forward + backward, ns per logit)\n")
    md.append("Same run, same inputs; torch with preallocated tensors reused across calls "
              "(its fastest form), and at [512, 128256] also through autograd as users call it. "
              "Ratios: torch time ÷ logitkit time (> 1: logitkit faster).\n")
    md.append("| loss | shape | threads | accurate | fast | torch reused | "
              "torch as users call it | torch ÷ accurate | torch ÷ fast |")
    md.append("|---|---|---|---|---|---|---|---|---|")
    names = {"ce": "cross-entropy", "kl": "distillation (forward KL)"}
    for (kind, n, c, th, fast) in sorted(ours):
        if fast:
            continue
        acc = ours.get((kind, n, c, th, 0))
        fst = ours.get((kind, n, c, th, 1))
        tr = torch.get((kind, n, c, th, 0))
        tu = torch.get((kind, n, c, th, 1))
        md.append(f"| {names[kind]} | [{n}, {c}] | {th} | {fmt(acc)} | {fmt(fst)} | "
                  f"{fmt(tr)} | {fmt(tu)} | {fmt(ratio(tr, acc))} | {fmt(ratio(tr, fst))} |")
    md.append("")
    if cons:
        md.append("Contrastive (CLIP) loss, B = 4096, D = 512, forward + backward, against the "
                  "BLAS products it needs (goal ≤ 1.3× the 3 whole-matrix products):\n")
        md.append("| case | time | ÷ 3 whole-matrix products | ÷ the 4 blocked products it runs |")
        md.append("|---|---|---|---|")
        p3 = prods.get("3")
        p4 = prods.get("4")
        for a, t in sorted(cons.items()):
            # B, D, own matmul, block (0: automatic), with the backward pass
            what = (f"B = {a[0]}, D = {a[1]}, {'own kernel' if a[2] != '0' else 'BLAS'}, "
                    f"block {a[3] if a[3] != '0' else 'auto'}, "
                    f"{'forward + backward' if a[4] != '0' else 'forward only'}")
            md.append(f"| {what} | {t / 1e6:.1f} ms | {fmt(ratio(t, p3))} | "
                      f"{fmt(ratio(t, p4))} |")
        md.append("")


SAMPLING_CHAINS = ["greedy", "temperature", "k40_p0.95_minp0.05_t0.8", "top_p0.95", "min_p0.05",
                   "temperature_fast", "k40_p0.95_minp0.05_t0.8_fast", "top_p0.95_fast"]


def sampling_section(runs, md):
    """Per-token time of every chain beside the sort-based baseline of the same run."""
    t = {}
    for run, b in runs.items():
        parts = run.split("/")
        if len(parts) >= 3 and parts[0] in ("sample", "sort_baseline"):
            t[(parts[0], parts[1], parts[2])] = to_ns(b["real_time"], b["time_unit"]) / 1e3
    vs = sorted({int(v) for (_, _, v) in t if v.isdigit()})
    if not vs:
        return
    md.append("## Sampling, one token (batch 1, 1 thread), µs\n")
    md.append("Logits N(0, 3²) with a few spikes and a flat tail (the top-p nucleus holds "
              "thousands of tokens). The default precision is kAccurate; `_fast` rows use "
              "Precision::kFast. sort = the in-repo sort-based baseline (std::sort + cumulative "
              "sum), same run; the last column is sort time ÷ sample time at the largest V.\n")
    head = "| chain | " + " | ".join(f"V = {v} | sort" for v in vs) + " | sort ÷ sample |"
    md.append(head)
    md.append("|---|" + "---|---|" * len(vs) + "---|")
    for c in SAMPLING_CHAINS:
        if not any(("sample", c, str(v)) in t for v in vs):
            continue
        cells = []
        for v in vs:
            cells.append(fmt(t.get(("sample", c, str(v)))))
            cells.append(fmt(t.get(("sort_baseline", c, str(v)))))
        vmax = str(vs[-1])
        md.append(f"| {c} | " + " | ".join(cells) +
                  f" | {fmt(ratio(t.get(('sort_baseline', c, vmax)), t.get(('sample', c, vmax))))} |")
    md.append("")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--results", default="build-bench/results")
    ap.add_argument("--out", default="docs/performance.md")
    ap.add_argument("--svg", default="docs/perf_rowlength.svg")
    ap.add_argument("--command", default="scripts/bench.sh")
    args = ap.parse_args()

    docs = {}
    for path in sorted(glob.glob(os.path.join(args.results, "*.json"))):
        docs[os.path.splitext(os.path.basename(path))[0]] = load_json(path)
    model, cores = machine()
    md = ["<!-- Written by scripts/perf_report.py from scripts/bench.sh results; edit those, "
          "not this file. -->", "# logitkit performance", ""]
    md.append(f"- Command: `{args.command}` (run it on a quiet machine: the load is printed below)")
    run_date = docs["softmax_bench"][0]["context"].get("date") if "softmax_bench" in docs else None
    md.append(f"- Date: {run_date or f'{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC'}"
              " (the softmax bench's start)")
    md.append(f"- Machine: {model}, {cores} CPUs")
    sm = docs.get("softmax_bench")
    if sm:
        ctx = sm[0]["context"]
        peers = ", ".join(v for k, v in sorted(ctx.items()) if k.startswith("peer "))
        md.append(f"- Peers: {peers}; plain = a scalar 3-pass loop with std::exp; memcpy, "
                  "stream_copy (STREAM Copy loop), stream_read (a sum over the input) bound the "
                  "memory traffic")
        md.append(f"- logitkit targets here: {ctx.get('logitkit_targets', '?')} "
                  f"(default {ctx.get('logitkit_chosen', '?')})")
        la = ctx.get("load_avg")
        if la:
            md.append(f"- Load average when the softmax bench started: "
                      f"{', '.join(f'{v:.2f}' for v in la)} (above ~0.5 the figures are noisy)")
        if not sm[1]:
            md.append("- **softmax_bench stopped at its time budget: the tables are partial.**")
    md.append("")
    md.append("Method: Google Benchmark, real time, median of the repetitions; every figure in a "
              "table comes from the same run on the same fixed-seed inputs (N(0, 3²) logits, or "
              "uniform over ±1e3 for the underflow-heavy spread). Hot: one input/output pair "
              "reused. Cold: pairs rotated over more than 64 MiB so each call reads from DRAM. "
              "Ratios are of medians. 1 thread unless said; every peer's own threading is set "
              "to the same count (torch::set_num_threads, OpenMP for oneDNN, a pthreadpool for "
              "XNNPACK, rows split over a persistent thread for Eigen, plain and the memory "
              "limits). Eigen is compiled with -march=native, as its users build it; logitkit "
              "dispatches at run time.\n")

    if sm:
        s = Softmax(medians(sm[0]))
        s.best = sm[0]["context"].get("logitkit_chosen")
        if s.best is None:
            s.best = next((k[2] for k in s.r if k[3] == "accurate"), None)
        ratio_goals_section(s, md, medians(docs["loss_bench"][0]) if "loss_bench" in docs else None,
                            mpi_results(args.results), args.results)
        targets_section(s, md)
        md.append("## softmax family, every shape\n")
        for op in OPS:
            op_table(s, md, op, f"{op}, f32, 1 thread, hot cache", SHAPES)
        op_table(s, md, "softmax", "softmax, cold cache (buffers rotated past the LLC)", IN_CACHE,
                 cache="cold")
        op_table(s, md, "softmax", "softmax, 2 threads", SHAPES + [(1, 1048576)], threads=2)
        for op in OPS:
            op_table(s, md, op, f"{op}, logits spread over ±1e3", SHAPES, dist="spread")
        for op in OPS:
            op_table(s, md, op, f"{op}, bf16 input, f32 output", SHAPES, dtype="bf16")
        per_target_table(s, md)
        peers_modes = [(s.best, "accurate"), (s.best, "fast")] + [(p, "peer") for p in SOFTMAX_PEERS]
        compare_table(s, md, "1 thread against 2 threads, softmax",
                      [("1 thread", {}), ("2 threads", {"threads": 2})],
                      SHAPES + [(1, 1048576)], peers_modes + [("memcpy", "peer")])
        compare_table(s, md, "N(0, 3²) against spread ±1e3, softmax",
                      [("normal", {}), ("spread", {"dist": "spread"})], SHAPES, peers_modes)
        compare_table(s, md, "f32 against bf16 input, softmax",
                      [("f32", {}), ("bf16", {"dtype": "bf16"})], SHAPES,
                      [(s.best, "accurate"), (s.best, "fast")])
        sweep_impls = peers_modes + [("memcpy", "peer")]
        sweep_table(s, md, sweep_impls)
        write_svg(s, sweep_impls, args.svg)
    else:
        md.append("softmax_bench results are missing: run scripts/bench.sh.\n")

    callgrind_section(os.path.join(args.results, "callgrind.tsv"), md)
    if "loss_bench" in docs:
        loss_section(medians(docs["loss_bench"][0]), md)
    if "sampling_bench" in docs:
        sampling_section(medians(docs["sampling_bench"][0]), md)
    for name, (doc, complete) in docs.items():
        if name != "softmax_bench":
            other_section(name + ("" if complete else " (partial: stopped at its time budget)"),
                          medians(doc), md)
    md.append("Design notes (what the kernels' structure rests on, and what did not pay): "
              "[design_notes.md](design_notes.md).\n")
    # Sections measured by other commands (the WebAssembly benchmark, web/bench/) sit between
    # <!-- kept --> and <!-- /kept --> and carry over unchanged.
    if os.path.exists(args.out):
        with open(args.out) as f:
            old = f.read()
        md.extend(re.findall(r"<!-- kept -->.*?<!-- /kept -->\n", old, re.S))
    with open(args.out, "w") as f:
        f.write("\n".join(md) + "\n")
    print(f"wrote {args.out}" + (f" and {args.svg}" if sm else ""))


if __name__ == "__main__":
    main()
