"""The explorer's numbers against independent references: hand-derived Jacobians and float64 finite differences."""

import math
import time

import jax
import numpy as np
import pytest

from jacx import ExpressionSyntaxError, UnsafeExpressionError, UntraceableFunctionError
from jacx.explore._compute import (
    CIRCLE_POINTS,
    ERROR_SIZES,
    PRESETS,
    ExplorerBusyError,
    ExplorerInputError,
    ExplorerTimeoutError,
    Runner,
    grid_view,
    map_from_function,
    map_from_text,
    point_view,
)


def sig(z):
    return 1 / (1 + np.exp(-z))


W = np.array([[1.0, -2.0], [0.5, 3.0]])
B = np.array([0.1, -0.2])
# text, F(x, y) and J(x, y) derived by hand (NumPy, float64)
HAND = {
    "x^2 + y, x*y": (lambda x, y: np.array([x**2 + y, x * y]), lambda x, y: np.array([[2 * x, 1], [y, x]])),
    "x^2 - y^2, 2*x*y": (lambda x, y: np.array([x**2 - y**2, 2 * x * y]),
                         lambda x, y: np.array([[2 * x, -2 * y], [2 * y, 2 * x]])),
    "x*cos(y), x*sin(y)": (lambda x, y: np.array([x * np.cos(y), x * np.sin(y)]),
                           lambda x, y: np.array([[np.cos(y), -x * np.sin(y)], [np.sin(y), x * np.cos(y)]])),
    "sigmoid(x - 2*y + 0.1), sigmoid(0.5*x + 3*y - 0.2)": (
        lambda x, y: sig(W @ [x, y] + B),
        lambda x, y: np.diag(sig(W @ [x, y] + B) * (1 - sig(W @ [x, y] + B))) @ W),
    "x + 2*y, 3*x - y": (lambda x, y: np.array([x + 2 * y, 3 * x - y]), lambda x, y: np.array([[1.0, 2], [3, -1]])),
    "x^2*y + sin(y)": (lambda x, y: np.array([x**2 * y + np.sin(y)]),
                       lambda x, y: np.array([[2 * x * y, x**2 + np.cos(y)]])),
}
POINTS = [(1.0, 2.0), (-0.7, 0.3), (0.25, -1.5)]


def view(text, a, h):
    with jax.enable_x64(True):
        return point_view(map_from_text(text), a, h)


def close(a, b, rtol=1e-12, atol=1e-13):
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=rtol, atol=atol)


@pytest.mark.parametrize("text", list(HAND))
@pytest.mark.parametrize("a", POINTS)
def test_point_against_hand_derived(text, a):
    F, J = HAND[text]
    h = 0.05
    p = view(text, a, h)
    close(p["F"], F(*a))
    close(p["J"], J(*a))
    Ja = J(*a)
    close(p["singular_values"], np.sqrt(np.sort(np.linalg.eigvalsh(Ja.T @ Ja))[::-1][: len(Ja)].clip(0)), atol=1e-7)
    if len(Ja) == 2:
        close(p["det"], Ja[0, 0] * Ja[1, 1] - Ja[0, 1] * Ja[1, 0], atol=1e-12)
    u = np.stack([np.cos(2 * np.pi * np.arange(CIRCLE_POINTS) / CIRCLE_POINTS),
                  np.sin(2 * np.pi * np.arange(CIRCLE_POINTS) / CIRCLE_POINTS)], axis=1)
    true = np.array([F(*(np.asarray(a) + h * d)) for d in u])
    linear = F(*a) + h * u @ Ja.T
    close(p["circle"]["true"], true)
    close(p["circle"]["linear"], linear)
    close(p["error"]["at_h"], np.max(np.linalg.norm(true - linear, axis=1)), rtol=1e-9, atol=1e-15)
    assert p["code"].count(text) == 1


@pytest.mark.parametrize("preset", PRESETS, ids=[p.key for p in PRESETS])
def test_presets_against_finite_differences(preset):
    p = view(preset.text, preset.point, 0.1)
    pm = map_from_text(preset.text)
    a = np.asarray(preset.point)
    with jax.enable_x64(True):
        def F(v):
            return np.asarray(pm.f(np.asarray(v, dtype=np.float64)))

        eps = 1e-6
        fd = np.stack([(F(a + eps * e) - F(a - eps * e)) / (2 * eps) for e in np.eye(2)], axis=1)
    close(p["J"], fd, rtol=1e-7, atol=1e-8)


def test_error_shrinks_like_h_squared_and_area_ratio_tends_to_det():
    p = view("x^2 + y, x*y", (0.5, 1.0), 0.1)
    assert abs(p["error"]["slope"] - 2.0) < 0.02
    errors = np.asarray(p["error"]["error"])
    assert np.all(np.diff(errors) > 0)  # larger circles, larger errors
    det = 2 * 0.5**2 - 1.0  # det [[2x, 1], [y, x]] = 2x^2 - y
    ratios = np.asarray(p["area"]["ratio"])
    assert abs(ratios[0] - det) < 1e-6 and abs(ratios[-1] - det) > 1e-3  # h = 1e-4 close, h = 1 far
    assert p["error"]["h"] == list(ERROR_SIZES)


def test_linear_map_is_exact():
    p = view("x + 2*y, 3*x - y", (1.0, 1.0), 0.3)
    assert p["error"]["slope"] is None and p["error"]["at_h"] < 1e-13
    close(p["area"]["ratio"], np.full(len(ERROR_SIZES), -7.0), rtol=1e-9)
    assert any("exact up to rounding" in s for s in p["summary"])


def test_grid_images_fold_and_levels():
    with jax.enable_x64(True):
        g = grid_view(map_from_text("x^2 + y, x*y"), [-2, 2, -1, 3], 8)
    rows = np.asarray(g["rows"], dtype=float).reshape(9, g["samples"], 2)
    xs = np.linspace(-2, 2, g["samples"])
    y = -1 + 4 * 3 / 8  # the fourth row
    close(rows[3], np.stack([xs**2 + y, xs * y], axis=1), rtol=1e-6, atol=1e-6)  # drawn to 7 digits
    assert g["fold"], "det J = 2x^2 - y changes sign in this view"
    for line, image in zip(g["fold"], g["fold_image"]):
        pts = np.asarray(line).reshape(-1, 2)
        assert np.max(np.abs(2 * pts[:, 0] ** 2 - pts[:, 1])) < 0.02  # on the parabola y = 2x^2 (raster accuracy)
        close(np.asarray(image).reshape(-1, 2), np.stack([pts[:, 0] ** 2 + pts[:, 1], pts[:, 0] * pts[:, 1]], 1),
              rtol=1e-6, atol=1e-6)
    with jax.enable_x64(True):
        s = grid_view(map_from_text("x^2*y + sin(y)"), [-1, 1, -1, 1], 4)
    grads = np.asarray(s["arrow_grad"]).reshape(-1, 2)
    at = np.asarray(s["arrow_at"]).reshape(-1, 2)
    close(grads, np.stack([2 * at[:, 0] * at[:, 1], at[:, 0] ** 2 + np.cos(at[:, 1])], 1), rtol=1e-6, atol=1e-6)
    assert len(s["levels"]) == 11


def test_python_function_maps():
    import jax.numpy as jnp

    m = map_from_function(lambda v: jnp.array([v[0] * jnp.cos(v[1]), v[0] * jnp.sin(v[1])]))
    with jax.enable_x64(True):
        p = point_view(m, (2.0, 0.5), 0.1)
    close(p["det"], 2.0)
    assert "your function" in p["code"]
    with pytest.raises(UntraceableFunctionError, match="jax.numpy"):
        map_from_function(lambda v: np.sin(np.asarray(v)))
    with pytest.raises(ExplorerInputError, match="3 values"):
        map_from_function(lambda v: jnp.array([v[0], v[1], v[0]]))
    with pytest.raises(ExplorerInputError, match="function of the plane"):
        map_from_function(42)


@pytest.mark.parametrize("text, error, words", [
    ("x*z", ExplorerInputError, "only the variables x and y"),
    ("x, y, x*y", ExplorerInputError, "1 or 2"),
    ("x" * 401, ExplorerInputError, "at most 400"),
    ("__import__('os')", UnsafeExpressionError, "'"),
    ("x.real", UnsafeExpressionError, "attribute"),
    ("gamma(x)", UnsafeExpressionError, "unknown function"),
    ("(" * 70 + "x" + ")" * 70, UnsafeExpressionError, "nested"),
    ("x^100000", UnsafeExpressionError, "exponent"),
    ("x +", ExpressionSyntaxError, "ends"),
])
def test_bad_expressions(text, error, words):
    with pytest.raises(error, match=None) as info:
        map_from_text(text)
    assert words in str(info.value) and "\n" not in str(info.value).strip()


def test_points_outside_domain_and_bad_ranges():
    with pytest.raises(ExplorerInputError, match="not finite"):
        view("log(x), y", (-1.0, 0.0), 0.1)
    for a in ([math.inf, 0], [1e7, 0], ["1", 0], [1]):
        with pytest.raises(ExplorerInputError):
            view("x, y", a, 0.1)
    for h in (0, -1, 1e9, True):
        with pytest.raises(ExplorerInputError):
            view("x, y", (0, 0), h)
    with pytest.raises(ExplorerInputError, match="cells"):
        grid_view(map_from_text("x, y"), [-1, 1, -1, 1], 1000)
    with pytest.raises(ExplorerInputError, match="empty"):
        grid_view(map_from_text("x, y"), [1, -1, -1, 1], 4)


def test_runner_limits():
    runner = Runner(limit_s=0.2, wait_s=0.05)
    with pytest.raises(ExplorerTimeoutError, match="longer than"):
        runner.run(time.sleep, 1.0)
    with pytest.raises(ExplorerBusyError, match="busy"):  # the abandoned computation still holds the runner
        runner.run(lambda: 1)
    time.sleep(1.0)
    assert runner.run(lambda: 2) == 2


def test_generated_code_reproduces_the_numbers():
    import json
    import subprocess
    import sys

    p = view("x^2 - y^2, 2*x*y", (0.75, -1.25), 0.2)
    out = subprocess.run([sys.executable, "-c", p["code"]], capture_output=True, text=True, timeout=120, check=True)
    values = {line.split(" =")[0].split(":")[0]: line.split("=", 1)[-1].split(":", 1)[-1].strip()
              for line in out.stdout.splitlines()}
    close(json.loads(values["J(a)"]), p["J"], rtol=1e-14)
    close(json.loads(values["F(a)"]), p["F"], rtol=1e-14)
    close(float(values["det J(a)"]), p["det"], rtol=1e-12)
    close(json.loads(values["singular values"]), p["singular_values"], rtol=1e-12)
    close(float(values["linear approximation error at h"]), p["error"]["at_h"], rtol=1e-12)
