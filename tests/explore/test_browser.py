"""The explorer in a real browser (headless Chromium via Playwright): the page's numbers equal jacx's in Python
to 1e-10 relative; typing, clicking, dragging, presets, the error plot and the keyboard work; errors show as text."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jacx
from jacx.explore._compute import CIRCLE_POINTS, PRESETS, map_from_text

from .conftest import start_server

RTOL = 1e-10


@pytest.fixture(scope="module")
def page(browser, server):
    pg = browser.new_page(viewport={"width": 1320, "height": 1400})
    problems = []
    expected = "status of 422"  # the refusals test_errors_are_shown_as_text asks for
    pg.on("console", lambda m: problems.append(m.text) if m.type == "error" and expected not in m.text else None)
    pg.on("pageerror", lambda e: problems.append(str(e)))
    pg.goto(server.url)
    pg.wait_for_function("() => Number(document.body.dataset.pointVersion) >= 1", timeout=60_000)
    pg.problems = problems
    yield pg
    assert not problems, f"console errors (a CSP violation or a script error): {problems}"
    pg.close()


def version(pg, kind="point"):
    return int(pg.evaluate(f"() => Number(document.body.dataset.{kind}Version || 0)"))


def wait_for(pg, kind, after):
    pg.wait_for_function(f"() => Number(document.body.dataset.{kind}Version || 0) > {after}", timeout=60_000)


def value(pg, name):
    raw = pg.get_attribute(f"#num-{name}", "data-value")
    return None if raw == "null" else float(raw)


def python_numbers(text, a, h):
    """What jacx computes in Python for the map ``text`` at ``a`` (float64), independently of the page."""
    with jax.enable_x64(True):
        F = map_from_text(text).f
        x = jnp.asarray(a, dtype=jnp.float64)
        J = np.asarray(jacx.jacobian(F)(x))
        out = {"F": np.asarray(F(x)), "J": J, "sv": np.linalg.svd(J, compute_uv=False)}
        t = 2 * np.pi * np.arange(CIRCLE_POINTS) / CIRCLE_POINTS
        d = h * np.stack([np.cos(t), np.sin(t)], axis=1)
        true = np.asarray(jax.vmap(F)(x + d))
        out["err"] = np.max(np.linalg.norm(true - np.asarray(F(x)) - d @ J.T, axis=1))
        if J.shape[0] == 2:
            out["det"] = float(jacx.det(F)(x))
    return out


def assert_page_matches_python(pg, text):
    a = (value(pg, "a0"), value(pg, "a1"))
    h = float(pg.get_attribute("#error-marker", "data-h"))
    ref = python_numbers(text, a, h)
    m = ref["J"].shape[0]
    page_F = [value(pg, "F0")] + ([value(pg, "F1")] if m == 2 else [])
    page_J = [[value(pg, "J00"), value(pg, "J01")]] + ([[value(pg, "J10"), value(pg, "J11")]] if m == 2 else [])
    np.testing.assert_allclose(page_F, ref["F"], rtol=RTOL, atol=1e-300)
    np.testing.assert_allclose(page_J, ref["J"], rtol=RTOL, atol=1e-14)
    np.testing.assert_allclose(value(pg, "sv0"), ref["sv"][0], rtol=RTOL)
    np.testing.assert_allclose(value(pg, "err"), ref["err"], rtol=1e-8, atol=1e-15)
    if m == 2:
        np.testing.assert_allclose(value(pg, "det"), ref["det"], rtol=RTOL, atol=1e-13)
        np.testing.assert_allclose(value(pg, "sv1"), ref["sv"][1], rtol=RTOL, atol=1e-13)
    else:
        assert value(pg, "J10") is None and value(pg, "det") is None
    return a


def show(pg, text):
    g, p = version(pg, "grid"), version(pg)
    pg.fill("#expr", text)
    pg.press("#expr", "Enter")
    wait_for(pg, "grid", g)
    wait_for(pg, "point", p)


def domain_pixel(pg, x, y):
    """Page coordinates of the plane's point (x, y), from the canvas's transform."""
    s, ox, oy, x0, y0, H = pg.evaluate("() => JSON.parse(document.getElementById('domain').dataset.transform)")
    box = pg.locator("#domain").bounding_box()
    return box["x"] + 1 + ox + s * (x - x0), box["y"] + 1 + H - oy - s * (y - y0)


MAPS = ["x^2 + y, x*y", "x^2 - y^2, 2*x*y", "x*cos(y), x*sin(y)", "sigmoid(x - 2*y + 0.1), sigmoid(0.5*x + 3*y - 0.2)",
        "exp(x)*cos(y), exp(x)*sin(y)", "x^2*y + sin(y)", "sqrt(1 + x^2 + y^2)"]


@pytest.mark.parametrize("text", MAPS)
def test_typed_map_and_click_agree_with_python(page, text):
    show(page, text)
    assert page.text_content("#message") == ""
    before = version(page)
    u, v = domain_pixel(page, 0.6, -0.35)
    page.mouse.click(u, v)
    wait_for(page, "point", before)
    a = assert_page_matches_python(page, text)
    s = page.evaluate("() => JSON.parse(document.getElementById('domain').dataset.transform)")[0]
    assert abs(a[0] - 0.6) < 1.5 / s and abs(a[1] + 0.35) < 1.5 / s  # within a pixel and a half
    assert text in page.text_content("#code")


def test_drag_moves_the_point_and_redraws(page):
    show(page, "x^2 - y^2, 2*x*y")
    start, end = domain_pixel(page, -1.0, -1.0), domain_pixel(page, 1.2, 0.7)
    before = version(page)
    page.mouse.move(*start)
    page.mouse.down()
    for k in range(1, 13):
        page.mouse.move(start[0] + (end[0] - start[0]) * k / 12, start[1] + (end[1] - start[1]) * k / 12)
    page.mouse.up()
    page.wait_for_function("(v) => Number(document.body.dataset.pointVersion) > v + 1 && "
                           "Math.abs(Number(document.getElementById('num-a0').dataset.value) - 1.2) < 0.05",
                           arg=before, timeout=60_000)
    assert_page_matches_python(page, "x^2 - y^2, 2*x*y")
    assert page.evaluate("() => window.jacxTimings.length") >= 2


@pytest.mark.parametrize("preset", PRESETS, ids=[p.key for p in PRESETS])
def test_presets(page, preset):
    g, p = version(page, "grid"), version(page)
    page.select_option("#preset", preset.key)
    wait_for(page, "grid", g)
    wait_for(page, "point", p)
    assert page.input_value("#expr") == preset.text
    assert page.text_content("#note") == preset.note
    a = assert_page_matches_python(page, preset.text)
    assert a == preset.point


def test_error_plot_and_h_slider(page):
    show(page, "x^2 + y, x*y")
    assert page.get_attribute("#error-plot", "data-points") == "25"
    assert abs(float(page.get_attribute("#error-plot", "data-slope")) - 2.0) < 0.02
    assert len(page.get_attribute("#error-line", "points").split()) == 25
    h0 = float(page.get_attribute("#error-marker", "data-h"))
    before = version(page)
    page.focus("#h")
    for _ in range(30):
        page.keyboard.press("ArrowLeft")
    page.wait_for_function("(h) => { const m = Number(document.getElementById('error-marker').dataset.h); "
                           "return m < h * 0.6 && Math.abs(m / 10 ** Number(document.getElementById('h').value) - 1) "
                           "< 1e-12; }", arg=h0, timeout=60_000)  # the last key's request has come back
    assert version(page) > before
    h1 = float(page.get_attribute("#error-marker", "data-h"))
    np.testing.assert_allclose(h1, 10 ** float(page.input_value("#h")), rtol=1e-12)
    assert_page_matches_python(page, "x^2 + y, x*y")
    assert float(page.get_attribute("#error-marker", "data-value")) == value(page, "err")
    assert page.locator("#area-line").count() == 1 and page.locator("#det-line").count() == 1


def test_keyboard_only(page):
    show(page, "x*cos(y), x*sin(y)")
    page.focus("#expr")
    for _ in range(40):  # Tab from the expression box until the plane has the focus
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.id") == "domain":
            break
    assert page.evaluate("() => document.activeElement.id") == "domain"
    x0, y0 = value(page, "a0"), value(page, "a1")
    view = [float(page.input_value(f"#{k}")) for k in ("xmin", "xmax", "ymin", "ymax")]
    before = version(page)
    page.keyboard.press("ArrowRight")
    page.wait_for_function("(x) => Number(document.getElementById('num-a0').dataset.value) > x", arg=x0,
                           timeout=60_000)
    np.testing.assert_allclose(value(page, "a0"), x0 + (view[1] - view[0]) / 100, rtol=1e-12)
    assert value(page, "a1") == y0
    h = float(page.get_attribute("#error-marker", "data-h"))
    before = version(page)
    page.keyboard.press("+")
    wait_for(page, "point", before)
    np.testing.assert_allclose(float(page.get_attribute("#error-marker", "data-h")), h * 10**0.1, rtol=1e-9)
    assert_page_matches_python(page, "x*cos(y), x*sin(y)")
    page.focus("#copy")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.getElementById('copy-status').textContent.length > 0", timeout=10_000)
    page.focus("#preset")
    g = version(page, "grid")
    page.keyboard.press("ArrowDown")  # a keyboard choice in the menu loads the next example
    wait_for(page, "grid", g)


def test_errors_are_shown_as_text(page):
    show(page, "x^2 + y, x*y")
    j00 = value(page, "J00")
    for bad, words in (("<img src=x onerror=alert(1)>", "<"), ("__import__('os')", "'"), ("x*z", "x and y")):
        page.fill("#expr", bad)
        page.press("#expr", "Enter")
        page.wait_for_function("() => document.body.dataset.error", timeout=60_000)
        message = page.text_content("#message")
        assert words in message
        assert page.locator("img").count() == 0 and page.locator("#message *").count() == 0
        assert value(page, "J00") == j00  # the last good map stays
        show(page, "x^2 + y, x*y")


def test_python_function(browser):
    def f(v):
        return jnp.array([jnp.sinh(v[0]) + v[1] ** 2, v[0] * v[1]])

    srv = start_server(function=__import__("jacx.explore._compute", fromlist=["x"]).map_from_function(f))
    pg = browser.new_page(viewport={"width": 1320, "height": 1400})
    try:
        pg.goto(srv.url)
        pg.wait_for_function("() => Number(document.body.dataset.pointVersion) >= 1", timeout=60_000)
        assert pg.input_value("#preset") == "python" and "Python function f" in pg.text_content("#note")
        a = (value(pg, "a0"), value(pg, "a1"))
        with jax.enable_x64(True):
            x = jnp.asarray(a)
            J = np.asarray(jacx.jacobian(f)(x))
        np.testing.assert_allclose([[value(pg, "J00"), value(pg, "J01")], [value(pg, "J10"), value(pg, "J11")]], J,
                                   rtol=RTOL)
        assert "your function f" in pg.text_content("#code")
    finally:
        pg.close()
        srv.close()
