# SPDX-License-Identifier: Apache-2.0
# The package's typing and metadata: py.typed, .pyi stubs whose signatures match the
# implementation's (names, kinds, defaults), every public docstring with an example, the version.
import ast
import inspect
import os
import re

import pytest

import logitkit

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PKG = os.path.join(ROOT, "python", "logitkit")


def stub_functions(path):
    """{name: ast arguments} for the stub's functions, {Class.method: ...} for its classes."""
    tree = ast.parse(open(path).read())
    out = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            out.setdefault(node.name, node.args)  # the first overload
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    out[f"{node.name}.{item.name}"] = item.args
    return out


def stub_params(args):
    """[(name, kind, default)] with defaults as Python values (... for 'any default')."""
    params = []
    pos = args.posonlyargs + args.args
    defaults = [None] * (len(pos) - len(args.defaults)) + list(args.defaults)
    for a, d in zip(pos, defaults):
        params.append((a.arg, "positional", d))
    if args.vararg:
        params.append((args.vararg.arg, "var", None))
    for a, d in zip(args.kwonlyargs, args.kw_defaults):
        params.append((a.arg, "keyword", d))
    result = []
    for name, kind, d in params:
        if d is None:
            value = inspect.Parameter.empty
        else:
            value = ast.literal_eval(d) if not isinstance(d, ast.Constant) or d.value is not ... \
                else Ellipsis
        result.append((name, kind, value))
    return result


def impl_params(fn):
    result = []
    for p in inspect.signature(fn).parameters.values():
        kind = {inspect.Parameter.KEYWORD_ONLY: "keyword",
                inspect.Parameter.VAR_POSITIONAL: "var"}.get(p.kind, "positional")
        result.append((p.name, kind, p.default))
    return result


def compare(stub, impl, what):
    assert [(n, k) for n, k, _ in stub] == [(n, k) for n, k, _ in impl], what
    for (name, _, sd), (_, _, idef) in zip(stub, impl):
        if sd is Ellipsis:
            assert idef is not inspect.Parameter.empty, (what, name)
        else:
            assert sd == idef or (sd is inspect.Parameter.empty and idef is inspect.Parameter.empty), \
                (what, name, sd, idef)


def test_py_typed_and_stubs_installed_beside_the_module():
    pkg = os.path.dirname(logitkit.__file__)
    for f in ("py.typed", "__init__.pyi"):
        assert os.path.exists(os.path.join(pkg, f)), f


def test_numpy_api_stubs_match():
    stubs = stub_functions(os.path.join(PKG, "__init__.pyi"))
    names = [n for n in logitkit.__all__ if callable(getattr(logitkit, n))]
    assert len(names) >= 15
    for name in names:
        obj = getattr(logitkit, name)
        if inspect.isclass(obj):
            methods = [m for m, v in vars(obj).items()
                       if callable(v) and (m == "__init__" or not m.startswith("_"))]
            for method in methods:
                key = f"{name}.{method}"
                assert key in stubs, f"{key} has no stub"
                compare(stub_params(stubs[key]), impl_params(getattr(obj, method)), key)
            continue
        assert name in stubs, f"{name} has no stub"
        compare(stub_params(stubs[name]), impl_params(obj), name)


def test_torch_api_stubs_match():
    lt = pytest.importorskip("logitkit.torch")
    stubs = stub_functions(os.path.join(PKG, "torch.pyi"))
    for name in lt.__all__:
        obj = getattr(lt, name)
        if inspect.isclass(obj):
            for method in ("__init__", "forward"):
                key = f"{name}.{method}"
                assert key in stubs, f"{key} has no stub"
                compare(stub_params(stubs[key]), impl_params(getattr(obj, method)), key)
        else:
            assert name in stubs, f"{name} has no stub"
            compare(stub_params(stubs[name]), impl_params(obj), name)


def test_every_public_docstring_has_an_example():
    for name in logitkit.__all__:
        obj = getattr(logitkit, name)
        if callable(obj):
            assert obj.__doc__ and ">>>" in obj.__doc__, name


def test_version_is_the_cmake_project_version():
    text = open(os.path.join(ROOT, "CMakeLists.txt")).read()
    version = re.search(r"project\(\s*logitkit\s+VERSION\s+([0-9.]+)", text).group(1)
    assert logitkit.__version__ == version
    # The C++ header's version string must agree (it is what C++ users see).
    assert logitkit._lk.library_version == version
