"""The `jacx flow` demo: a short run writes its figures and passes the normalisation check; bad input is status 2
with one line saying what was received, what is allowed and how to fix it, before any training."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest

import jacx.flows._train as train_module
from jacx.flows._cli import cli_main


def test_short_demo_writes_figures(tmp_path, capsys):
    rc = cli_main(["--steps", "100", "--layers", "2", "--hidden", "16", "--num-data", "1000", "-o", str(tmp_path),
                   "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "within 1% of 1" in out
    for name in ("density", "loss", "volume"):
        path = tmp_path / f"flow_moons_{name}.png"
        assert path.stat().st_size > 1000
        assert str(path) in out
    assert sorted(os.listdir(tmp_path)) == ["flow_moons_density.png", "flow_moons_loss.png", "flow_moons_volume.png"]


@pytest.fixture
def no_training(monkeypatch):
    """Bad options must be refused before any training starts."""

    def refuse(*args, **kwargs):
        raise AssertionError("training started despite bad options")

    monkeypatch.setattr(train_module, "train", refuse)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--steps", "0"], "argument --steps: received '0', which is below the minimum; expected a whole number "
                           "from 1 to 1000000: give one in that range, e.g. 4000"),
        (["--data", "spiral"], "invalid choice"),
        (["--layers", "-1"], "argument --layers: received '-1'"),
        (["--layers", "100"], "expected a whole number from 1 to 32"),
        (["--hidden", "200000"], "argument --hidden: received '200000', which is above the maximum; expected a whole "
                                 "number from 1 to 512 (wider layers do not fit in memory): give one in that range, "
                                 "e.g. 64"),
        (["--seed", str(2**70)], "expected a whole number from 0 to 4294967295"),
        (["--seed", "2**70"], "received '2**70', which is not a number"),
        (["--learning-rate", "inf"], "received 'inf', which is not a finite number; expected a number greater than 0 "
                                     "and at most 1"),
        (["--learning-rate", "nan"], "not a finite number"),
        (["--learning-rate", "0"], "received '0', which is too small"),
        (["--batch-size", "1e3"], "received '1e3', which is not a whole number written in digits"),
        (["--batch-size", "100000"], "from 1 to 4096"),
        (["--num-data", "0"], "from 1 to 200000"),
    ],
)
def test_bad_input(argv, message, capsys, no_training):
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert err.startswith("jacx flow: error: ")


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_unwritable_output_folder_is_refused_before_training(capsys, no_training):
    assert cli_main(["-o", "/proc", "--steps", "10"]) == 2
    err = capsys.readouterr().err
    assert "cannot write into the folder '/proc'" in err and err.count("\n") == 1


def test_output_folder_under_a_file_is_refused_before_training(tmp_path, capsys, no_training):
    (tmp_path / "file").write_text("")
    assert cli_main(["-o", str(tmp_path / "file"), "--steps", "10"]) == 2
    err = capsys.readouterr().err
    assert f"cannot write into the folder '{tmp_path / 'file'}'" in err and err.count("\n") == 1


def test_diverged_training_is_one_line_and_writes_no_figures(tmp_path, capsys, monkeypatch):
    real_train = train_module.train

    def diverging(*args, **kwargs):
        result = real_train(*args, **kwargs)
        losses = result.losses.copy()
        losses[3:] = np.nan
        return dataclasses.replace(result, losses=losses)

    monkeypatch.setattr(train_module, "train", diverging)
    rc = cli_main(["--steps", "10", "--layers", "1", "--hidden", "4", "--num-data", "100", "--learning-rate", "0.5",
                   "-o", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 1
    assert err == ("jacx flow: error: training diverged (the loss became nan at step 4); rerun with a smaller "
                   "--learning-rate than 0.5, e.g. 0.05\n")
    assert os.listdir(tmp_path) == []
