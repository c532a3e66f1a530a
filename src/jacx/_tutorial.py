"""The tutorial walkthrough printed by ``jacx`` with no arguments.

Every Jacobian is computed twice, symbolically (``jacx.symbolic``) and by automatic differentiation
(``jacx.jacobian`` of the same function converted to JAX), and the largest difference between the two is shown.
Everything runs in float64 so that the agreement is down to rounding.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TextIO

import jax
import jax.numpy as jnp
import numpy as np
import sympy

__all__ = ["run_tutorial", "MODE_COST_RULE"]

MODE_COST_RULE = """\
Forward mode builds J one column at a time: each pass is a JVP (J times a direction in input space), so the whole
matrix costs about n passes, one per input. Reverse mode builds J one row at a time: each pass is a VJP (a row
vector times J), so it costs about m passes, one per output. Forward mode therefore wins when there are few inputs
(n small), reverse mode when there are few outputs (m small). A neural-network loss has m = 1 output and millions
of inputs, which is why backpropagation is reverse mode. Some texts state this rule the other way round; the
count above is the right one: forward mode scales with the number of inputs, reverse mode with the number of
outputs. (jacx.jacobian's mode="auto" picks forward when n <= m, else reverse.)"""


def _title(out: TextIO, text: str) -> None:
    out.write(f"\n{text}\n{'=' * len(text)}\n")


def _ad(f: Callable[[jax.Array], jax.Array], x: np.ndarray) -> np.ndarray:
    import jacx

    return np.asarray(jacx.jacobian(f)(jnp.asarray(x, dtype=jnp.float64)), dtype=np.float64)


def _both(out: TextIO, sj, point: Mapping[str, float], *, read: bool = True) -> np.ndarray:  # noqa: ANN001
    """Print J at ``point`` symbolically and by AD, their difference and (optionally) the plain-words reading."""
    from ._cli import interpret
    from .symbolic import format_number, matrix_text

    names = [v.name for v in sj.variables]
    sym = sj.at(point)
    ad = _ad(sj.to_jax(), np.array([point[n] for n in names]))
    where = ", ".join(f"{n} = {format_number(point[n])}" for n in names)
    out.write(f"\nAt {where}:\n{matrix_text(sym, sj.variables)}\n")
    out.write(f"AD (jacx.jacobian) gives the same matrix: max |symbolic - AD| = {np.max(np.abs(sym - ad)):.1e}\n")
    if read:
        out.write("".join(f"  {s}\n" for s in interpret(sym, names)))
    return sym


def _example_1(out: TextIO) -> None:
    from .symbolic import SymbolicJacobian

    _title(out, "Worked example: F(x, y) = (x^2 + y, xy)")
    sj = SymbolicJacobian("x^2 + y, x*y", "x y")
    out.write(sj.functions_text() + "\n\nJ = [[df1/dx, df1/dy], [df2/dx, df2/dy]]:\n" + sj.to_text() + "\n")
    _both(out, sj, {"x": 1.0, "y": 2.0})
    _both(out, sj, {"x": 0.0, "y": 1.0})
    out.write("So at (0, 1) a small change of x leaves f1 alone but moves f2; a change of y moves f1 but not f2.\n")


def _exercise_1(out: TextIO) -> None:
    from .symbolic import SymbolicJacobian

    _title(out, "Exercise 1: F(x, y, z) = (x^2 + yz, sin(xy), e^(x+z))")
    sj = SymbolicJacobian("x^2 + y*z, sin(x*y), e^(x + z)", "x y z")
    out.write(sj.functions_text() + "\n\n" + sj.to_text() + "\n")
    out.write("Row 2 shares the factor cos(xy); row 3 has no y, so its middle entry is 0.\n")
    _both(out, sj, {"x": 1.0, "y": 2.0, "z": 0.5}, read=False)


def _exercise_2(out: TextIO) -> None:
    import jacx

    from .symbolic import SymbolicJacobian, format_number

    _title(out, "Exercise 2: F(x, y) = (x^2 - y^2, 2xy) and its determinant")
    sj = SymbolicJacobian("x^2 - y^2, 2*x*y", "x y")
    out.write(sj.functions_text() + "\n\n" + sj.to_text() + f"\ndet J = {sympy.sstr(sj.det())}\n")
    out.write("With r^2 = x^2 + y^2 this is 4 r^2 > 0 away from the origin: near (x, y) the map scales small areas\n"
              "by 4 r^2 and keeps orientation (it is z -> z^2 on complex numbers); at the origin det J = 0 and the\n"
              "map collapses a neighbourhood (it is not locally invertible there).\n")
    f = sj.to_jax()
    for point in ({"x": 1.0, "y": 0.0}, {"x": 1.0, "y": 2.0}, {"x": 0.0, "y": 0.0}):
        x = jnp.asarray([point["x"], point["y"]], dtype=jnp.float64)
        exact = 4 * (point["x"] ** 2 + point["y"] ** 2)
        ad_det = float(jacx.det(f)(x))
        out.write(f"  at ({format_number(point['x'])}, {format_number(point['y'])}): 4 r^2 = {format_number(exact)},"
                  f" AD det = {format_number(ad_det)} (difference {abs(exact - ad_det):.1e});"
                  f" {jacx.volume_change(f)(x).verdict}\n")


def _exercise_3(out: TextIO) -> None:
    import jacx

    from .symbolic import make_symbol, matrix_text

    _title(out, "Exercise 3: the chain rule as a matrix product")
    x, y, u, v = (make_symbol(n) for n in "xyuv")
    H = sympy.Matrix([x * y, x + y])
    G = sympy.Matrix([sympy.sin(u), u * v])
    J_H = H.jacobian([x, y])
    J_G_at_H = G.jacobian([u, v]).subs({u: H[0], v: H[1]})
    J_GH = G.subs({u: H[0], v: H[1]}).jacobian([x, y])
    zero = sympy.simplify(J_G_at_H * J_H - J_GH) == sympy.zeros(2, 2)
    out.write("H(x, y) = (xy, x + y),  G(u, v) = (sin u, uv).\n"
              f"J_H =\n{matrix_text(J_H, [x, y])}\nJ_G(H(x, y)) =\n{matrix_text(J_G_at_H, [u, v])}\n"
              f"Symbolically J_G(H(x)) J_H(x) - J_(G o H)(x) simplifies to zero: {zero}\n")
    h = lambda p: jnp.stack([p[0] * p[1], p[0] + p[1]])  # noqa: E731
    g = lambda q: jnp.stack([jnp.sin(q[0]), q[0] * q[1]])  # noqa: E731
    chain = jacx.chain_rule([h, g], jnp.asarray([1.0, 2.0], dtype=jnp.float64))
    sym = np.asarray(J_GH.subs({x: 1.0, y: 2.0}).evalf(), dtype=np.float64)
    out.write(f"At (1, 2): max |J_G J_H - J_(G o H)| by AD = {chain.max_abs_difference:.1e}; "
              f"max |symbolic - AD| = {np.max(np.abs(sym - np.asarray(chain.direct))):.1e}\n")
    out.write("Why a product: output i of G depends on every intermediate u_k, and each u_k depends on x_j, so\n"
              "d(G o H)_i/dx_j = sum_k dG_i/du_k * dH_k/dx_j -- a sum over all paths, i.e. row i of J_G times\n"
              "column j of J_H.\n")


def _exercise_4(out: TextIO) -> None:
    import jacx

    from .symbolic import SymbolicJacobian, matrix_text, sigmoid

    _title(out, "Exercise 4: a layer sigma(Wx + b), a linear map Ax, and m = 1")
    W = np.array([[1.0, -2.0], [0.5, 3.0]])
    b = np.array([0.1, -0.2])
    sj = SymbolicJacobian("sigmoid(x1 - 2*x2 + 0.1), sigmoid(0.5*x1 + 3*x2 - 0.2)", "x1 x2")
    s1, s2 = sympy.symbols("s1 s2")
    short = sj.matrix.xreplace({sigmoid(sj.functions[0].args[0]): s1, sigmoid(sj.functions[1].args[0]): s2})
    out.write("W = [[1, -2], [0.5, 3]], b = (0.1, -0.2):\n" + sj.functions_text() + "\n"
              f"Writing s1 = f1 and s2 = f2 (so sigma' = s (1 - s)), the symbolic Jacobian is\n"
              f"{matrix_text(short, sj.variables)}\n"
              "which is diag(s1 (1 - s1), s2 (1 - s2)) W: row i of W scaled by sigma' of the i-th pre-activation.\n")
    x = np.array([0.3, -0.4])
    z = W @ x + b
    s = 1 / (1 + np.exp(-z))
    formula = np.diag(s * (1 - s)) @ W
    sym = _both(out, sj, {"x1": x[0], "x2": x[1]}, read=False)
    W_jax, b_jax = jnp.asarray(W), jnp.asarray(b)  # JAX arrays are immutable: the compiled layer can be reused
    ad = _ad(lambda v: jax.nn.sigmoid(W_jax @ v + b_jax), x)
    out.write(f"diag(sigma'(Wx + b)) W from NumPy:\n{matrix_text(formula, sj.variables)}\n"
              f"max |formula - symbolic| = {np.max(np.abs(formula - sym)):.1e}, "
              f"max |formula - AD of the jnp layer| = {np.max(np.abs(formula - ad)):.1e}\n")

    lin = SymbolicJacobian("x + 2*y, -y + 3*z", "x y z")
    out.write("\nA linear map A x with A = [[1, 2, 0], [0, -1, 3]] has the constant Jacobian A:\n"
              + lin.to_text() + "\n")
    _both(out, lin, {"x": 5.0, "y": -1.0, "z": 2.0}, read=False)

    grad = SymbolicJacobian("x^2*y + sin(z)", "x y z")
    out.write("\nWith one output (m = 1) the Jacobian is a single row: the gradient.\n" + grad.to_text() + "\n")
    point = {"x": 1.0, "y": 2.0, "z": 0.0}
    row = _both(out, grad, point, read=False)
    scalar = grad.to_jax()
    g = np.asarray(jacx.gradient(lambda v: scalar(v)[0])(jnp.asarray([1.0, 2.0, 0.0], dtype=jnp.float64))).reshape(-1)
    out.write(f"jacx.gradient gives {np.round(g, 12).tolist()}; max |row - gradient| = "
              f"{np.max(np.abs(row[0] - g)):.1e}\n")


def run_tutorial(out: TextIO | None = None) -> int:
    """Print the walkthrough (worked example, four exercises, the mode cost rule); returns 0.

    >>> import io
    >>> buffer = io.StringIO()
    >>> run_tutorial(buffer)
    0
    >>> "max |symbolic - AD|" in buffer.getvalue()
    True
    """
    import sys

    out = sys.stdout if out is None else out
    out.write("The Jacobian with jacx: worked example and exercises\n"
              "For F: R^n -> R^m the Jacobian J is the m x n matrix of partial derivatives J[i, j] = dF_i/dx_j;\n"
              "near a point, F(x + dx) ~ F(x) + J dx. Each result below is computed symbolically (SymPy) and by\n"
              "automatic differentiation (jacx.jacobian), and the two are compared.\n")
    with jax.enable_x64(True):
        for section in (_example_1, _exercise_1, _exercise_2, _exercise_3, _exercise_4):
            section(out)
    _title(out, "Which mode costs what")
    out.write(MODE_COST_RULE + "\n")
    return 0
