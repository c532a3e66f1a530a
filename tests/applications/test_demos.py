"""The `jacx demo NAME` entry: bad input exits 2 with one line; the quick demos report passing checks."""

import io
import sys

import pytest

import jacx._demos as demos
from jacx._demos import DEMOS, cli_main, install_hint


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
    err = capsys.readouterr().err
    assert "cannot write into the folder" in err and err.count("\n") == 1


@pytest.fixture
def without_scikit_image(monkeypatch):
    """As if the optional extra `apps` (scikit-image) were not installed; only two quick demos in `all`."""
    monkeypatch.setitem(sys.modules, "skimage", None)  # `import skimage` now raises ModuleNotFoundError
    monkeypatch.setattr(demos, "DEMOS", {"vision": DEMOS["vision"], "backprop": DEMOS["backprop"]})


def test_all_goes_on_past_a_missing_optional_extra(without_scikit_image, capsys):
    assert cli_main(["all"]) == 0
    out = capsys.readouterr().out
    assert 'skipped: the vision demo needs scikit-image, which is not installed; install it with: pip install ' \
           '"jacx[apps]"' in out
    assert "(backprop demo took" in out and "[FAILED]" not in out
    assert out.strip().splitlines()[-1] == ('ran 1 of 2 demos: all checks passed; skipped vision (missing optional '
                                            'packages: pip install "jacx[apps]")')


def test_a_single_demo_with_a_missing_extra_is_one_line(without_scikit_image, capsys):
    assert cli_main(["vision"]) == 2
    err = capsys.readouterr().err
    assert err == ('jacx demo: error: the vision demo needs scikit-image, which is not installed; install it with: '
                   'pip install "jacx[apps]"\n')


def test_failed_checks_give_exit_status_1(monkeypatch, capsys):
    def failing(out, outdir=None):
        out.write("  a check  [FAILED]\n")
        return {}

    monkeypatch.setattr(demos, "DEMOS", {"bad": failing, "backprop": DEMOS["backprop"]})
    assert cli_main(["all"]) == 1
    assert capsys.readouterr().out.strip().splitlines()[-1] == "ran 2 of 2 demos: checks FAILED in: bad"


def test_an_import_error_inside_jacx_is_not_skipped(monkeypatch):
    def broken(out, outdir=None):
        raise ModuleNotFoundError("No module named 'jacx.gone'", name="jacx.gone")

    monkeypatch.setattr(demos, "DEMOS", {"broken": broken, "backprop": DEMOS["backprop"]})
    with pytest.raises(ModuleNotFoundError, match="jacx.gone"):
        cli_main(["all"])


def test_install_hint_reads_the_extras():
    assert install_hint("skimage") == 'pip install "jacx[apps]"'
    assert install_hint("not_a_jacx_extra") == "pip install not_a_jacx_extra"
