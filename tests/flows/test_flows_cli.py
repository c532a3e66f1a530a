"""The `jacx flow` demo: a short run writes its figures and passes the normalisation check; bad input is status 2."""

from __future__ import annotations

import pytest

from jacx.flows._cli import cli_main


def test_short_demo_writes_figures(tmp_path, capsys):
    rc = cli_main(["--steps", "100", "--layers", "2", "--hidden", "16", "--num-data", "1000", "-o", str(tmp_path),
                   "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "within 1% of 1" in out
    for name in ("density", "loss", "volume"):
        assert (tmp_path / f"flow_moons_{name}.png").stat().st_size > 1000


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--steps", "0"], "--steps 0"), (["--data", "spiral"], "invalid choice"), (["--layers", "-1"], "--layers -1")],
)
def test_bad_input(argv, message, capsys):
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
