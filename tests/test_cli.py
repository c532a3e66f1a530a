"""The `jacx` command: output, JSON, LaTeX, errors (exit status 2, one line on stderr) and subcommand dispatch."""

import json
import sys
import types

import pytest

from jacx import _cli
from jacx._cli import interpret, main, parse_point


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_expression_at_point(capsys):
    code, out, err = run(capsys, "x**2 + y, x*y", "--at", "x=1,y=2")
    assert code == 0 and err == ""
    assert "f1 [2*x  1]" in out and "f2 [  y  x]" in out
    assert "f1 [2  1]\nf2 [2  1]" in out
    assert "det J = 0\n" in out and "singular" in out
    assert "increasing x by a small dx changes f1 by 2 dx and f2 by 2 dx" in out
    assert "changing y by dy changes f1 by 1 dy and f2 by 1 dy" in out
    assert "agree" in out


def test_zero_entries_are_read_as_no_effect(capsys):
    code, out, _ = run(capsys, "x^2 + y, x*y", "--at", "0,1")
    assert code == 0
    assert "increasing x by a small dx does not affect f1 and changes f2 by 1 dx" in out
    assert "changing y by dy changes f1 by 1 dy and does not affect f2" in out
    assert "det J = -1\n" in out and "reverse" in out


def test_volume_verdict_for_expanding_map(capsys):
    code, out, _ = run(capsys, "x^2 - y^2, 2*x*y", "--at", "x=1,y=2")
    assert code == 0
    assert "det J = 4*(x**2 + y**2)" in out
    assert "det J = 20\n" in out and "expands" in out and "20" in out


def test_without_point_prints_symbolic_det_only_when_square(capsys):
    code, out, _ = run(capsys, "x**2 + y, x*y")
    assert code == 0 and "det J = 2*x**2 - y" in out and "At " not in out
    code, out, _ = run(capsys, "x*y*z, x + y")
    assert code == 0 and "det" not in out


def test_json(capsys):
    code, out, _ = run(capsys, "x**2 + y, x*y", "--at", "x=1,y=2", "--json")
    assert code == 0
    obj = json.loads(out)
    assert obj["variables"] == ["x", "y"]
    assert obj["outputs"] == ["x**2 + y", "x*y"]
    assert obj["jacobian"] == [["2*x", "1"], ["y", "x"]]
    assert obj["at"] == {"x": 1.0, "y": 2.0}
    assert obj["value"] == [[2.0, 1.0], [2.0, 1.0]]
    assert obj["det"] == pytest.approx(0.0, abs=1e-12)
    code, out, _ = run(capsys, "x*y*z, x", "--json")
    obj = json.loads(out)
    assert obj["det"] is None and obj["value"] is None and obj["at"] is None
    assert obj["jacobian"] == [["y*z", "x*z", "x*y"], ["1", "0", "0"]]


def test_vars_order_and_parameters(capsys):
    code, out, _ = run(capsys, "a*x + y, x*y", "--vars", "y x", "--at", "x=1,y=2,a=3", "--json")
    obj = json.loads(out)
    assert code == 0
    assert obj["variables"] == ["y", "x"]
    assert obj["value"] == [[1.0, 3.0], [1.0, 2.0]]


def test_point_values_may_be_constant_expressions(capsys):
    code, out, _ = run(capsys, "sin(x)", "--at", "x=pi/2", "--json")
    assert code == 0 and json.loads(out)["value"][0][0] == pytest.approx(0.0, abs=1e-15)


def test_latex(capsys):
    code, out, _ = run(capsys, "x**2 + y, x*y", "--at", "x=1,y=2", "--latex")
    assert code == 0
    assert r"J = \left[\begin{matrix}2 x & 1\\y & x\end{matrix}\right]" in out
    assert r"\det J = 2 x^{2} - y" in out
    assert r"J(1, 2) = \left[\begin{matrix}2 & 1\\2 & 1\end{matrix}\right]" in out


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["os(1)"], "unknown function 'os'"),
        (["__import__('os').system('echo hacked')"], "not allowed"),
        (["x**2 +"], "expected"),
        (["x*y", "--at", "x=1,z=2"], "unknown variable 'z'"),
        (["x*y", "--at", "x=1"], "missing value for y"),
        (["x*y", "--at", "x=1,y="], "missing value for y"),
        (["x*y", "--at", "1,2,3"], "3 value(s) but there are 2"),
        (["x*y", "--at", "1,y=2"], "mixes"),
        (["x*y", "--at", "x=1,x=2,y=1"], "twice"),
        (["x*y", "--at", "x=os(1),y=2"], "unknown function"),
        (["x*y", "--at", "x=y,y=2"], "must be a number"),
        (["a*x", "--vars", "x", "--at", "1"], "parameter"),
        (["sqrt(x)", "--at", "x=0"], "f1 = sqrt(x) is not differentiable in x"),
        (["x*y", "--vars", "x x"], "more than once"),
        (["x*y", "--bogus"], "unrecognized arguments"),
        (["x", "--json", "--latex"], "not allowed with"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, argv, fragment):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.startswith("jacx: error: ") and err.endswith("\n") and err.count("\n") == 1
    assert fragment in err


def test_nothing_is_executed(tmp_path, capsys):
    target = tmp_path / "pwned"
    code, _, _ = run(capsys, f"__import__('os').system('touch {target}')")
    assert code == 2 and not target.exists()


def test_help(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert "usage: jacx" in out and "--at" in out and "jacx plot" in out and "tutorial" in out


def test_dispatch_missing_module(capsys, monkeypatch):
    monkeypatch.setitem(_cli.SUBCOMMANDS, "plot", ("jacx._no_such_module_for_test", "x"))
    code, out, err = run(capsys, "plot", "--whatever")
    assert code == 2 and "not available" in err and err.count("\n") == 1


def test_dispatch_calls_cli_main_with_remaining_args(capsys, monkeypatch):
    seen = []
    fake = types.ModuleType("jacx._fake_demo_for_test")
    fake.cli_main = lambda argv: seen.append(argv) or 7
    monkeypatch.setitem(sys.modules, "jacx._fake_demo_for_test", fake)
    monkeypatch.setitem(_cli.SUBCOMMANDS, "demo", ("jacx._fake_demo_for_test", "x"))
    code, _, _ = run(capsys, "demo", "robotics", "--fast")
    assert code == 7 and seen == [["robotics", "--fast"]]


def test_parse_point_and_interpret_helpers():
    assert parse_point("y=2, x=-1.5", ["x", "y"]) == {"x": -1.5, "y": 2.0}
    assert parse_point("atan2(1, 1)", ["t"]) == {"t": pytest.approx(0.7853981633974483)}
    assert interpret([[0.0], [0.0]], ["x"]) == [
        "increasing x by a small dx does not affect any output (to first order)"
    ]
    assert interpret([[0.5, 0.0], [-2.0, 3.0]], ["u", "v"]) == [
        "increasing u by a small du changes f1 by 0.5 du and f2 by -2 du",
        "changing v by dv does not affect f1 and changes f2 by 3 dv",
    ]


def test_leading_minus_in_expression_and_point(capsys):
    code, out, _ = run(capsys, "-x**2, y", "--at", "-1,2", "--json")
    assert code == 0
    obj = json.loads(out)
    assert obj["at"] == {"x": -1.0, "y": 2.0} and obj["value"] == [[2.0, 0.0], [0.0, 1.0]]
    code, out, _ = run(capsys, "-x", "--at", "x=-3", "--json")
    assert code == 0 and json.loads(out)["value"] == [[-1.0]]


def test_help_lists_exactly_the_allowed_functions():
    from jacx.symbolic import FUNCTIONS

    listed = " ".join(_cli._EPILOG.split("and the functions ")[1].split(".")[0].split())
    assert listed.split() == sorted(FUNCTIONS)


@pytest.mark.parametrize(
    "argv",
    [
        ["plot", "x**2 - y**2, 2*x*y", "--resolution", "20", "-o", "{dir}/a/b/map.png"],
        ["sparse", "spy", "broyden-tridiagonal", "--size", "20", "--out", "{dir}/a/b/spy.png"],
    ],
)
def test_pictures_go_to_new_folders_and_bad_paths_exit_2(argv, tmp_path, capsys):
    from jacx._cli import main

    good = [a.format(dir=tmp_path) for a in argv]
    assert main(good) == 0
    assert (tmp_path / "a" / "b").is_dir() and any((tmp_path / "a" / "b").iterdir())
    blocker = tmp_path / "plain-file"
    blocker.write_text("")
    bad = [a.format(dir=blocker) for a in argv]
    capsys.readouterr()
    assert main(bad) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ("could not write" in err or "cannot write" in err)
