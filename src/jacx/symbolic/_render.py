"""Plain-text and LaTeX rendering of functions and Jacobians (symbolic or numeric)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import sympy

__all__ = ["format_number", "format_grid", "matrix_text", "matrix_latex", "functions_text", "functions_latex"]


def format_number(value: float, digits: int = 6) -> str:
    """A short, readable form of a float: ``2.0 -> '2'``, ``-0.0 -> '0'``, ``1/3 -> '0.333333'``.

    >>> format_number(2.0), format_number(-0.0), format_number(1 / 3), format_number(float("nan"))
    ('2', '0', '0.333333', 'nan')
    """
    value = float(value)
    if value == 0:
        return "0"
    return f"{value:.{digits}g}"


def format_grid(cells: Sequence[Sequence[str]], row_labels: Sequence[str], col_labels: Sequence[str]) -> str:
    """Lay out a matrix of strings as an aligned grid with row and column labels.

    >>> print(format_grid([["2*x", "1"], ["y", "x"]], ["f1", "f2"], ["x", "y"]))
          x  y
    f1 [2*x  1]
    f2 [  y  x]
    """
    ncols = len(col_labels)
    widths = [max([len(col_labels[j])] + [len(row[j]) for row in cells]) for j in range(ncols)]
    lab = max((len(r) for r in row_labels), default=0)
    header = " " * (lab + 2) + "  ".join(c.rjust(w) for c, w in zip(col_labels, widths))
    lines = [header.rstrip()]
    for label, row in zip(row_labels, cells):
        lines.append(label.ljust(lab) + " [" + "  ".join(c.rjust(w) for c, w in zip(row, widths)) + "]")
    return "\n".join(lines)


def _labels(m: int) -> list[str]:
    return [f"f{i + 1}" for i in range(m)]


def matrix_text(
    matrix: sympy.MatrixBase | np.ndarray, variables: Sequence[sympy.Symbol | str], digits: int = 6
) -> str:
    """The Jacobian as a grid: one row per output ``f1, f2, ...`` and one column per variable.

    >>> import sympy
    >>> x, y = sympy.symbols("x y")
    >>> print(matrix_text(sympy.Matrix([[2 * x, 1], [y, x]]), [x, y]))
          x  y
    f1 [2*x  1]
    f2 [  y  x]
    """
    if isinstance(matrix, sympy.MatrixBase):
        cells = [[sympy.sstr(matrix[i, j]) for j in range(matrix.cols)] for i in range(matrix.rows)]
    else:
        arr = np.asarray(matrix, dtype=float)
        cells = [[format_number(v, digits) for v in row] for row in arr]
    return format_grid(cells, _labels(len(cells)), [str(v) for v in variables])


def matrix_latex(matrix: sympy.MatrixBase | np.ndarray, name: str = "J") -> str:
    """LaTeX for a matrix, as ``J = \\left[...\\right]`` (numbers in the short form of :func:`format_number`).

    >>> import sympy
    >>> x, y = sympy.symbols("x y")
    >>> matrix_latex(sympy.Matrix([[2 * x, 1], [y, x]]))
    'J = \\\\left[\\\\begin{matrix}2 x & 1\\\\\\\\y & x\\\\end{matrix}\\\\right]'
    """
    if not isinstance(matrix, sympy.MatrixBase):
        arr = np.asarray(matrix, dtype=float)
        body = r"\\".join(" & ".join(format_number(v) for v in row) for row in arr)
        return f"{name} = \\left[\\begin{{matrix}}{body}\\end{{matrix}}\\right]"
    return f"{name} = {sympy.latex(matrix)}"


def functions_text(exprs: Sequence[sympy.Expr], variables: Sequence[sympy.Symbol | str]) -> str:
    """One line per output, ``f1(x, y) = x**2 + y``.

    >>> import sympy
    >>> x, y = sympy.symbols("x y")
    >>> print(functions_text([x**2 + y, x * y], [x, y]))
    f1(x, y) = x**2 + y
    f2(x, y) = x*y
    """
    args = ", ".join(str(v) for v in variables)
    return "\n".join(f"{label}({args}) = {sympy.sstr(e)}" for label, e in zip(_labels(len(exprs)), exprs))


def functions_latex(exprs: Sequence[sympy.Expr], variables: Sequence[sympy.Symbol | str]) -> str:
    """LaTeX for ``F(x, y) = (f1, f2)`` as a column vector.

    >>> import sympy
    >>> x, y = sympy.symbols("x y")
    >>> functions_latex([x * y], [x, y])
    'F(x, y) = \\\\left[\\\\begin{matrix}x y\\\\end{matrix}\\\\right]'
    """
    args = ", ".join(sympy.latex(v) if isinstance(v, sympy.Basic) else str(v) for v in variables)
    return f"F({args}) = {sympy.latex(sympy.Matrix(list(exprs)))}"
