"""Volume pictures and the `jacx plot` command: numbers against hand-derived determinants, files written."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

import jacx
import jacx.logdet as ld
from jacx.logdet._cli import cli_main, map_from_text


def test_volume_map_matches_hand_derived_determinant():
    # resolution 40: no grid point lies exactly on the circle |z| = 1/2 where |det| = 1
    vm = ld.volume_map(lambda p: jnp.array([p[0] ** 2 - p[1] ** 2, 2 * p[0] * p[1]]), resolution=40)
    gx, gy = np.meshgrid(vm.xs, vm.ys)
    np.testing.assert_allclose(vm.det, 4 * (gx**2 + gy**2), rtol=1e-5, atol=1e-5)  # |f'(z)|^2 = 4 |z|^2
    inside = 4 * (gx**2 + gy**2) < 1
    assert vm.contracts == pytest.approx(inside.mean())
    assert vm.reverses == 0.0


def test_reflection_reverses_everywhere_and_fold_partly():
    vm = ld.volume_map(lambda p: jnp.array([p[0], -2.0 * p[1]]), resolution=20)
    assert vm.reverses == 1.0 and vm.expands == 1.0
    fold = ld.volume_map(lambda p: jnp.array([p[0] ** 3 - 3 * p[0], p[1]]), xlim=(-2, 2), resolution=401)
    # det = 3x^2 - 3 < 0 exactly for |x| < 1: half of [-2, 2]
    assert fold.reverses == pytest.approx(0.5, abs=0.01)


def test_plot_map_writes_a_file(tmp_path):
    fig = ld.plot_map(lambda p: jnp.array([p[0] ** 3 - 3 * p[0] + p[1], p[1]]), resolution=30, title="fold")
    out = tmp_path / "fold.png"
    fig.savefig(out, dpi=40)
    assert out.stat().st_size > 1000


def test_map_from_text_is_the_formula():
    f = map_from_text("x**2 - y**2, 2*x*y")
    np.testing.assert_allclose(f(jnp.array([1.5, -0.5])), [2.0, -1.5])


def test_cli_writes_the_figure(tmp_path, capsys):
    out = tmp_path / "map.png"
    assert cli_main(["x**2 - y**2, 2*x*y", "-o", str(out), "--resolution", "20"]) == 0
    assert out.stat().st_size > 1000
    assert "expands on" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["x*y"], "exactly two"),
        (["x + z, y"], "unknown variable(s) z"),
        (["__import__('os').system('true'), y"], "not allowed"),
        (["x, y", "--xlim", "2", "1"], "low < high"),
        (["x, y", "--bogus"], "unrecognized arguments"),
    ],
)
def test_cli_bad_input_is_one_line_and_status_2(argv, message, capsys):
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_the_main_command_dispatches_plot(tmp_path):
    from jacx._cli import main

    assert main(["plot", "x + y, x - y", "-o", str(tmp_path / "m.png"), "--resolution", "10"]) == 0


def test_non_plane_map_is_rejected():
    with pytest.raises(jacx.NonSquareJacobianError, match="point"):
        ld.volume_map(lambda p: p[0] * p[1])


def _legend(fig):
    (legend,) = fig.legends  # one legend under the panels: grid colours and det J's marks
    return [t.get_text() for t in legend.get_texts()]


def test_undefined_half_plane_is_masked_and_its_edge_is_a_pole_not_a_zero():
    f = map_from_text("log(x), y")  # det J = 1/x: undefined for x <= 0, a pole at x = 0, no zero
    vm = ld.volume_map(f, resolution=40)
    gx, _ = np.meshgrid(vm.xs, vm.ys)
    assert np.all(np.isnan(vm.det[gx < 0])) and np.all(np.isfinite(vm.det[gx > 0]))
    assert vm.undefined == pytest.approx(0.5) and "undefined on 50%" in vm.summary()
    labels = _legend(ld.plot_map(f, resolution=40))
    assert any("undefined" in t for t in labels) and any("pole" in t for t in labels)
    assert not any("det J = 0" in t for t in labels)


def test_poles_and_zeros_are_told_apart():
    from jacx.logdet._plot import _poles

    f = map_from_text("x/(x**2 + y**2 - 1), y")  # poles on the unit circle, zeros on the hyperbola y^2 = x^2 + 1
    vm = ld.volume_map(f, resolution=60)
    points, _ = _poles(f, vm)
    assert len(points) > 20
    np.testing.assert_allclose(np.hypot(points[:, 0], points[:, 1]), 1.0, atol=0.1)
    labels = _legend(ld.plot_map(f, resolution=60))
    assert any("det J = 0" in t for t in labels) and any("pole" in t for t in labels)
    fold = map_from_text("x**3 - 3*x + y, y")  # zeros at x = +-1, no pole
    assert len(_poles(fold, ld.volume_map(fold, resolution=40))[0]) == 0
