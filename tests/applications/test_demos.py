"""The `jacx demo NAME` entry: bad input exits 2 with one line; the quick demos report passing checks."""

import io

import pytest

from jacx._demos import DEMOS, cli_main


def test_bad_name_exits_2_with_one_line(capsys):
    assert cli_main(["nosuch"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown demo" in err
    assert cli_main([]) == 2


# the robotics, implicit and robustness demos repeat checks that their module tests make; run one quick demo here
@pytest.mark.parametrize("name", ["backprop"])
def test_demo_checks_pass(name):
    out = io.StringIO()
    DEMOS[name](out)
    text = out.getvalue()
    assert "[ok]" in text and "[FAILED]" not in text


def test_robustness_demo_claims_hold():
    # the demo as shipped (400 Adam steps): the regulariser must shrink ||J||_F and must not lose accuracy under
    # the attack.  (With far fewer steps, e.g. 150, the attacked accuracies are level: the gain needs training.)
    res = DEMOS["robustness"](io.StringIO(), None)
    assert res["regularised"]["fro"] < 0.5 * res["plain"]["fro"]
    assert res["regularised"]["attacked"] >= res["plain"]["attacked"]
    assert res["regularised"]["clean"] > 0.9


def test_demo_reached_through_the_jacx_command(capsys):
    from jacx._cli import main

    assert main(["demo", "nosuch"]) == 2
    assert "unknown demo" in capsys.readouterr().err


def test_vision_demo_creates_its_output_folder(tmp_path):
    pytest.importorskip("skimage")
    out = tmp_path / "not" / "yet" / "there"
    assert cli_main(["vision", "--out", str(out)]) == 0
    assert (out / "steepest_descent_affine.png").stat().st_size > 0


def test_unwritable_output_folder_exits_2(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert cli_main(["backprop", "--out", str(blocker / "sub")]) == 2
    assert "cannot create the folder" in capsys.readouterr().err
