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
    assert err.count("\n") == 1 and ("could not write" in err or "cannot write" in err) and str(blocker) in err


# --- honest mathematics: kinks, domains, juxtaposed names, F(a), one source of truth, bounded work ---------------


def _one_line_refusal(code, out, err):
    assert code == 2 and out == ""
    assert err.startswith("jacx: error: ") and err.count("\n") == 1
    return err


def test_kink_is_refused_with_output_variable_and_one_sided_values(capsys):
    for extra in ([], ["--json"]):
        err = _one_line_refusal(*run(capsys, "abs(x), y", "--at", "x=0,y=1", *extra))
        assert "f1 = abs(x) is not differentiable in x" in err and "x = 0, y = 1" in err
        assert "-1 from the left, 1 from the right" in err
    err = _one_line_refusal(*run(capsys, "x, relu(y) + y", "--at", "0,0"))
    assert "f2 = y + relu(y) is not differentiable in y" in err and "1 from the left, 2 from the right" in err
    err = _one_line_refusal(*run(capsys, "sign(x)", "--at", "x=0"))
    assert "jumps" in err


def test_a_kink_that_does_not_matter_is_answered(capsys):
    code, out, _ = run(capsys, "abs(x)*y, y", "--at", "0,0", "--json")  # |x| y is differentiable at the origin
    assert code == 0 and json.loads(out)["value"] == [[0.0, 0.0], [0.0, 1.0]]


@pytest.mark.parametrize(
    "expr, at, fragment",
    [
        ("log(x), y", "x=-1,y=0", "f1 = log(x) is not defined at x = -1, y = 0: log needs a positive argument"),
        ("log(x)", "x=0", "log(0)"),
        ("x/(y - 1), y", "x=1,y=1", "divides by zero"),
        ("asin(x)", "x=2", "asin needs an argument between -1 and 1"),
        ("atanh(x)", "x=2", "atanh needs an argument strictly between -1 and 1"),
        ("x**-1", "x=0", "divides by zero"),
        ("x^(1/3)", "x=-8", "negative number x = -8 to the non-integer power"),
        ("y, sqrt(x)", "x=-1,y=0", "f2 = sqrt(x) is not defined"),
        ("cot(x)", "x=0", "cot(x) is infinite where sin(x) = 0"),
    ],
)
def test_points_outside_the_domain_are_refused(capsys, expr, at, fragment):
    for extra in ([], ["--json"]):
        err = _one_line_refusal(*run(capsys, expr, "--at", at, *extra))
        assert fragment in err


def test_sqrt_at_zero_is_defined_but_not_differentiable(capsys):
    err = _one_line_refusal(*run(capsys, "sqrt(x)", "--at", "x=0"))
    assert "not differentiable" in err and "+infinity from the right" in err and "not defined" not in err


def test_juxtaposed_names_are_refused_unless_declared(capsys):
    err = _one_line_refusal(*run(capsys, "x**2 + y, xy"))
    assert "did you mean x*y?" in err and "--vars" in err
    code, out, _ = run(capsys, "x**2 + y, xy", "--vars", "x y xy", "--json")
    assert code == 0 and json.loads(out)["variables"] == ["x", "y", "xy"]


def test_value_of_f_is_shown_and_in_json(capsys):
    code, out, _ = run(capsys, "x**2 + y, x*y", "--at", "x=1,y=2")
    assert code == 0 and "F(1, 2) = (3, 2)" in out
    code, out, _ = run(capsys, "x**2 + y, x*y", "--at", "x=1,y=2", "--json")
    obj = json.loads(out)
    assert obj["F"] == [3.0, 2.0]
    assert {"variables", "parameters", "outputs", "jacobian", "at", "value", "det", "det_symbolic", "verdict",
            "ad_max_abs_diff"} <= set(obj)


def test_det_and_verdict_come_from_the_printed_matrix(capsys):
    code, out, _ = run(capsys, "2*x, -y", "--at", "x=5,y=7")
    assert code == 0 and "det J = -2\n" in out and "factor of 2" in out and "orientation reversed" in out
    code, out, _ = run(capsys, "x + y, y", "--at", "x=0,y=0", "--json")
    obj = json.loads(out)
    assert obj["det"] == 1.0 and obj["verdict"].startswith("preserves area")


def test_huge_point_values_are_one_line(capsys):
    err = _one_line_refusal(*run(capsys, "x", "--at", "x=exp(exp(exp(exp(10))))"))
    assert "too large for float64" in err
    err = _one_line_refusal(*run(capsys, "exp(x)", "--at", "x=1000"))
    assert "overflows" in err


def test_costly_inputs_are_answered_or_refused(capsys):
    code, out, _ = run(capsys, "(x+1)^1000 + (x-1)^1000", "--at", "x=0.5")  # factoring this took 90 s
    assert code == 0 and "det J = 1000*(x - 1)**999 + 1000*(x + 1)**999" in out
    big = ", ".join(f"sin(x{i})*cos(x{(i + 1) % 6}) + x{(i + 2) % 6}" for i in range(6))
    code, out, _ = run(capsys, big)
    assert code == 0 and "det J: not computed symbolically for a 6 x 6 Jacobian" in out
    many = "*".join(f"v{i}" for i in range(100))
    err = _one_line_refusal(*run(capsys, many))
    assert "100 variables" in err and "at most 64" in err


def test_work_past_the_budget_is_refused_in_one_line(capsys, monkeypatch):
    import time as _time

    monkeypatch.setattr(_cli, "TIME_BUDGET_S", 0.2)
    monkeypatch.setattr(_cli, "_run_expression", lambda args, out, progress: _time.sleep(1.5) or 0)
    err = _one_line_refusal(*run(capsys, "x*y"))
    assert "gave up" in err and "more than" in err


@pytest.mark.parametrize(
    "expr, at",
    [
        ("^".join(["x"] * 30) + ", y", "x=0.5,y=1"),  # a power tower: over 300 s before
        ("*".join(f"(x{i % 8}+{i})^{i % 7 + 2}" for i in range(300)), "1,1,1,1,1,1,1,1"),  # ~20 s to differentiate
    ],
)
def test_the_command_never_hangs(expr, at):
    import subprocess

    proc = subprocess.run([sys.executable, "-m", "jacx._cli", expr, "--at", at], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode in (0, 2)
    if proc.returncode == 2:
        assert proc.stderr.startswith("jacx: error: ") and proc.stderr.count("\n") == 1
    else:
        assert "det J" in proc.stdout


# --- a command line that feels finished: --version, help everywhere, one output option, the quoting hint ---------


def test_version(capsys):
    from jacx import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"jacx {__version__}\n"


def _every_parser():
    """(prog, parser) for the top-level command and every subcommand that builds its parser with ``_parser()``,
    sub-subcommands (``jacx sparse spy``) included."""
    import argparse
    import importlib

    found = [("jacx", _cli._build_parser())]
    for name, (module_name, _) in _cli.SUBCOMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            continue
        if hasattr(module, "_parser"):
            found.append((f"jacx {name}", module._parser()))
    walked, stack = [], list(found)
    while stack:
        prog, parser = stack.pop()
        walked.append((prog, parser))
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                stack.extend((sub.prog, sub) for sub in action.choices.values())
    return walked


def test_every_option_of_every_command_has_help():
    import argparse

    walked = _every_parser()
    progs = {prog for prog, _ in walked}
    assert {"jacx", "jacx plot", "jacx flow", "jacx sparse", "jacx sparse info", "jacx sparse spy",
            "jacx demo"} <= progs
    for prog, parser in walked:
        visible = {a.dest for a in parser._actions if a.help is not argparse.SUPPRESS}
        for action in parser._actions:
            name = "/".join(action.option_strings) or action.dest
            if action.help is argparse.SUPPRESS:  # only an old spelling of an option that is shown
                assert action.dest in visible, f"{prog}: {name} is hidden and has no visible twin"
                continue
            assert action.help and action.help.strip(), f"{prog}: {name} has no help text"


def test_every_command_writing_files_takes_dash_o_and_output():
    walked = dict(_every_parser())
    for prog in ("jacx plot", "jacx flow", "jacx sparse spy", "jacx demo"):
        flags = {flag for a in walked[prog]._actions for flag in a.option_strings if a.dest == "output"}
        assert {"-o", "--output"} <= flags, prog
        shown = walked[prog].format_help()
        assert "-o PATH, --output PATH" in shown and "--out " not in shown and "--output-dir" not in shown, prog


@pytest.mark.parametrize(
    ("prog", "argv", "old"),
    [
        ("jacx sparse", ["spy", "arrow"], "--out"),
        ("jacx flow", [], "--output-dir"),
        ("jacx demo", ["vision"], "--out"),
    ],
)
def test_old_output_spellings_still_work(prog, argv, old):
    parser = dict(_every_parser())[prog]
    for flag in ("-o", "--output", old):
        assert parser.parse_args([*argv, flag, "somewhere"]).output == "somewhere", flag


def test_sparse_spy_and_flow_write_where_dash_o_says(tmp_path, capsys):
    spy = tmp_path / "spy.png"
    assert main(["sparse", "spy", "arrow", "--size", "12", "-o", str(spy)]) == 0
    assert spy.read_bytes()[:4] == b"\x89PNG"
    folder = tmp_path / "flow"
    assert main(["flow", "--steps", "2", "--num-data", "64", "--layers", "1", "--hidden", "4", "--no-progress",
                 "-o", str(folder)]) in (0, 1)  # two steps of training need not integrate to 1 within 1%
    assert sorted(p.name for p in folder.iterdir()) == ["flow_moons_density.png", "flow_moons_loss.png",
                                                        "flow_moons_volume.png"]


@pytest.mark.parametrize(
    ("argv", "hint"),
    [
        (["x**2", "+", "y,", "x*y"], 'put the expression in quotes: jacx "x**2 + y, x*y"'),
        (["x**2", "+", "y,", "x*y", "--at", "x=1,y=2", "--json"],
         'put the expression in quotes: jacx "x**2 + y, x*y" --at x=1,y=2 --json'),
        (["--vars", "x y", "x", "+", "y,", "y"], "put the expression in quotes: jacx \"x + y, y\" --vars 'x y'"),
        (["plot", "x**2", "-", "y**2,", "2*x*y", "-o", "m.png"],
         'put the expression in quotes: jacx plot "x**2 - y**2, 2*x*y" -o m.png'),
    ],
)
def test_an_unquoted_expression_gets_a_hint_to_quote_it(capsys, argv, hint):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("jacx") and "unrecognized arguments" in err and err.rstrip().endswith(hint)


def test_an_unknown_option_gets_no_quoting_hint(capsys):
    code, _, err = run(capsys, "x, y", "--nosuch")
    assert code == 2 and "unrecognized arguments: --nosuch" in err and "quotes" not in err
