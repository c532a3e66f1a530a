"""`jacx plot` options: every number is bounded and checked (one line, exit status 2, what was received, what is
allowed and the fix), negative numbers in scientific notation are values, and the message names the file written."""

from __future__ import annotations

import pytest

from jacx.logdet._cli import cli_main

MAP = "x**2 - y**2, 2*x*y"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        # --dpi 20000 died with std::bad_alloc
        (["--dpi", "20000"], "argument --dpi: received '20000', which is above the maximum; expected a whole number "
                             "from 20 to 1000 (a larger image does not fit in memory): give one in that range, "
                             "e.g. 110"),
        (["--dpi", "0"], "received '0', which is below the minimum"),
        (["--resolution", "0"], "argument --resolution: received '0', which is below the minimum; expected a whole "
                                "number from 2 to 2000"),
        (["--resolution", "100000"], "from 2 to 2000"),
        (["--resolution", "1e3"], "received '1e3', which is not a whole number written in digits"),
        (["--xlim", "-inf", "1"], "argument --xlim: received '-inf', which is not a finite number"),
        (["--ylim", "0", "nan"], "argument --ylim: received 'nan', which is not a finite number"),
        (["--xlim", "-1e7", "1"], "received '-1e7', which is too small; expected a number from -1e6 to 1e6"),
        (["--xlim", "1", "1"], "argument --xlim: received 1 1; expected two finite numbers with low < high"),
        (["--ylim", "2", "-3"], "received 2 -3; expected two finite numbers with low < high: give the lower end "
                                "first, e.g. --ylim -3 2"),
    ],
)
def test_bad_numbers_are_one_line_and_status_2(argv, message, tmp_path, capsys):
    assert cli_main([MAP, "-o", str(tmp_path / "m.png"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("jacx plot: error: ") and message in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_negative_numbers_in_scientific_notation_are_values(tmp_path, capsys):
    # argparse used to read '-1.5e0' as an unknown option ("expected 2 arguments")
    assert cli_main([MAP, "--xlim", "-1.5e0", "1", "-o", str(tmp_path / "m.png"), "--resolution", "10"]) == 0
    assert (tmp_path / "m.png").stat().st_size > 1000


def test_the_message_names_the_file_actually_written(tmp_path, capsys):
    # -o DIR used to write DIR.png and say "wrote DIR"; a folder now gets map.png inside
    folder = tmp_path / "pictures"
    folder.mkdir()
    assert cli_main([MAP, "-o", str(folder), "--resolution", "10"]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {folder / 'map.png'}: expands on")
    assert [p.name for p in folder.iterdir()] == ["map.png"]
    # no extension: matplotlib appends .png, and the message says so
    assert cli_main([MAP, "-o", str(tmp_path / "noext"), "--resolution", "10"]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {tmp_path / 'noext.png'}: ")
    assert (tmp_path / "noext.png").is_file() and not (tmp_path / "noext").exists()


def test_unknown_image_format_is_refused(tmp_path, capsys):
    assert cli_main([MAP, "-o", str(tmp_path / "m.xyz"), "--resolution", "10"]) == 2
    err = capsys.readouterr().err
    assert "the image format 'xyz' is unknown; use one of the extensions" in err and err.count("\n") == 1
