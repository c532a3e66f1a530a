"""`jacx sparse ...` entry point: reports, spy plots, and bad input as one line with exit status 2."""

import pytest

from jacx.sparse._cli import cli_main


def test_info(capsys):
    assert cli_main(["info", "brusselator", "--size", "12"]) == 0
    out = capsys.readouterr().out
    assert "288 x 288, 1728 nonzeros, 6 products (forward" in out and "agrees" in out


@pytest.mark.parametrize("layout", ["flat", "interleaved", "random"])
def test_info_with_a_layout_finds_the_grid(layout, capsys):
    assert cli_main(["info", "brusselator", "--size", "12", "--layout", layout]) == 0
    out = capsys.readouterr().out
    assert f"brusselator ({layout} layout) (size 12): 288 x 288, 1728 nonzeros, 6 products" in out and "agrees" in out


@pytest.mark.parametrize(("problem", "size", "shape"), [("stencil-3d", "6", "216 x 216"), ("mesh", "300", "300 x 300")])
def test_info_on_the_new_problems(problem, size, shape, capsys):
    assert cli_main(["info", problem, "--size", size]) == 0
    out = capsys.readouterr().out
    assert f"{problem} (size {size}): {shape}" in out and "agrees" in out


def test_layout_applies_to_the_brusselator_only(capsys):
    assert cli_main(["info", "mesh", "--size", "50", "--layout", "flat"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "applies to brusselator only" in err


def test_spy_writes_a_png(tmp_path, capsys):
    target = tmp_path / "arrow.png"
    assert cli_main(["spy", "arrow", "--size", "30", "--out", str(target)]) == 0
    assert target.read_bytes()[:4] == b"\x89PNG"
    out = capsys.readouterr().out
    assert "3 products (bidirectional" in out and "wrote" in out


def test_bad_input_exits_2_with_one_line(capsys):
    assert cli_main(["info", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert "nope" in err and "\n" not in err
    assert cli_main(["info", "arrow", "--size", "1"]) == 2
    assert cli_main([]) == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        # --size 0 used to run the default size silently
        (["info", "arrow", "--size", "0"], "argument --size: received '0', which is below the minimum; expected a "
                                           "whole number from 2 to 1000000 (for arrow; "),
        # float-looking sizes are refused, not rounded
        (["info", "brusselator", "--size", "1e8"], "received '1e8', which is not a whole number written in digits; "
                                                   "expected a whole number from 2 to 700 (for brusselator; "),
        # a size that used to be OOM-killed
        (["info", "broyden-tridiagonal", "--size", "100000000"], "received '100000000', which is above the maximum"),
        (["info", "conv", "--size", "2**20"], "received '2**20', which is not a number"),
        # spy plots have smaller limits: drawing millions of points takes too long
        (["spy", "conv", "--size", "30000"], "expected a whole number from 2 to 25000 (for conv; a larger spy plot"),
        (["info", "stencil-3d", "--size", "500"], "expected a whole number from 2 to 100 (for stencil-3d; "),
        (["info", "mesh", "--size", "10000000"], "expected a whole number from 3 to 200000 (for mesh; "),
        (["info", "mesh", "--size", "2"], "received '2', which is below the minimum; expected a whole number from 3"),
    ],
)
def test_sizes_are_bounded_with_one_line(argv, message, capsys):
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("jacx sparse: error: ") and message in err and err.count("\n") == 1
    assert "give one in that range, e.g." in err


def test_spy_names_the_file_it_wrote(tmp_path, capsys):
    # a folder gets the default file name inside; a name without extension gets .png, as matplotlib does
    assert cli_main(["spy", "arrow", "--size", "10", "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"wrote {tmp_path / 'sparsity.png'}"
    assert cli_main(["spy", "arrow", "--size", "10", "--out", str(tmp_path / "pattern")]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"wrote {tmp_path / 'pattern.png'}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pattern.png", "sparsity.png"]


def test_spy_refuses_an_unknown_image_format_before_work(tmp_path, capsys):
    assert cli_main(["spy", "arrow", "--size", "10", "--out", str(tmp_path / "p.xyz")]) == 2
    err = capsys.readouterr().err
    assert "the image format 'xyz' is unknown; use one of the extensions" in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []
