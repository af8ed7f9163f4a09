#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# Tests of the `logitkit` command: golden outputs, error paths, .npy round trips, streaming,
# targets, help, the tour and the plot. Usage: run_cli_tests.py BINARY GROUP [--update]
import os
import re
import resource
import shlex
import struct
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
GOLDEN = os.path.join(HERE, "golden")
NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|inf|nan)")
FAILURES = []


def fail(name, why):
    FAILURES.append(f"{name}: {why}")


def run(binary, args, stdin=b"", cwd=None, env=None):
    e = dict(os.environ)
    e.pop("NO_COLOR", None)
    e.update(env or {})
    p = subprocess.run([binary] + args, input=stdin, capture_output=True, cwd=cwd, env=e,
                       timeout=60)
    return p.returncode, p.stdout, p.stderr


def read_cases(path, fields):
    cases = []
    for line in open(path, encoding="utf-8"):
        if not line.strip() or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.rstrip("\n").split(" | ")]
        parts[-1] = parts[-1].rstrip("|").strip() if parts[-1].endswith("|") else parts[-1]
        while len(parts) < fields:
            parts.append("")
        cases.append(parts)
    return cases


def stdin_bytes(spec):
    if not spec:
        return b""
    if spec.startswith("text:"):
        return spec[5:].replace("\\n", "\n").encode()
    with open(os.path.join(DATA, spec), "rb") as f:
        return f.read()


def expand(args, tmp):
    return [a.replace("@DATA@", DATA).replace("@TMP@", tmp) for a in shlex.split(args)]


def same_text(got, want, rel=5e-7, abs_tol=1e-12):
    """Equal except that numbers may differ by `rel` relative (4 float ULP: SIMD targets may differ
    within the 2-ULP contract) or `abs_tol` absolute."""
    g, w = NUMBER.split(got), NUMBER.split(want)
    gn, wn = NUMBER.findall(got), NUMBER.findall(want)
    if g != w or len(gn) != len(wn):
        return False
    for a, b in zip(gn, wn):
        if a == b:
            continue
        try:
            x, y = float(a), float(b)
        except ValueError:
            return False
        if x != x and y != y:
            continue
        if not abs(x - y) <= max(abs_tol, rel * max(abs(x), abs(y))):
            return False
    return True


def check_golden(name, got, update):
    path = os.path.join(GOLDEN, name + ".out")
    if update:
        with open(path, "w", encoding="utf-8") as f:
            f.write(got)
        return
    if not os.path.exists(path):
        fail(name, f"no golden file {path} (run with --update and review it)")
        return
    want = open(path, encoding="utf-8").read()
    if not same_text(got, want):
        fail(name, f"output differs from {path}:\n--- got ---\n{got}--- want ---\n{want}")


def group_golden(binary, update):
    with tempfile.TemporaryDirectory() as tmp:
        for name, args, stdin in read_cases(os.path.join(HERE, "cases.txt"), 3):
            rc, out, err = run(binary, expand(args, tmp), stdin_bytes(stdin))
            if rc != 0:
                fail(name, f"exit {rc}, stderr: {err.decode()!r}")
                continue
            if err:
                fail(name, f"unexpected stderr: {err.decode()!r}")
            check_golden(name, out.decode(), update)


def group_errors(binary, _update):
    with tempfile.TemporaryDirectory() as tmp:
        for name, needle, args, stdin in read_cases(os.path.join(HERE, "errors.txt"), 4):
            rc, out, err = run(binary, expand(args, tmp), stdin_bytes(stdin))
            text = err.decode()
            if rc != 2:
                fail(name, f"exit {rc}, want 2 (stderr {text!r})")
            if out:
                fail(name, f"stdout not empty: {out[:200]!r}")
            if text.count("\n") != 1 or not text.startswith("logitkit: error: "):
                fail(name, f"stderr is not one 'logitkit: error:' line: {text!r}")
            if needle.replace("@DATA@", DATA) not in text:
                fail(name, f"stderr {text!r} lacks {needle!r}")
            if os.listdir(tmp):
                fail(name, f"left files behind: {os.listdir(tmp)}")


# ---------------------------------------------------------------------------------------------
# .npy helpers (NumPy format 1.0) written with the standard library only.

def npy_bytes(shape, values, code, fortran=False, descr=None):
    descr = descr or ("<f4" if code == "f" else "<f8")
    dims = ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "")
    header = f"{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': ({dims}), }}"
    pad = (64 - (10 + len(header) + 1) % 64) % 64
    header += " " * pad + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + \
        struct.pack("<%d%s" % (len(values), code), *values)


def npy_parse(data):
    assert data[:6] == b"\x93NUMPY", "bad magic"
    hlen = struct.unpack("<H", data[8:10])[0]
    header = data[10:10 + hlen].decode()
    assert (10 + hlen) % 64 == 0, "data not 64-byte aligned"
    descr = re.search(r"'descr': '([^']+)'", header).group(1)
    assert "'fortran_order': False" in header
    shape = tuple(int(d) for d in re.search(r"'shape': \(([^)]*)\)", header).group(1).replace(",", " ").split())
    code = {"<f4": "f", "<f8": "d"}[descr]
    count = 1
    for d in shape:
        count *= d
    values = struct.unpack("<%d%s" % (count, code), data[10 + hlen:])
    return descr, shape, list(values)


def group_npy(binary, _update):
    with tempfile.TemporaryDirectory() as tmp:
        rows = os.path.join(DATA, "rows.csv")
        text_out = run(binary, ["softmax", "-F", "text", rows])[1].decode().split()
        # text -> npy -> text: the same numbers.
        npy = os.path.join(tmp, "p.npy")
        rc, out, err = run(binary, ["softmax", rows, "-o", npy])
        if rc != 0 or out:
            fail("npy_write", f"exit {rc}, stdout {out!r}, stderr {err!r}")
            return
        descr, shape, values = npy_parse(open(npy, "rb").read())
        if descr != "<f4" or shape != (3, 4):
            fail("npy_write", f"descr {descr}, shape {shape}")
        if [struct.unpack("<f", struct.pack("<f", float(t)))[0] for t in text_out] != values:
            fail("npy_write", f"{values} != {text_out}")
        rc, out, _ = run(binary, ["log-softmax", npy, "-F", "text"])
        want = run(binary, ["log-softmax", "-F", "text"], "\n".join(" ".join(text_out[i:i + 4]) for i in range(0, 12, 4)).encode())[1]
        if rc != 0 or not same_text(out.decode(), want.decode()):
            fail("npy_read_back", f"{out!r} != {want!r}")
        # float64, 3-D: shape and dtype kept; logsumexp drops the last axis.
        vals = [0.5 * i - 3 for i in range(24)]
        src = os.path.join(tmp, "x64.npy")
        open(src, "wb").write(npy_bytes((2, 3, 4), vals, "d"))
        out64 = os.path.join(tmp, "y64.npy")
        rc, _, err = run(binary, ["softmax", src, "-o", out64])
        descr, shape, y = npy_parse(open(out64, "rb").read()) if rc == 0 else (None, None, [])
        if rc != 0 or descr != "<f8" or shape != (2, 3, 4):
            fail("npy_f64_3d", f"exit {rc} {err!r}, descr {descr}, shape {shape}")
        text64 = run(binary, ["softmax", "--dtype", "float64", "-F", "text", src])[1].decode().split()
        if [float(t) for t in text64] != y:
            fail("npy_f64_3d", "float64 text output differs from the .npy values")
        rc, out, err = run(binary, ["logsumexp", src, "-F", "npy"])
        if rc != 0 or npy_parse(out)[1] != (2, 3):
            fail("npy_logsumexp_shape", f"exit {rc} {err!r}")
        # float64 read as float32 on request.
        rc, out, err = run(binary, ["softmax", "--dtype", "float32", src, "-F", "npy"])
        if rc != 0 or npy_parse(out)[0] != "<f4":
            fail("npy_dtype_override", f"exit {rc} {err!r}")
        # 1-D in, 1-D out; a pipe (no memory map) reads the same.
        one = npy_bytes((4,), [2.0, 1.0, 0.1, -1.0], "f")
        rc, out, err = run(binary, ["softmax", "-F", "npy"], one)
        d, s, v = npy_parse(out) if rc == 0 else (None, None, None)
        want = [float(t) for t in run(binary, ["softmax", "2", "1", "0.1", "-1"])[1].split()]
        if rc != 0 or s != (4,) or [struct.unpack("<f", struct.pack("<f", w))[0] for w in want] != v:
            fail("npy_1d_stdin", f"exit {rc} {err!r} shape {s} values {v}")
        rc, out, _ = run(binary, ["logsumexp", "-F", "npy"], one)
        if rc != 0 or npy_parse(out)[1] != ():
            fail("npy_1d_logsumexp", "want a 0-d result")
        # Errors: exit 2, nothing on stdout.
        bad = {
            "fortran": (npy_bytes((2, 2), [1, 2, 3, 4], "f", fortran=True), "Fortran-order"),
            "int32": (npy_bytes((2,), [1, 2], "i", descr="<i4"), "unsupported .npy dtype '<i4'"),
            "truncated": (npy_bytes((2, 2), [1, 2, 3, 4], "f")[:-4], "truncated"),
            "empty": (npy_bytes((0, 3), [], "f"), "empty input"),
        }
        for name, (blob, needle) in bad.items():
            path = os.path.join(tmp, name + ".npy")
            open(path, "wb").write(blob)
            rc, out, err = run(binary, ["softmax", path])
            if rc != 2 or out or needle not in err.decode() or err.decode().count("\n") != 1:
                fail("npy_error_" + name, f"exit {rc}, stdout {out[:80]!r}, stderr {err!r}")
        # Truncation names the row it falls in, from a file (checked before reading) and from a
        # pipe (read in blocks of rows: the row, not the block's first row).
        ten = npy_bytes((10, 4), [float(i) for i in range(40)], "f")
        header = len(ten) - 160
        cut = ten[:header + 7 * 16 + 6]  # inside row 8
        path = os.path.join(tmp, "cut.npy")
        open(path, "wb").write(cut)
        for how, args, stdin in (("file", ["softmax", path], b""), ("pipe", ["softmax", "-f", "npy"], cut)):
            rc, out, err = run(binary, args, stdin)
            if rc != 2 or out or "row 8 of 10 is incomplete" not in err.decode():
                fail("npy_truncated_row_" + how, f"exit {rc}, stderr {err!r}")
        big = npy_bytes((300000, 4), [0.0] * 1200000, "f")
        header = len(big) - 300000 * 16
        cut = big[:header + 299999 * 16 + 3]  # inside row 300000
        for how, args, stdin in (("file", None, None), ("pipe", ["softmax", "-f", "npy"], cut)):
            if how == "file":
                path = os.path.join(tmp, "cut_big.npy")
                open(path, "wb").write(cut)
                args, stdin = ["softmax", path], b""
            rc, out, err = run(binary, args, stdin)
            if rc != 2 or out or "row 300000 of 300000 is incomplete" not in err.decode():
                fail("npy_truncated_big_" + how, f"exit {rc}, stderr {err!r}")
        strict = os.path.join(tmp, "nan.npy")
        open(strict, "wb").write(npy_bytes((2, 2), [1, 2, 3, float("nan")], "f"))
        rc, out, err = run(binary, ["softmax", "--strict", strict])
        if rc != 2 or out or "row 2, column 2: NaN" not in err.decode():
            fail("npy_strict_nan", f"exit {rc} {err!r}")
        # -o leaves no file behind on error.
        target = os.path.join(tmp, "never.npy")
        run(binary, ["softmax", os.path.join(DATA, "bad.txt"), "-o", target])
        if os.path.exists(target):
            fail("npy_no_partial_file", "an output file was written despite the error")


def group_nan(binary, _update):
    """docs/design.md §2: any NaN makes the whole row NaN (default), or is an error with --strict."""
    for cmd, want in (("softmax", "nan nan nan"), ("log-softmax", "nan nan nan"), ("logsumexp", "nan")):
        for row in ("nan 1 2", "1 nan 2", "1 2 nan", "-inf nan inf"):
            rc, out, err = run(binary, [cmd], (row + "\n1 2 3\n").encode())
            lines = out.decode().splitlines()
            if rc != 0 or not lines or lines[0] != want:
                fail(f"nan_{cmd}", f"row [{row}] gives {lines[:1]}, want [{want}] (exit {rc}, {err!r})")
            elif len(lines) != 2 or "nan" in lines[1]:
                fail(f"nan_{cmd}", f"the NaN leaked into the next row: {lines}")
        # Input that is all there when read: all or nothing (rows arriving slowly through a pipe
        # are written as they come; see group_live).
        rc, out, err = run(binary, [cmd, "--strict"], b"1 2 3\n1 nan 2\n")
        if rc != 2 or out or "<stdin>:2:3: NaN in the input (--strict)" not in err.decode():
            fail(f"nan_{cmd}_strict", f"exit {rc}, stdout {out!r}, stderr {err!r}")


def group_stream(binary, _update):
    """A text input much larger than the output staging buffer is processed in bounded memory."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "big.txt")
        line = " ".join(str(0.25 * i - 4) for i in range(32)) + "\n"
        rows = 400000
        with open(path, "w") as f:
            for _ in range(rows // 1000):
                f.write(line * 1000)
        size = os.path.getsize(path)
        out = os.path.join(tmp, "out.txt")
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        rc, _, err = run(binary, ["logsumexp", path, "-o", out, "--threads", "1"])
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        if rc != 0:
            fail("stream", f"exit {rc} {err!r}")
            return
        with open(out) as f:
            results = f.read().split()
        if len(results) != rows or len(set(results)) != 1:
            fail("stream", f"{len(results)} results for {rows} rows")
        if peak_kib >= before and peak_kib * 1024 > size * 0.4:
            fail("stream", f"peak RSS {peak_kib} KiB for a {size >> 20} MiB input: not streamed")


def group_targets(binary, _update):
    rc, out, err = run(binary, ["targets"])
    lines = out.decode().splitlines()
    if rc != 0 or len(lines) != 3 or not lines[0].startswith("compiled: ") \
            or not lines[1].startswith("supported: ") or not lines[2].startswith("chosen: "):
        fail("targets", f"exit {rc}, output {out!r}")
        return
    supported = lines[1].split()[1:]
    chosen = lines[2].split()[1]
    if chosen not in supported or not set(supported) <= set(lines[0].split()[1:]):
        fail("targets", f"chosen {chosen} not in supported {supported}")
    want = run(binary, ["softmax", os.path.join(DATA, "rows.txt")])[1].decode()
    for t in supported:
        rc, out, err = run(binary, ["--target", t, "targets"])
        if rc != 0 or out.decode().splitlines()[2].split()[1] != t:
            fail("target_" + t, f"--target {t} not chosen: {out!r} {err!r}")
        rc, out, err = run(binary, ["softmax", f"--target={t}", os.path.join(DATA, "rows.txt")])
        if rc != 0 or not same_text(out.decode(), want):
            fail("target_softmax_" + t, f"{out!r} != {want!r}")


def group_help(binary, _update):
    commands = {"": ["softmax", "log-softmax", "logsumexp", "tour", "plot", "targets", "bench",
                     "cross-entropy", "distill", "contrastive", "sample"],
                "cross-entropy": ["--targets", "--target-probs", "--weight", "--label-smoothing",
                                  "--reduction", "--grad", "--per-row", "--line-buffered"],
                "distill": ["--teacher", "--divergence", "--js-beta", "--no-tau-squared",
                            "--teacher-log-probs", "--alpha", "--targets", "--grad"],
                "contrastive": ["--log-scale", "--max-scale", "--no-normalize", "--grad"],
                "sample": ["--history", "--repetition-penalty", "--presence-penalty",
                           "--frequency-penalty", "--logit-bias", "--dtype", "--output",
                           "--output-format", "--line-buffered"],
                "softmax": ["--temperature", "--empty-row", "--strict", "--threads", "--precision",
                            "--explain", "--format", "--output-format", "--dtype"],
                "log-softmax": ["--temperature", "--explain"], "logsumexp": ["--temperature"],
                "tour": ["--plot-output", "--no-plot"],
                "plot": ["--classes", "--temperatures", "--output", "--title", "--view"],
                "targets": [], "bench": ["--rows", "--cols", "--seconds", "--op"]}
    for sub, words in commands.items():
        rc, out, err = run(binary, ([sub] if sub else []) + ["--help"])
        text = out.decode()
        if rc != 0 or err or not text:
            fail(f"help_{sub or 'main'}", f"exit {rc}, stderr {err!r}")
        for w in words:
            if w not in text:
                fail(f"help_{sub or 'main'}", f"{w} missing from --help")
    rc, out, err = run(binary, [])
    if rc != 0 or b"Subcommands" not in out:
        fail("no_subcommand", f"exit {rc}: want the help")


def group_bench(binary, _update):
    rc, out, err = run(binary, ["bench", "--rows", "4", "--cols", "1000", "--seconds", "0.02"])
    text = out.decode()
    if rc != 0 or err:
        fail("bench", f"exit {rc}, stderr {err!r} (no progress bar when stderr is not a terminal)")
    for op in ["softmax", "log-softmax", "logsumexp"]:
        if not re.search(rf"^\s+{op}\s+4x1000\s+\d+\s+[\d.e+-]+\s+[\d.e+-]+", text, re.M):
            fail("bench", f"no row for {op} in {text!r}")


# ---------------------------------------------------------------------------------------------
# PNG decoding (8-bit RGB/RGBA, non-interlaced), standard library only.

def png_pixels(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", None
    while pos < len(data):
        n = struct.unpack(">I", data[pos:pos + 4])[0]
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and ctype in (2, 6) and interlace == 0, "unexpected PNG layout"
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw, stride, prev, rows = zlib.decompress(idat), width * bpp, bytearray(width * bpp), []
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1: line[i] = (line[i] + a) & 255
            elif f == 2: line[i] = (line[i] + b) & 255
            elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def check_chart(name, base, width, height, colors):
    try:
        root = ET.parse(base + ".svg").getroot()
    except (ET.ParseError, OSError) as e:
        fail(name, f"SVG does not parse: {e}")
        return
    if not root.tag.endswith("svg") or root.get("width", "").rstrip("pt") != str(width):
        fail(name, f"SVG root {root.tag} width {root.get('width')}")
    if len(list(root.iter())) < 50:
        fail(name, "SVG has almost no elements")
    try:
        w, h, bpp, rows = png_pixels(base + ".png")
    except (AssertionError, OSError, zlib.error) as e:
        fail(name, f"PNG does not decode: {e}")
        return
    if (w, h) != (width, height):
        fail(name, f"PNG is {w}x{h}, want {width}x{height}")
    seen, non_white = set(), 0
    for row in rows:
        for x in range(0, len(row), bpp):
            px = row[x:x + 3]
            seen.add(px)
            non_white += px != b"\xff\xff\xff"
    if non_white < 0.02 * w * h or len(seen) < 20:
        fail(name, f"PNG looks blank: {non_white} non-white pixels, {len(seen)} colours")
    for c in colors:
        if bytes.fromhex(c) not in seen:
            fail(name, f"line colour #{c} not drawn")


PALETTE = ["ef4444", "f59e0b", "3b82f6", "10b981", "8b5cf6"]


def group_plot(binary, _update):
    with tempfile.TemporaryDirectory() as tmp:
        base = os.path.join(tmp, "chart")
        rc, out, err = run(binary, ["plot", "-o", base, "--width", "640", "--height", "400",
                                    "-c", "cat,dog,fish", "-T", "0.5,1,3", "1.5", "0.3", "-2"])
        if rc != 0 or out.decode() != f"wrote {base}.svg and {base}.png (640 x 400)\n":
            fail("plot", f"exit {rc}, stdout {out!r}, stderr {err!r}")
            return
        check_chart("plot", base, 640, 400, PALETTE[:3])
        rc, out, err = run(binary, ["plot"], cwd=tmp)
        check_chart("plot_defaults", os.path.join(tmp, "softmax-temperature"), 800, 500, PALETTE)
        if sorted(f for f in os.listdir(tmp) if not f.startswith("chart")) != \
                ["softmax-temperature.png", "softmax-temperature.svg"]:
            fail("plot_defaults", f"files: {os.listdir(tmp)}")
        # More than five temperatures: every line its own colour (a continuous scale).
        base = os.path.join(tmp, "many")
        taus = "0.1,0.2,0.3,0.5,0.7,1,1.5,2,3,5,8,13"
        rc, out, err = run(binary, ["plot", "-o", base, "-T", taus, "2", "1", "0.5", "-0.5", "-1"])
        strokes = set(re.findall(r"stroke:(rgb\([^)]*\))", open(base + ".svg").read())) if rc == 0 else set()
        if rc != 0 or len(strokes) < 12 + 2:  # 12 lines, plus the grid and the axes
            fail("plot_many_temperatures", f"exit {rc} {err!r}: {len(strokes)} stroke colours")
        # Hundreds of classes: the heat view by default, lines on request; both readable files.
        logits = [str(round(((i * 37) % 101) / 10 - 5, 2)) for i in range(200)]
        for view in ("auto", "lines", "heat"):
            base = os.path.join(tmp, "wide_" + view)
            rc, out, err = run(binary, ["plot", "-o", base, "--view", view, "-T", "0.5,1,2"] + logits)
            if rc != 0:
                fail("plot_200_classes_" + view, f"exit {rc} {err!r}")
            else:
                check_chart("plot_200_classes_" + view, base, 800, 500, [])
        # inf, -inf and nan logits as everywhere: drawn, not refused.
        base = os.path.join(tmp, "special")
        rc, out, err = run(binary, ["plot", "-o", base, "1", "-inf", "2", "nan", "inf"])
        if rc != 0:
            fail("plot_special_values", f"exit {rc} {err!r}")


def group_tour(binary, update):
    with tempfile.TemporaryDirectory() as tmp:
        rc, out, err = run(binary, ["tour"], cwd=tmp)
        if rc != 0 or err:
            fail("tour", f"exit {rc}, stderr {err!r}")
            return
        text = out.decode()
        if "\x1b[" in text:
            fail("tour", "colour escapes written to a pipe")
        check_golden("tour", text.replace(os.path.realpath(tmp), "<DIR>").replace(tmp, "<DIR>"), update)
        check_chart("tour_chart", os.path.join(tmp, "logitkit-tour"), 800, 500, PALETTE)
        rc, out, _ = run(binary, ["tour", "--no-plot"], cwd=tmp)
        if rc != 0 or "The chart" in out.decode():
            fail("tour_no_plot", "--no-plot still mentions the chart")
        for env, want in (({"NO_COLOR": "1"}, False),):
            rc, out, _ = run(binary, ["tour", "--no-plot"], env=env, cwd=tmp)
            if ("\x1b[" in out.decode()) != want:
                fail("tour_no_color", "colour escapes with NO_COLOR set")


def run_on_terminal(binary, args, env=None, stream="stdout"):
    """Runs with stdout (or stderr) on a pseudo-terminal; returns (exit code, what it showed)."""
    master, slave = os.openpty()
    e = dict(os.environ)
    e.pop("NO_COLOR", None)
    e.update(env or {})
    io = {"stdout": slave, "stderr": subprocess.DEVNULL} if stream == "stdout" else \
        {"stdout": subprocess.DEVNULL, "stderr": slave}
    p = subprocess.Popen([binary] + args, stdin=subprocess.DEVNULL, env=e, **io)
    os.close(slave)
    shown = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    return p.wait(timeout=60), shown.decode(errors="replace")


def group_terminal(binary, _update):
    args = ["softmax", "--explain", "2", "1", "0.1", "-1"]
    rc, shown = run_on_terminal(binary, args)
    if rc != 0 or "\x1b[" not in shown or "sums to 1" not in shown:
        fail("terminal_color", f"exit {rc}: no colour on a terminal: {shown[:200]!r}")
    rc, shown = run_on_terminal(binary, args, env={"NO_COLOR": ""})
    if rc != 0 or "\x1b[" in shown:
        fail("terminal_no_color", f"exit {rc}: colour despite NO_COLOR: {shown[:200]!r}")
    rc, shown = run_on_terminal(binary, ["softmax", "-F", "npy", "1", "2"])
    if rc != 2 or shown:
        fail("terminal_npy_refused", f"exit {rc}: binary .npy written to a terminal: {shown[:80]!r}")
    # Work past about 2 s shows a progress line on a terminal's stderr; shorter work shows none.
    rc, shown = run_on_terminal(binary, ["bench", "--rows", "2", "--cols", "1000", "--seconds",
                                         "0.05", "--op", "softmax"], stream="stderr")
    if rc != 0 or "%" in shown:
        fail("terminal_no_progress_short", f"exit {rc}: a progress line for 0.05 s: {shown[:200]!r}")
    rc, shown = run_on_terminal(binary, ["bench", "--rows", "2", "--cols", "1000", "--seconds",
                                         "1", "--op", "all"], stream="stderr")
    if rc != 0 or not re.search(r"\r\[#* *\] +\d+% bench", shown):
        fail("terminal_progress_bar", f"exit {rc}: no progress bar on stderr: {shown[:200]!r}")
    rc, shown = run_on_terminal(binary, ["sample", "-n", "10000000", "1", "2", "3"],
                                stream="stderr")
    if rc != 0 or not re.search(r"\r\[#* *\] +\d+% sample", shown):
        fail("terminal_progress_sample", f"exit {rc}: no progress line: {shown[:200]!r}")


# Internal constants a message must never show (the limits of the types, the option parser's
# spellings), and the shape of the values a message quotes.
INTERNAL = ["1.79769", "3.40282", "DBL_MAX", "FLT_MAX", "e999", "e+308", "9223372036854775807",
            "18446744073709551615", "std::", "bad_alloc", "\x1f", "terminate called"]


def group_audit(binary, _update):
    """Every message in errors.txt: one line, no internal constants, and every value it quotes
    ('...') or reports as "got X" is text the user typed (an argument, stdin, or a file named)."""
    with tempfile.TemporaryDirectory() as tmp:
        for name, _needle, args, stdin in read_cases(os.path.join(HERE, "errors.txt"), 4):
            argv = expand(args, tmp)
            rc, out, err = run(binary, argv, stdin_bytes(stdin))
            text = err.decode(errors="replace")
            typed_args = " ".join(argv)
            for c in INTERNAL:
                if c in text and c not in typed_args:
                    fail("audit_" + name, f"internal constant {c!r} in {text!r}")
            typed = " ".join(argv) + " " + stdin_bytes(stdin).decode(errors="replace")
            for a in argv:
                if os.path.isfile(a):
                    typed += " " + open(a, "rb").read().decode(errors="replace")
            if stdin and not stdin.startswith("text:"):
                typed += " " + stdin_bytes(stdin).decode(errors="replace")
            quoted = re.findall(r"'([^']*)'", text) + \
                re.findall(r"\bgot (-?(?:\d[\w.+-]*|inf|nan))", text)
            for q in quoted:
                q = q.rstrip(".")
                if len(q) == 1 and not q.isalnum():
                    continue  # the JSON parser's expected characters: '[', '{'
                derived = any(len(a) >= 3 and q.startswith(a) for a in argv)  # BASE.svg from -o BASE
                if q and q not in typed and not derived and not q.startswith("<") and "..." not in q:
                    fail("audit_" + name, f"{q!r} in {text!r} is not what the user typed")
            if text.count("\n") != 1:
                fail("audit_" + name, f"not one line: {text!r}")


def group_live(binary, _update):
    """Rows from a pipe are written as they arrive (a live filter); --line-buffered too."""
    import time
    for args, rows, want_first in ((["softmax"], [b"1 2\n", b"3 4\n"], "0.268941432 0.731058598"),
                                   (["logsumexp", "--line-buffered"], [b"0 0\n", b"1 1\n"], "0.693147182"),
                                   (["softmax", "-f", "jsonl"], [b"[1, 2]\n", b"[3, 4]\n"],
                                    "[0.268941432, 0.731058598]"),
                                   (["sample", "-t", "0"], [b"1 2\n", b"5 4\n"], "1")):
        p = subprocess.Popen([binary] + args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        p.stdin.write(rows[0])
        p.stdin.flush()
        start = time.monotonic()
        first = p.stdout.readline().decode().strip()  # must come before the second row is sent
        waited = time.monotonic() - start
        p.stdin.write(rows[1])
        p.stdin.close()
        rest = p.stdout.read().decode()
        rc = p.wait(timeout=60)
        if rc != 0 or first != want_first or waited > 30 or len(rest.splitlines()) != 1:
            fail("live_" + "_".join(args), f"exit {rc}, first {first!r} after {waited:.1f} s, "
                 f"rest {rest!r}, stderr {p.stderr.read()!r}")
    # An error after rows went out: those rows stay, the error names the row.
    p = subprocess.Popen([binary, "softmax"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    p.stdin.write(b"1 2\n")
    p.stdin.flush()
    first = p.stdout.readline()
    p.stdin.write(b"3 x\n")
    p.stdin.close()
    rest, err = p.stdout.read(), p.stderr.read().decode()
    if p.wait(timeout=60) != 2 or not first or rest or "<stdin>:2:3: malformed number 'x'" not in err:
        fail("live_error", f"first {first!r} rest {rest!r} err {err!r}")


GROUPS = {"audit": group_audit, "live": group_live, "terminal": group_terminal, "golden": group_golden, "errors": group_errors, "npy": group_npy, "nan": group_nan,
          "stream": group_stream, "targets": group_targets, "help": group_help,
          "bench": group_bench, "plot": group_plot, "tour": group_tour}


def main():
    binary, group = os.path.abspath(sys.argv[1]), sys.argv[2]
    update = "--update" in sys.argv[3:]
    GROUPS[group](binary, update)
    for f in FAILURES:
        print("FAIL", f)
    print(f"{group}: {'FAILED' if FAILURES else 'ok'} ({len(FAILURES)} failures)")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
