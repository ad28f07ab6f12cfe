"""The pieces shipped engines are built from, none of which needs an optional engine:
loading by name (and the error naming the extra), NotApplicable, the NumPy-style op
translation (checked on NumPy itself), and the published matrix."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest

from conformance import matrix
from conformance.cli import main
from conformance.engines import (
    NAMED_ENGINES,
    EngineSpecError,
    NamedEngine,
    is_adapter_spec,
    load_engine,
)
from conformance.engines.numpy_style import NumpyStyleOps
from conformance.engines.protocol import NotApplicable
from conformance.program import ApplyOp, MakeLeaf, Program, Ref, Values
from conformance.run import run_program
from tests.conformance.tiny_adapter import TinyEngine

# --------------------------------------------------------------------------- loading by name


@pytest.fixture
def engine_needing_a_missing_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A named engine whose adapter imports a package that is not installed."""
    (tmp_path / "fake_adapter.py").write_text("import no_such_engine_package\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    named = NamedEngine("fake_adapter:FakeEngine", "no_such_engine_package", "fake-extra")
    monkeypatch.setitem(cast(dict[str, NamedEngine], NAMED_ENGINES), "fake", named)
    return "fake"


def test_a_missing_engine_package_is_one_line_naming_the_extra(
        engine_needing_a_missing_package: str) -> None:
    with pytest.raises(EngineSpecError) as raised:
        load_engine(engine_needing_a_missing_package)
    assert str(raised.value) == (
        "engine 'fake' needs the optional package 'no_such_engine_package' "
        "(No module named 'no_such_engine_package'): pip install 'refgrad[fake-extra]'")


def test_the_cli_exits_2_with_that_line(engine_needing_a_missing_package: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--engine", engine_needing_a_missing_package]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("refgrad-conformance: error: engine 'fake' needs")
    assert err.endswith("pip install 'refgrad[fake-extra]'\n")


@pytest.mark.parametrize("name", sorted(NAMED_ENGINES))
def test_each_shipped_engine_loads_or_names_its_extra(name: str) -> None:
    named = NAMED_ENGINES[name]
    if importlib.util.find_spec(named.package) is not None:
        assert load_engine(name).name == name
        return
    with pytest.raises(EngineSpecError, match=rf"pip install 'refgrad\[{named.extra}\]'$"):
        load_engine(name)


def test_named_engines_are_adapter_specs() -> None:
    assert is_adapter_spec("jax") and is_adapter_spec("pkg.mod:Engine")
    assert not is_adapter_spec("refgrad") and not is_adapter_spec("torch")


# --------------------------------------------------------------------------- NotApplicable


class _RefusesExp(TinyEngine):
    def apply(self, op: str, args: Any, kwargs: Any) -> Any:
        if op == "exp":
            raise NotApplicable("exp of this kind has no counterpart")
        return super().apply(op, args, kwargs)


def test_not_applicable_from_an_adapter_stops_the_program_with_its_reason() -> None:
    program = Program((
        MakeLeaf("t0", Values((), (1.0,))),
        ApplyOp(("t1",), "exp", (Ref("t0"),)),
        ApplyOp(("t2",), "neg", (Ref("t0"),)),
    ))
    trace = run_program(program, _RefusesExp())
    assert [o.status for o in trace.outcomes] == ["ok", "not_applicable"]
    assert trace.not_applicable == "exp of this kind has no counterpart"


# --------------------------------------------------------------------------- NumPy-style ops


@pytest.fixture
def ops() -> NumpyStyleOps:
    return NumpyStyleOps(np)  # NumPy is the NumPy-style namespace par excellence


def test_dim_and_keepdim_become_axis_and_keepdims(ops: NumpyStyleOps) -> None:
    x = np.arange(6.0).reshape(2, 3)
    assert ops("sum", [x], {"dim": (0, 1), "keepdim": True}).shape == (1, 1)
    np.testing.assert_array_equal(ops("mean", [x], {"dim": -1, "keepdim": False}), [1.0, 4.0])
    assert ops("sum", [x], {}).shape == ()


def test_max_with_dim_is_values_and_indices(ops: NumpyStyleOps) -> None:
    x = np.array([[1.0, 3.0], [2.0, 0.0]])
    values, indices = ops("max", [x], {"dim": 1, "keepdim": True})
    np.testing.assert_array_equal(values, [[3.0], [2.0]])
    np.testing.assert_array_equal(indices, [[1], [0]])
    assert ops("min", [x], {}) == 0.0


def test_torch_names_and_signatures(ops: NumpyStyleOps) -> None:
    x = np.array([[-1.0, 2.0, 0.5]])
    np.testing.assert_array_equal(ops("clamp", [x], {"max": 1.0}), [[-1.0, 1.0, 0.5]])
    assert ops("transpose", [x, 0, -1], {}).shape == (3, 1)
    assert ops("view", [x, (3, -1)], {}).shape == (3, 1)
    np.testing.assert_array_equal(ops("getitem", [x, (0, [2, 2])], {}), [0.5, 0.5])
    np.testing.assert_array_equal(ops("sub", [2.0, x], {}), [[3.0, 0.0, 1.5]])


def test_torchs_leniency_about_dims_is_spelled_the_numpy_way(ops: NumpyStyleOps) -> None:
    scalar, x = np.array(2.0), np.arange(6.0).reshape(1, 2, 3)
    assert ops("sum", [scalar], {"dim": 0, "keepdim": True}).shape == ()
    assert ops("max", [scalar], {"dim": -1, "keepdim": True}) == (2.0, 0)
    assert ops("transpose", [scalar, 0, 0], {}).shape == ()
    assert ops("squeeze.dim", [x, 1], {}).shape == (1, 2, 3)  # size 2: kept, as in torch
    assert ops("squeeze", [x], {}).shape == (2, 3)
    np.testing.assert_array_equal(ops("narrow", [x, -1, -2, 2], {}), x[..., 1:3])
    assert ops("expand", [x[0, :, :1], (4, -1, 5)], {}).shape == (4, 2, 5)
    assert ops("flatten", [x], {"start_dim": 1, "end_dim": -1}).shape == (1, 6)
    assert ops("var", [np.array([1.0, 3.0])], {}) == 2.0  # torch's correction=1


def test_what_the_namespace_lacks_is_not_supported(ops: NumpyStyleOps) -> None:
    assert ops.supports("exp") and not ops.supports("sigmoid")  # NumPy has no sigmoid
    assert not ops.supports("no_such_op")
    with_sigmoid = NumpyStyleOps(np, {"sigmoid": lambda x: 1 / (1 + np.exp(-x))})
    assert with_sigmoid.supports("sigmoid") and with_sigmoid("sigmoid", [0.0], {}) == 0.5


# --------------------------------------------------------------------------- the matrix


def _report(spec: str, capabilities: list[str], behaviours: dict[str, tuple[int, int, int]],
            findings: int = 0) -> dict[str, Any]:
    return {
        "engine": {"spec": spec, "name": spec, "version": "1.0", "capabilities": capabilities},
        "oracle": {"name": "torch", "version": "2.13.0"}, "profile": "ci", "seed": 0,
        "summary": {"programs": sum(p for p, _, _ in behaviours.values())},
        "behaviours": {b: {"programs": p, "not_applicable": n, "findings": f}
                       for b, (p, n, f) in behaviours.items()},
        "findings": [{}] * findings,
    }


def test_the_matrix_reads_every_report(tmp_path: Path) -> None:
    (tmp_path / "report.json").write_text(json.dumps(_report(
        "refgrad", ["flags"], {"values": (10, 0, 0), "metadata": (10, 0, 0)})))
    (tmp_path / "jax").mkdir()
    (tmp_path / "jax" / "report.json").write_text(json.dumps(_report(
        "jax", [], {"values": (10, 4, 1), "metadata": (10, 0, 0), "gradients": (5, 5, 0)}, 1)))
    text = matrix.write_matrix(tmp_path).read_text()
    rows = [line for line in text.splitlines() if line.startswith("| [")]
    assert rows[0].startswith("| [refgrad](report.md) | ✅ 10 | ✅ 10 | —")
    # metadata is about flags, which jax does not declare; gradients ran nothing.
    assert rows[1].startswith("| [jax](jax/report.md) | ❌ 1 · 6 | n/a | n/a |")
    assert "[html](jax/report.html)" in text
    assert matrix.render(matrix.find_reports(tmp_path)) == text  # same reports, same matrix


def test_no_report_is_an_error(tmp_path: Path) -> None:
    assert matrix.main([str(tmp_path)]) == 2
