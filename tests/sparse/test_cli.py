"""`jacx sparse ...` entry point."""

from jacx.sparse._cli import cli_main


def test_info(capsys):
    assert cli_main(["info", "brusselator", "--size", "12"]) == 0
    out = capsys.readouterr().out
    assert "288 x 288, 1728 nonzeros, 6 products (forward" in out and "agrees" in out


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
