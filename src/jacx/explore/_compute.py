"""The explorer's mathematics: every number the page shows is computed here, by jacx and JAX in float64.

A map of the plane comes either from text (parsed by :func:`jacx.symbolic.parse_expressions`, the whitelist
parser: nothing in the text is executed) or from a Python function handed to :func:`jacx.explore`.  For it this
module computes

* the *grid view*: the images of the lines of a grid, ``det J`` on a raster with its zero curve (the fold) and the
  fold's image, or for one output the values, level curves and gradients;
* the *point view* at ``a`` for a size ``h``: ``F(a)``, ``J(a)``, ``det J(a)``, the singular values, the images of
  a circle and of a square of size ``h`` against those of the linear approximation, the approximation's error and
  the area ratio for a range of sizes, a summary in words and Python code that reproduces the numbers.

The arrays go to the page as JSON (point values in full precision, grid drawings to 7 significant digits).
"""

from __future__ import annotations

import inspect
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, final

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import JacxInternalError, JacxUsageError, UntraceableFunctionError

__all__ = [
    "ExplorerInputError",
    "ExplorerBusyError",
    "ExplorerTimeoutError",
    "PlaneMap",
    "Preset",
    "PRESETS",
    "map_from_text",
    "map_from_function",
    "grid_view",
    "point_view",
    "Runner",
    "MAX_TEXT",
    "MAX_CELLS",
]

MAX_TEXT = 400
"""Longest expression (characters) the explorer accepts."""
MAX_CELLS = 80
"""Most grid cells along each side."""
MIN_CELLS = 2
"""Fewest grid cells along each side."""
MAX_COORD = 1e6
"""Largest absolute coordinate of a point or of the view."""
MIN_SPAN = 1e-9
"""Smallest width or height of the view."""
H_RANGE = (1e-6, 1e3)
"""Allowed sizes ``h`` of the circle and square."""
RASTER = 97
"""Samples per side of the raster for ``det J`` (or the values of a one-output map)."""
CIRCLE_POINTS = 96
"""Points on the circle of radius ``h``."""
SIDE_POINTS = 24
"""Points on each side of the square of half-width ``h``."""
ERROR_SIZES = tuple(float(v) for v in np.logspace(-4, 0, 25))
"""The sizes ``h`` of the error and area-ratio curves (log-spaced, 1e-4 to 1)."""
MAX_MAPS = 16
"""Parsed maps (and their compiled programs) kept for reuse."""


class ExplorerInputError(JacxUsageError):
    """What was sent to the explorer (an expression, a point, a view, a size) is out of range or malformed."""


class ExplorerBusyError(JacxUsageError):
    """Another computation is still running; the explorer does one at a time."""


class ExplorerTimeoutError(JacxUsageError):
    """A computation took longer than the explorer's time limit."""


@final
@dataclass(frozen=True)
class Preset:
    """A map the page offers ready-made: a worked example or exercise of the tutorial, or a classic map."""

    key: str
    title: str
    text: str
    point: tuple[float, float]
    view: tuple[float, float, float, float]
    note: str

    def as_json(self) -> dict[str, Any]:
        """The preset as the page receives it.

        >>> PRESETS[0].as_json()["text"]
        'x^2 + y, x*y'
        """
        return {"key": self.key, "title": self.title, "text": self.text, "point": list(self.point),
                "view": list(self.view), "note": self.note}


PRESETS: tuple[Preset, ...] = (
    Preset("worked", "Worked example: F = (x^2 + y, xy) at (1, 2)", "x^2 + y, x*y", (1.0, 2.0), (-2.5, 2.5, -1.0, 3.0),
           "J = [[2x, 1], [y, x]]. At (1, 2) both rows are (2, 1): det J = 0, the point lies on the fold."),
    Preset("worked01", "Worked example at (0, 1)", "x^2 + y, x*y", (0.0, 1.0), (-2.5, 2.5, -1.0, 3.0),
           "J(0, 1) = [[0, 1], [1, 0]]: x moves only f2, y moves only f1, and the orientation is reversed."),
    Preset("exercise1", "Exercise 1 on the plane z = 0.5: (x^2 + 0.5y, sin(xy))", "x^2 + 0.5*y, sin(x*y)",
           (1.0, 2.0), (-2.0, 2.0, -2.0, 3.0),
           "The first two outputs of (x^2 + yz, sin(xy), e^(x+z)) with z fixed at 0.5; row 2 has the factor cos(xy)."),
    Preset("exercise2", "Exercise 2: (x^2 - y^2, 2xy), det J = 4(x^2 + y^2)", "x^2 - y^2, 2*x*y", (1.0, 2.0),
           (-2.0, 2.0, -2.0, 2.0),
           "z -> z^2 on complex numbers: areas scale by 4r^2, orientation is kept, only the origin is singular."),
    Preset("exercise3", "Exercise 3: G(H(x, y)) = (sin(xy), xy(x + y))", "sin(x*y), x*y*(x + y)", (1.0, 2.0),
           (-2.0, 2.0, -2.0, 2.0),
           "H = (xy, x + y) then G = (sin u, uv); J is the product J_G(H) J_H."),
    Preset("exercise4", "Exercise 4: a layer sigmoid(Wx + b)", "sigmoid(x - 2*y + 0.1), sigmoid(0.5*x + 3*y - 0.2)",
           (0.3, -0.4), (-3.0, 3.0, -3.0, 3.0),
           "W = [[1, -2], [0.5, 3]], b = (0.1, -0.2): J = diag(s(1 - s)) W; the layer squeezes the plane into a square."),
    Preset("linear", "A linear map Ax: the Jacobian is A everywhere", "x + 2*y, 3*x - y", (1.0, 1.0),
           (-2.0, 2.0, -2.0, 2.0),
           "A = [[1, 2], [3, -1]], det A = -7: every small square becomes a parallelogram 7 times larger, flipped."),
    Preset("gradient", "One output: the gradient of x^2 y + sin(y)", "x^2*y + sin(y)", (1.0, 2.0),
           (-2.0, 2.0, -1.0, 3.0),
           "With m = 1 the Jacobian is one row, the gradient: it points uphill, across the level curves."),
    Preset("polar", "Polar coordinates (r cos t, r sin t)", "x*cos(y), x*sin(y)", (1.0, 0.8), (-0.5, 2.0, -3.2, 3.2),
           "det J = r: areas grow with the radius, and the map folds along r = 0."),
    Preset("fold", "A cusp: (x, y^3 - xy)", "x, y^3 - x*y", (0.5, 0.2), (-1.0, 1.5, -1.2, 1.2),
           "det J = 3y^2 - x vanishes on a parabola; its image is a cusp, where the map folds the plane over itself."),
)


@final
@dataclass(eq=False)
class PlaneMap:
    """A map ``F: R^2 -> R^m`` (``m`` is 1 or 2) with its compiled explorer programs.

    ``f`` takes a vector of shape ``(2,)`` and returns shape ``(m,)``; ``text`` is the expression it was parsed
    from (``None`` for a Python function), ``entries`` the symbolic Jacobian's entries as text (or ``None``).
    """

    label: str
    outputs: int
    f: Callable[[jax.Array], jax.Array]
    text: str | None = None
    entries: list[list[str]] | None = None
    python_name: str | None = None
    _programs: dict[Any, Callable[..., Any]] = field(default_factory=dict, repr=False)

    def program(self, kind: str, *static: Any) -> Callable[..., Any]:
        """The compiled program ``kind`` (``"grid"``, ``"point"``, ``"eval"``) for this map, made once."""
        key = (kind, *static)
        if key not in self._programs:
            self._programs[key] = _make_program(self.f, self.outputs, kind, *static)
        return self._programs[key]


_TEXT_MAPS: OrderedDict[str, PlaneMap] = OrderedDict()
_TEXT_MAPS_LOCK = threading.Lock()


def map_from_text(text: str) -> PlaneMap:
    """Parse ``"f1, f2"`` (or one output ``"f"``) in the variables ``x`` and ``y`` with jacx's whitelist parser.

    The result is cached by text.  Raises :class:`ExplorerInputError` (or the parser's
    :class:`~jacx.UnsafeExpressionError` / :class:`~jacx.ExpressionSyntaxError`) with a one-line message.

    >>> m = map_from_text("x^2 + y, x*y")
    >>> m.outputs, m.entries
    (2, [['2*x', '1'], ['y', 'x']])
    >>> map_from_text("x*z")
    Traceback (most recent call last):
    ...
    jacx.explore._compute.ExplorerInputError: the explorer maps the plane: use only the variables x and y (found z)...
    """
    if not isinstance(text, str):
        raise ExplorerInputError(f"the expression must be text such as 'x^2 + y, x*y', got {type(text).__name__}.")
    text = text.strip()
    if len(text) > MAX_TEXT:
        raise ExplorerInputError(f"the expression has {len(text)} characters; the explorer accepts at most "
                                 f"{MAX_TEXT}: shorten it, or pass a Python function to jacx.explore(f).")
    with _TEXT_MAPS_LOCK:
        if text in _TEXT_MAPS:
            _TEXT_MAPS.move_to_end(text)
            return _TEXT_MAPS[text]
    made = _parse_map(text)
    with _TEXT_MAPS_LOCK:
        _TEXT_MAPS[text] = made
        while len(_TEXT_MAPS) > MAX_MAPS:
            _TEXT_MAPS.popitem(last=False)
    return made


def _parse_map(text: str) -> PlaneMap:
    import sympy

    from ..symbolic import SymbolicJacobian, make_symbol, parse_expressions, to_jax

    exprs = parse_expressions(text)
    if len(exprs) not in (1, 2):
        raise ExplorerInputError(f"the expression has {len(exprs)} outputs; the explorer shows maps with 1 or 2 "
                                 "outputs, e.g. 'x^2 - y^2, 2*x*y' or 'x^2*y'.")
    names = sorted({s.name for e in exprs for s in e.free_symbols} - {"x", "y"})
    if names:
        raise ExplorerInputError(f"the explorer maps the plane: use only the variables x and y (found "
                                 f"{', '.join(names)}); write numbers in place of other names.")
    x, y = make_symbol("x"), make_symbol("y")
    sj = SymbolicJacobian(exprs, [x, y])
    entries = [[sympy.sstr(e) for e in row] for row in sj.matrix.tolist()]
    if sum(len(e) for row in entries for e in row) > 4 * MAX_TEXT:
        entries = None  # too long to show; the numbers are what matter
    label = ", ".join(sympy.sstr(e) for e in exprs)
    return PlaneMap(label=label, outputs=len(exprs), f=to_jax(exprs, [x, y]), text=text, entries=entries)


def _takes_two(func: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    return len(required) == 2


def map_from_function(func: Callable[..., Any], name: str | None = None) -> PlaneMap:
    """Wrap a Python function of the plane: ``func(v)`` with ``v`` of shape ``(2,)``, or ``func(x, y)``, returning
    two numbers (a map of the plane) or one (a surface).  It must be written with ``jax.numpy``.

    >>> import jax.numpy as jnp
    >>> m = map_from_function(lambda v: jnp.array([v[0] * v[1], v[0] + v[1]]))
    >>> m.outputs, m.label
    (2, 'Python function <lambda>')
    >>> map_from_function(lambda x, y: x * y).outputs
    1
    """
    if not callable(func):
        raise ExplorerInputError(f"jacx.explore expects a function of the plane or an expression text, got "
                                 f"{type(func).__name__}; e.g. jacx.explore(lambda v: jnp.array([v[0]**2, v[1]])).")
    two = _takes_two(func)
    name = name or getattr(func, "__name__", None) or type(func).__name__

    def f(v: jax.Array) -> jax.Array:
        out = func(v[0], v[1]) if two else func(v)
        return jnp.reshape(jnp.asarray(out), (-1,))

    with jax.enable_x64(True):
        try:
            shape = jax.eval_shape(f, jax.ShapeDtypeStruct((2,), jnp.float64)).shape
        except JacxUsageError:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever the user's function raised, say what to do
            raise UntraceableFunctionError(
                f"jacx.explore could not trace {name} on a vector of shape (2,) ({type(exc).__name__}: "
                f"{' '.join(str(exc).split())[:200]}); write it with jax.numpy, taking v = (x, y) or x, y."
            ) from None
    if shape[0] not in (1, 2):
        raise ExplorerInputError(f"{name} returns {shape[0]} values; the explorer shows maps of the plane with 1 "
                                 "or 2 outputs.")
    return PlaneMap(label=f"Python function {name}", outputs=shape[0], f=f, python_name=name)


# --- compiled programs ----------------------------------------------------------------------------------------


def _unit_circle() -> np.ndarray:
    t = 2 * np.pi * np.arange(CIRCLE_POINTS) / CIRCLE_POINTS
    return np.stack([np.cos(t), np.sin(t)], axis=1)


def _unit_square() -> np.ndarray:
    """The boundary of [-1, 1]^2, counter-clockwise from (-1, -1), SIDE_POINTS points a side."""
    s = np.linspace(-1.0, 1.0, SIDE_POINTS, endpoint=False)
    one = np.ones_like(s)
    return np.concatenate([np.stack(p, axis=1) for p in ((s, -one), (one, s), (-s, one), (-one, -s))])


def _make_program(f: Callable[[jax.Array], jax.Array], m: int, kind: str, *static: Any) -> Callable[..., Any]:
    import jacx

    jac = jacx.jacobian(f)
    fv = jax.vmap(f)
    if kind == "eval":
        return jax.jit(fv)
    if kind == "grid":
        cells, samples = static

        def grid(view: jax.Array) -> dict[str, jax.Array]:
            x0, x1, y0, y1 = view[0], view[1], view[2], view[3]
            lines_x = jnp.linspace(x0, x1, cells + 1)
            lines_y = jnp.linspace(y0, y1, cells + 1)
            sx = jnp.linspace(x0, x1, samples)
            sy = jnp.linspace(y0, y1, samples)
            # rows: y = const (x runs); columns: x = const (y runs)
            rows = jnp.stack(jnp.broadcast_arrays(sx[None, :], lines_y[:, None]), axis=-1)
            cols = jnp.stack(jnp.broadcast_arrays(lines_x[:, None], sy[None, :]), axis=-1)
            rx = jnp.linspace(x0, x1, RASTER)
            ry = jnp.linspace(y0, y1, RASTER)
            raster = jnp.stack(jnp.broadcast_arrays(rx[None, :], ry[:, None]), axis=-1).reshape(-1, 2)
            out = {
                "rows": fv(rows.reshape(-1, 2)).reshape(cells + 1, samples, m),
                "cols": fv(cols.reshape(-1, 2)).reshape(cells + 1, samples, m),
            }
            if m == 2:
                out["raster"] = jax.vmap(jacx.det(f))(raster).reshape(RASTER, RASTER)
            else:
                out["raster"] = fv(raster).reshape(RASTER, RASTER)
                arrows = 13
                ax = jnp.linspace(x0, x1, arrows + 2)[1:-1]
                ay = jnp.linspace(y0, y1, arrows + 2)[1:-1]
                at = jnp.stack(jnp.broadcast_arrays(ax[None, :], ay[:, None]), axis=-1).reshape(-1, 2)
                out["arrow_at"] = at
                out["arrow_grad"] = jax.vmap(jac)(at)[:, 0, :]
            return out

        return jax.jit(grid)
    if kind == "point":
        circle = jnp.asarray(_unit_circle())
        square = jnp.asarray(_unit_square())
        sizes = jnp.asarray(ERROR_SIZES)

        def point(a: jax.Array, h: jax.Array) -> dict[str, jax.Array]:
            Fa = f(a)
            J = jac(a)
            hs = jnp.concatenate([sizes, h[None]])

            def error(size: jax.Array) -> jax.Array:
                d = size * circle
                return jnp.max(jnp.linalg.norm(fv(a + d) - Fa - d @ J.T, axis=1))

            out = {
                "F": Fa,
                "J": J,
                "sv": jnp.linalg.svd(J, compute_uv=False),
                "circle_domain": a + h * circle,
                "circle_true": fv(a + h * circle),
                "circle_linear": Fa + (h * circle) @ J.T,
                "square_domain": a + h * square,
                "square_true": fv(a + h * square),
                "square_linear": Fa + (h * square) @ J.T,
                "errors": jax.vmap(error)(hs),
            }
            if m == 2:
                def ratio(size: jax.Array) -> jax.Array:
                    p = fv(a + size * square) - Fa  # centred: the shoelace sum then loses no digits to F(a)
                    q = jnp.roll(p, -1, axis=0)
                    return 0.5 * jnp.sum(p[:, 0] * q[:, 1] - q[:, 0] * p[:, 1]) / (2 * size) ** 2

                out["det"] = jacx.det(f)(a)
                out["ratios"] = jax.vmap(ratio)(hs)
            else:
                g = J[0]
                norm = jnp.linalg.norm(g)
                direction = jnp.where(norm > 0, g / jnp.where(norm > 0, norm, 1.0), jnp.array([1.0, 0.0]))
                t = jnp.linspace(-1.0, 1.0, 41) * h
                out["slice_t"] = t
                out["slice_true"] = fv(a + t[:, None] * direction)[:, 0]
                out["slice_linear"] = Fa[0] + t * norm
                out["direction"] = direction
            return out

        return jax.jit(point)
    raise JacxInternalError(f"unknown explorer program {kind!r}")


# --- checks of what the page sends ----------------------------------------------------------------------------


def _finite(value: Any, what: str, bound: float = MAX_COORD) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ExplorerInputError(f"{what} must be a number, got {type(value).__name__}.")
    v = float(value)
    if not math.isfinite(v) or abs(v) > bound:
        raise ExplorerInputError(f"{what} = {value!r} is out of range; use a finite number of size at most {bound:g}.")
    return v


def check_view(view: Sequence[Any]) -> tuple[float, float, float, float]:
    """``[xmin, xmax, ymin, ymax]``, finite, each side at least :data:`MIN_SPAN` long.

    >>> check_view([-2, 2, -1, 1])
    (-2.0, 2.0, -1.0, 1.0)
    """
    if not isinstance(view, (list, tuple)) or len(view) != 4:
        raise ExplorerInputError("the view must be [xmin, xmax, ymin, ymax].")
    x0, x1, y0, y1 = (_finite(v, name) for v, name in zip(view, ("xmin", "xmax", "ymin", "ymax")))
    if not (x1 - x0 >= MIN_SPAN and y1 - y0 >= MIN_SPAN):
        raise ExplorerInputError(f"the view [{x0:g}, {x1:g}] x [{y0:g}, {y1:g}] is empty; each maximum must exceed "
                                 "its minimum.")
    return x0, x1, y0, y1


def check_point(a: Sequence[Any]) -> tuple[float, float]:
    """A point ``[x, y]`` of finite coordinates."""
    if not isinstance(a, (list, tuple)) or len(a) != 2:
        raise ExplorerInputError("the point must be [x, y].")
    return _finite(a[0], "x"), _finite(a[1], "y")


def check_size(h: Any) -> float:
    """The size ``h`` of the circle and square, within :data:`H_RANGE`."""
    v = _finite(h, "h", H_RANGE[1])
    if v < H_RANGE[0]:
        raise ExplorerInputError(f"h = {v:g} is too small; use h from {H_RANGE[0]:g} to {H_RANGE[1]:g}.")
    return v


def check_cells(cells: Any) -> int:
    """Grid cells along each side, from :data:`MIN_CELLS` to :data:`MAX_CELLS`."""
    if isinstance(cells, bool) or not isinstance(cells, int) or not MIN_CELLS <= cells <= MAX_CELLS:
        raise ExplorerInputError(f"the grid must have from {MIN_CELLS} to {MAX_CELLS} cells a side, got {cells!r}.")
    return cells


# --- JSON-ready results ---------------------------------------------------------------------------------------


def _exact(arr: Any) -> Any:
    """Full-precision floats (``None`` for NaN and infinities), as nested lists."""
    a = np.asarray(arr, dtype=np.float64)
    if a.ndim == 0:
        return float(a) if math.isfinite(a) else None
    if np.all(np.isfinite(a)):
        return a.tolist()
    return np.where(np.isfinite(a), a, None).tolist()


def _drawing(arr: Any) -> list[Any]:
    """Coordinates for drawing: 7 significant digits, ``None`` where not finite, flattened."""
    a = np.asarray(arr, dtype=np.float64).reshape(-1)
    ok = np.isfinite(a)
    return [float(f"{v:.7g}") if good else None for v, good in zip(a.tolist(), ok.tolist())]


def _fold_lines(raster: np.ndarray, view: tuple[float, float, float, float], level: float = 0.0) -> list[np.ndarray]:
    import contourpy

    x = np.linspace(view[0], view[1], RASTER)
    y = np.linspace(view[2], view[3], RASTER)
    z = np.ma.masked_invalid(raster)
    gen = contourpy.contour_generator(x, y, z, line_type="Separate")
    return [np.asarray(line, dtype=np.float64) for line in gen.lines(level) if len(line) >= 2]


def _bucket(n: int) -> int:
    return max(64, 1 << (n - 1).bit_length())


def _images(pm: PlaneMap, points: np.ndarray) -> np.ndarray:
    """``F`` at many points, padded to a power of two so that few programs are compiled."""
    n = len(points)
    padded = np.zeros((_bucket(n), 2))
    padded[:n] = points
    return np.asarray(pm.program("eval")(jnp.asarray(padded)))[:n]


def grid_view(pm: PlaneMap, view: Sequence[float], cells: int) -> dict[str, Any]:
    """The grid, its image and the ``det J`` raster (or values, levels and gradients for one output), as JSON.

    Call it with float64 enabled (:class:`Runner` does).

    >>> import jax
    >>> with jax.enable_x64(True):
    ...     g = grid_view(map_from_text("x^2 - y^2, 2*x*y"), [-1, 1, -1, 1], 4)
    >>> len(g["rows"]), len(g["rows"][0]), g["raster_size"]
    (5, 82, 97)
    """
    view = check_view(view)
    cells = check_cells(cells)
    samples = max(41, 2 * cells + 1)
    arrays = {k: np.asarray(v) for k, v in pm.program("grid", cells, samples)(jnp.asarray(view)).items()}
    raster = arrays["raster"]
    out: dict[str, Any] = {
        "outputs": pm.outputs,
        "label": pm.label,
        "entries": pm.entries,
        "view": list(view),
        "cells": cells,
        "samples": samples,
        "rows": [_drawing(r) for r in arrays["rows"]],
        "cols": [_drawing(c) for c in arrays["cols"]],
        "raster_size": RASTER,
        "raster": _drawing(raster),
    }
    finite = raster[np.isfinite(raster)]
    if pm.outputs == 2:
        lines = _fold_lines(raster, view) if finite.size and finite.min() < 0 < finite.max() else []
        out["fold"] = [_drawing(line) for line in lines]
        out["fold_image"] = [_drawing(_images(pm, line)) for line in lines]
        positive = float(np.mean(finite > 0)) if finite.size else 0.0
        out["orientation"] = {"kept": positive, "reversed": float(np.mean(finite < 0)) if finite.size else 0.0}
    else:
        levels: list[float] = []
        if finite.size and finite.max() > finite.min():
            levels = [float(v) for v in np.linspace(finite.min(), finite.max(), 13)[1:-1]]
        out["levels"] = [{"value": lv, "lines": [_drawing(line) for line in _fold_lines(raster, view, lv)]}
                         for lv in levels]
        out["range"] = [float(finite.min()), float(finite.max())] if finite.size else None
        out["arrow_at"] = _drawing(arrays["arrow_at"])
        out["arrow_grad"] = _drawing(arrays["arrow_grad"])
    return out


def _slope(hs: np.ndarray, errors: np.ndarray, scale: float) -> float | None:
    """Least-squares slope of log(error) against log(h) over h <= 0.1, where the error is above rounding."""
    floor = 1e3 * np.finfo(np.float64).eps * max(scale, 1e-300)
    use = (hs <= 0.1 + 1e-12) & np.isfinite(errors) & (errors > floor)
    if np.count_nonzero(use) < 4:
        return None
    return float(np.polyfit(np.log(hs[use]), np.log(errors[use]), 1)[0])


def _num(v: float, digits: int = 4) -> str:
    from ..symbolic import format_number

    return format_number(v, digits)


def point_view(pm: PlaneMap, a: Sequence[float], h: float) -> dict[str, Any]:
    """Everything the page shows at the point ``a`` for the size ``h``, as JSON (full-precision floats).

    >>> import jax
    >>> with jax.enable_x64(True):
    ...     p = point_view(map_from_text("x^2 + y, x*y"), [1.0, 2.0], 0.1)
    >>> p["J"], p["det"]
    ([[2.0, 1.0], [2.0, 1.0]], 0.0)
    """
    ax, ay = check_point(a)
    h = check_size(h)
    arrays = {k: np.asarray(v, dtype=np.float64)
              for k, v in pm.program("point")(jnp.asarray([ax, ay]), jnp.asarray(h)).items()}
    F, J = arrays["F"], arrays["J"]
    if not (np.all(np.isfinite(F)) and np.all(np.isfinite(J))):
        raise ExplorerInputError(f"F or its Jacobian is not finite at ({ax:g}, {ay:g}) (outside the domain, or a "
                                 "point where F is not differentiable such as sqrt or abs at 0); choose another point.")
    hs = np.asarray([*ERROR_SIZES, h])
    errors = arrays["errors"]
    scale = float(np.max(np.abs(F))) + h * float(np.max(np.abs(J)))
    slope = _slope(hs[:-1], errors[:-1], scale)
    out: dict[str, Any] = {
        "outputs": pm.outputs,
        "a": [ax, ay],
        "h": h,
        "F": _exact(F),
        "J": _exact(J),
        "singular_values": _exact(arrays["sv"]),
        "circle": {k: _exact(arrays[f"circle_{k}"]) for k in ("domain", "true", "linear")},
        "square": {k: _exact(arrays[f"square_{k}"]) for k in ("domain", "true", "linear")},
        "error": {"h": _exact(hs[:-1]), "error": _exact(errors[:-1]), "at_h": _exact(errors[-1]), "slope": slope},
    }
    if pm.outputs == 2:
        out["det"] = _exact(arrays["det"])
        out["area"] = {"h": _exact(hs[:-1]), "ratio": _exact(arrays["ratios"][:-1]),
                       "at_h": _exact(arrays["ratios"][-1])}
    else:
        out["slice"] = {"t": _exact(arrays["slice_t"]), "true": _exact(arrays["slice_true"]),
                        "linear": _exact(arrays["slice_linear"]), "direction": _exact(arrays["direction"])}
    out["summary"] = _summary(pm, out)
    out["code"] = python_code(pm, (ax, ay), h)
    return out


def _summary(pm: PlaneMap, p: dict[str, Any]) -> list[str]:
    from .._words import interpret, volume_verdict

    (ax, ay), h, F, J = p["a"], p["h"], p["F"], p["J"]
    where = f"({_num(ax)}, {_num(ay)})"
    lines = []
    err, slope = p["error"]["at_h"], p["error"]["slope"]
    if pm.outputs == 2:
        lines.append(f"At a = {where}, F(a) = ({_num(F[0])}, {_num(F[1])}); near a, F(a + d) is about F(a) + J d.")
        lines.extend(s[0].upper() + s[1:] + "." for s in interpret(J, ["x", "y"]))
        det = p["det"]
        s1, s2 = p["singular_values"]
        lines.append(f"Area: {volume_verdict(np.asarray(J, dtype=np.float64))[1]}.")
        lines.append(f"Singular values {_num(s1)} and {_num(s2)}: a small circle of radius h becomes nearly an "
                     f"ellipse with half-axes {_num(s1)} h and {_num(s2)} h.")
        ratio = p["area"]["at_h"]
        if ratio is not None:
            lines.append(f"The true image of the square of side 2h = {_num(2 * h)} has {_num(ratio)} times its area "
                         f"(signed by orientation); as h shrinks this tends to det J = {_num(det)}.")
    else:
        g = J[0]
        norm = math.hypot(g[0], g[1])
        lines.append(f"At a = {where}, f(a) = {_num(F[0])}; the Jacobian is one row, the gradient "
                     f"({_num(g[0])}, {_num(g[1])}).")
        lines.extend(s[0].upper() + s[1:] + "." for s in interpret(J, ["x", "y"]))
        if norm > 0:
            lines.append(f"f rises fastest in the direction ({_num(g[0] / norm)}, {_num(g[1] / norm)}), at the rate "
                         f"{_num(norm)} per unit step; along the level curve through a it does not change to first "
                         "order.")
        else:
            lines.append("The gradient is zero: a is a critical point, and f is flat there to first order.")
    if err is not None:
        if slope is None:
            lines.append(f"The linear approximation's error at h = {_num(h)} is {_num(err, 3)}: F is linear (affine) "
                         "near a, so the approximation is exact up to rounding.")
        else:
            lines.append(f"The linear approximation's error at h = {_num(h)} is {_num(err, 3)}; it shrinks like "
                         f"h^2 (measured slope {slope:.2f} on the log-log plot): halving h divides it by about 4.")
    return lines


def fold_summary(grid: dict[str, Any]) -> str:
    """One sentence on where ``det J`` vanishes in the view (two outputs only).

    >>> fold_summary({"outputs": 2, "fold": [], "orientation": {"kept": 1.0, "reversed": 0.0}})
    'det J is positive everywhere in the view: F keeps orientation and has no fold here.'
    """
    if grid["outputs"] != 2:
        return "One output: colours show the values of f, thin curves its level sets, arrows its gradient."
    kept, rev = grid["orientation"]["kept"], grid["orientation"]["reversed"]
    if grid["fold"]:
        return (f"det J = 0 on the dark red curve (the fold: F is not locally invertible there); orientation is kept "
                f"on {100 * kept:.0f}% of the view (blue) and reversed on {100 * rev:.0f}% (orange).")
    if rev == 0:
        return "det J is positive everywhere in the view: F keeps orientation and has no fold here."
    if kept == 0:
        return "det J is negative everywhere in the view: F reverses orientation and has no fold here."
    return "det J changes sign in the view without a clear zero curve (it may jump across a singular line)."


def python_code(pm: PlaneMap, a: tuple[float, float], h: float) -> str:
    """Python that recomputes the point view's numbers with jacx (float64).

    >>> print(python_code(map_from_text("x*y"), (1.0, 2.0), 0.5).splitlines()[5])
    F = js.SymbolicJacobian('x*y', "x y").to_jax()  # R^2 -> R^1
    """
    if pm.text is not None:
        define = f'F = js.SymbolicJacobian({pm.text!r}, "x y").to_jax()  # R^2 -> R^{pm.outputs}'
    else:
        define = (f"F = lambda v: jnp.reshape(jnp.asarray({pm.python_name}(v)), (-1,))  # your function "
                  f"{pm.python_name} (taking v = (x, y))")
    lines = [
        "import jax",
        "import jax.numpy as jnp",
        "import jacx",
        "import jacx.symbolic as js",
        'jax.config.update("jax_enable_x64", True)',
        define,
        f"a = jnp.array([{a[0]!r}, {a[1]!r}])",
        f"h = {h!r}",
        "J = jacx.jacobian(F)(a)",
        'print("F(a) =", F(a).tolist())',
        'print("J(a) =", J.tolist())',
    ]
    if pm.outputs == 2:
        lines.append('print("det J(a) =", float(jacx.det(F)(a)))')
    lines += [
        'print("singular values:", jnp.linalg.svd(J, compute_uv=False).tolist())',
        f"t = 2 * jnp.pi * jnp.arange({CIRCLE_POINTS}) / {CIRCLE_POINTS}",
        "d = h * jnp.stack([jnp.cos(t), jnp.sin(t)], axis=1)  # a circle of radius h around a",
        "error = jnp.max(jnp.linalg.norm(jax.vmap(F)(a + d) - F(a) - d @ J.T, axis=1))",
        'print("linear approximation error at h:", float(error))',
    ]
    return "\n".join(lines) + "\n"


# --- one computation at a time, with a time limit -------------------------------------------------------------


@final
class Runner:
    """Runs the explorer's computations one at a time in a worker thread, in float64, each within ``limit_s``.

    A computation still running when its time is up is abandoned (its result is dropped) and
    :class:`ExplorerTimeoutError` is raised; the runner stays busy until it really ends, and a new request
    meanwhile gets :class:`ExplorerBusyError`.

    >>> r = Runner(limit_s=5.0)
    >>> r.run(lambda: jnp.zeros(1).dtype)
    dtype('float64')
    """

    def __init__(self, limit_s: float = 10.0, wait_s: float = 2.0) -> None:
        self.limit_s = float(limit_s)
        self.wait_s = float(wait_s)
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        """Start ``fn(*args)`` when the previous computation has ended (waiting up to ``wait_s``)."""
        if not self._lock.acquire(timeout=self.wait_s):
            raise ExplorerBusyError("the explorer is still busy with an earlier computation; try again in a moment.")
        future: Future = Future()

        def work() -> None:
            try:
                with jax.enable_x64(True):
                    result = fn(*args)
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
                future.set_exception(exc)
            else:
                future.set_result(result)
            finally:
                self._lock.release()

        threading.Thread(target=work, name="jacx-explore-compute", daemon=True).start()
        return future

    def result(self, future: Future) -> Any:
        """Wait for ``future`` at most ``limit_s`` seconds."""
        import concurrent.futures

        try:
            return future.result(timeout=self.limit_s)
        except concurrent.futures.TimeoutError:
            raise ExplorerTimeoutError(
                f"the computation took longer than {self.limit_s:g} s and was abandoned; simplify the expression or "
                "use fewer grid cells."
            ) from None

    def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in the worker, within the limits."""
        return self.result(self.submit(fn, *args))
