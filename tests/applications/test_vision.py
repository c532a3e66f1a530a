"""jacx.vision against closed-form warp Jacobians, finite differences, and a known warp of a real photograph."""

import jax.numpy as jnp
import matplotlib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jacx._errors import JacxUsageError
from jacx.vision import (
    Affine,
    Homography,
    Translation,
    align,
    plot_steepest_descent,
    steepest_descent_images,
    warp_by_name,
    warp_image,
)

matplotlib.use("Agg")

coord = st.floats(-50.0, 50.0)
small = st.floats(-0.2, 0.2)


@settings(max_examples=20, deadline=None)
@given(x=coord, y=coord, p=st.lists(small, min_size=6, max_size=6))
def test_affine_jacobians_closed_form(x, y, p):
    # Baker & Matthews: dW/dp = [[x, 0, y, 0, 1, 0], [0, x, 0, y, 0, 1]] for every p; dW/dx = the linear part
    pts = jnp.array([x, y])
    J = np.asarray(Affine().jacobian_params(jnp.array(p), pts))
    np.testing.assert_allclose(J, [[x, 0, y, 0, 1, 0], [0, x, 0, y, 0, 1]], atol=1e-5)
    Jx = np.asarray(Affine().jacobian_points(jnp.array(p), pts))
    np.testing.assert_allclose(Jx, [[1 + p[0], p[2]], [p[1], 1 + p[3]]], atol=1e-6)


@settings(max_examples=20, deadline=None)
@given(
    x=coord,
    y=coord,
    p=st.lists(small, min_size=6, max_size=6),
    q=st.lists(st.floats(-1e-3, 1e-3), min_size=2, max_size=2),
)
def test_homography_jacobians_closed_form(x, y, p, q):
    p = np.array(p + q)
    D = p[6] * x + p[7] * y + 1.0
    xw = ((1 + p[0]) * x + p[2] * y + p[4]) / D
    yw = (p[1] * x + (1 + p[3]) * y + p[5]) / D
    expected = np.array([[x, 0, y, 0, 1, 0, -x * xw, -y * xw], [0, x, 0, y, 0, 1, -x * yw, -y * yw]]) / D
    J = np.asarray(Homography().jacobian_params(jnp.array(p), jnp.array([x, y])))
    np.testing.assert_allclose(J, expected, rtol=2e-4, atol=2e-4)
    # d(x')/dx by the quotient rule
    a = np.array([[1 + p[0], p[2]], [p[1], 1 + p[3]]])
    expected_x = (a - np.outer([xw, yw], p[6:8])) / D
    np.testing.assert_allclose(Homography().jacobian_points(jnp.array(p), jnp.array([x, y])), expected_x, atol=1e-5)


def test_warp_jacobians_match_finite_differences(x64):
    rng = np.random.default_rng(0)
    for warp in (Translation(), Affine(), Homography()):
        p = rng.normal(scale=0.05, size=warp.n_params)
        if warp.n_params == 8:
            p[6:] *= 1e-2
        pts = rng.uniform(-20, 20, size=(4, 2))
        J = np.asarray(warp.jacobian_params(p, pts))
        h = 1e-6
        for k in range(warp.n_params):
            e = np.zeros(warp.n_params)
            e[k] = h
            fd = (np.asarray(warp.apply(p + e, pts)) - np.asarray(warp.apply(p - e, pts))) / (2 * h)
            np.testing.assert_allclose(J[..., k], fd, atol=1e-7)


def test_compose_inverse_is_matrix_algebra():
    w = Affine()
    p = jnp.array([0.1, 0.02, -0.03, 0.05, 3.0, -1.0])
    dp = jnp.array([0.01, 0.0, 0.02, -0.01, 0.5, 0.2])
    x = jnp.array([7.0, -4.0])
    # W(W(x; dp)^-1 ... : applying the composed warp to W(x; dp) gives back W(x; p)
    composed = w.compose_inverse(p, dp)
    np.testing.assert_allclose(w.apply(composed, w.apply(dp, x)), w.apply(p, x), atol=1e-4)
    np.testing.assert_allclose(w.compose_inverse(p, w.identity()), p, atol=1e-6)


def test_steepest_descent_images_of_a_linear_ramp():
    # T(x, y) = 2x + 3y has gradient (2, 3); for the affine warp the SD images are (2x, 3x, 2y, 3y, 2, 3)
    ys, xs = jnp.mgrid[0:12, 0:12].astype(float)
    sd = np.asarray(steepest_descent_images(2 * xs + 3 * ys, (3, 4, 5, 6), "affine"))
    gx, gy = np.mgrid[4:10, 3:8][1], np.mgrid[4:10, 3:8][0]
    expected = np.stack([2 * gx, 3 * gx, 2 * gy, 3 * gy, 2 * np.ones_like(gx), 3 * np.ones_like(gx)])
    np.testing.assert_allclose(sd, expected, atol=1e-4)


@pytest.fixture(scope="module")
def camera():
    pytest.importorskip("skimage")  # optional: the sample photograph ships with scikit-image
    from jacx.vision import sample_image

    return sample_image(smooth=1.5)


def test_lucas_kanade_recovers_known_affine_warp_of_real_image(camera):
    p_true = np.array([0.03, -0.02, 0.025, -0.015, 2.3, -1.7])  # ~3% scale, ~1.3 deg rotation+shear, shift
    image = warp_image(camera, "affine", p_true)
    box = (180, 150, 160, 160)
    res = align(image, camera, box, "affine")
    assert res.converged
    corners = np.array([[180, 150], [340, 150], [180, 310], [340, 310]], float)
    err = np.abs(np.asarray(Affine().apply(res.p, corners)) - np.asarray(Affine().apply(jnp.asarray(p_true), corners)))
    assert err.max() < 0.05  # sub-pixel: a twentieth of a pixel at the template corners
    # the starting error was several pixels
    assert np.abs(np.asarray(Affine().apply(jnp.asarray(p_true), corners)) - corners).max() > 3.0


def test_lucas_kanade_translation_and_homography(camera):
    box = (200, 200, 120, 120)
    image = warp_image(camera, "translation", [1.7, -2.4])
    res = align(image, camera, box, "translation")
    np.testing.assert_allclose(res.p, [1.7, -2.4], atol=0.02)
    p_h = np.array([0.01, 0.005, -0.01, 0.01, 1.0, 0.5, 2e-5, -1e-5])
    image = warp_image(camera, "homography", p_h)
    res = align(image, camera, box, "homography")
    corners = np.array([[200, 200], [320, 200], [200, 320], [320, 320]], float)
    H = Homography()
    err = np.abs(np.asarray(H.apply(res.p, corners)) - np.asarray(H.apply(jnp.asarray(p_h), corners)))
    assert res.converged and err.max() < 0.1


def test_plot_steepest_descent_writes_png(tmp_path, camera):
    path = tmp_path / "sd.png"
    fig = plot_steepest_descent(camera, (200, 200, 64, 64), "affine", path=str(path))
    assert path.stat().st_size > 1000 and len([ax for ax in fig.axes if ax.images]) == 7  # + a colorbar each


def test_usage_errors():
    with pytest.raises(JacxUsageError, match="6 parameters"):
        Affine().apply(jnp.zeros(5), jnp.zeros(2))
    with pytest.raises(JacxUsageError, match="inside"):
        steepest_descent_images(jnp.zeros((10, 10)), (5, 5, 10, 10))
    with pytest.raises(JacxUsageError, match="Unknown warp"):
        warp_by_name("similarity")
