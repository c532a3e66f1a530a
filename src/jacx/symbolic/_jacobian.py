"""Symbolic Jacobians: from text or SymPy expressions to a ``sympy.Matrix``, plus a result object that renders,
evaluates, converts to JAX and checks itself against automatic differentiation."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, final

import jax
import numpy as np
import sympy

from .._errors import ExpressionSyntaxError, JacxUsageError, NonDifferentiablePointError, NonSquareJacobianError
from ._compile import compile_jacobian, to_jax, validate_tree
from ._domain import Issue, _short, evaluate_entries, evaluate_outputs, one_sided, point_text
from ._parse import parse_expressions, parse_variables
from ._render import functions_latex, functions_text, matrix_latex, matrix_text

if TYPE_CHECKING:
    from ._check import SymbolicCheck

__all__ = ["jacobian", "SymbolicJacobian", "Exprs", "Variables"]

Exprs = str | sympy.Expr | Sequence[str | sympy.Expr]
Variables = str | Sequence[str | sympy.Symbol] | None


def _coerce_exprs(exprs: Exprs) -> list[sympy.Expr]:
    if isinstance(exprs, str):
        out = parse_expressions(exprs)
    elif isinstance(exprs, sympy.MatrixBase):
        out = list(exprs)
    elif isinstance(exprs, sympy.Basic):
        out = [exprs]
    elif isinstance(exprs, Sequence) and len(exprs) > 0:
        out = []
        for item in exprs:
            if isinstance(item, str):
                parsed = parse_expressions(item)
                if len(parsed) != 1:
                    raise ExpressionSyntaxError(
                        f"each string in the list must hold one expression, got {len(parsed)} in {item!r}; "
                        "pass one string 'f1, f2' or a list ['f1', 'f2']."
                    )
                out.extend(parsed)
            elif isinstance(item, sympy.Expr):
                out.append(item)
            elif isinstance(item, (int, float)) and not isinstance(item, bool):
                out.append(sympy.Integer(item) if isinstance(item, int) else sympy.Float(item))
            else:
                raise ExpressionSyntaxError(
                    f"expected strings or SymPy expressions, got {item!r} of type {type(item).__name__}."
                )
    else:
        raise ExpressionSyntaxError(
            f"expected a string such as 'x**2 + y, x*y' or a list of strings/SymPy expressions, got {exprs!r}."
        )
    for expr in out:
        if not isinstance(expr, sympy.Expr):
            raise ExpressionSyntaxError(f"expected a SymPy expression, got {expr!r} of type {type(expr).__name__}.")
        validate_tree(expr)
    return out


def _split_name(name: str, others: set[str]) -> list[str] | None:
    """``name`` as a concatenation of two or more of ``others`` (``"xy" -> ["x", "y"]``), or ``None``."""
    best: dict[int, list[str]] = {0: []}
    for end in range(1, len(name) + 1):
        for start in range(end):
            if start in best and name[start:end] in others:
                best[end] = [*best[start], name[start:end]]
                break
    parts = best.get(len(name))
    return parts if parts is not None and len(parts) >= 2 else None


def _check_juxtaposed(names: Sequence[str]) -> None:
    """Refuse a name such as ``xy`` when ``x`` and ``y`` are variables of the same input: it is almost always a
    product written without ``*``."""
    known = set(names)
    for name in sorted(known, key=len, reverse=True):
        parts = _split_name(name, known - {name})
        if parts:
            raise ExpressionSyntaxError(
                f"the name {name!r} is made of the variables {', '.join(parts)} of the same input, so it reads as "
                f"a product written without '*'; did you mean {'*'.join(parts)}? If {name} is a variable of its "
                f"own, list the variables explicitly (variables='{' '.join(sorted(known))}', or --vars on the "
                "command line)."
            )


def _resolve_variables(exprs: Sequence[sympy.Expr], variables: Variables) -> list[sympy.Symbol]:
    free = set().union(*(e.free_symbols for e in exprs))
    if variables is None:
        if not free:
            raise JacxUsageError(
                "the expressions contain no variables, so there is nothing to differentiate by; pass "
                "`variables` (e.g. variables='x y') to get a Jacobian of zeros."
            )
        _check_juxtaposed([s.name for s in free])
        return sorted(free, key=lambda s: (s.name, str(s.assumptions0)))
    by_name = {s.name: s for s in free}
    out = []
    for v in parse_variables(variables):
        out.append(v if v in free else by_name.get(v.name, v))
    return out


def jacobian(exprs: Exprs, variables: Variables = None) -> sympy.Matrix:
    """The symbolic Jacobian matrix ``J[i, j] = d f_i / d x_j``.

    ``exprs`` is a string such as ``"x**2 + y, x*y"`` (also ``"[x^2 + y, x*y]"``), or a list of strings or SymPy
    expressions.  ``variables`` gives the column order (``"x y"``, ``"x, y"`` or a list); by default the free
    symbols sorted by name.  The text is parsed safely (nothing is executed).  Without ``variables``, a name that
    is a concatenation of other variables (``xy`` next to ``x`` and ``y``) is refused as a likely missing ``*``.

    >>> jacobian("x^2 + y, x*y")
    Matrix([
    [2*x, 1],
    [  y, x]])
    >>> jacobian("x*y", variables="y x")
    Matrix([[x, y]])
    """
    fs = _coerce_exprs(exprs)
    return sympy.Matrix(fs).jacobian(_resolve_variables(fs, variables))


def _point_values(
    point: Mapping[str | sympy.Symbol, float] | Sequence[float] | np.ndarray,
    variables: Sequence[sympy.Symbol],
    parameters: Sequence[sympy.Symbol],
) -> tuple[list[float], dict[sympy.Symbol, float]]:
    """Split a point into the variables' values (in order) and the parameters' values."""
    if isinstance(point, Mapping):
        names = {str(k): float(v) for k, v in point.items()}
        known = {s.name for s in (*variables, *parameters)}
        unknown = sorted(set(names) - known)
        if unknown:
            raise JacxUsageError(
                f"unknown variable(s) {', '.join(unknown)} in the point; the expressions use "
                f"{', '.join(sorted(known))}."
            )
        missing = [s.name for s in (*variables, *parameters) if s.name not in names]
        if missing:
            raise JacxUsageError(f"no value given for {', '.join(missing)}; give a value for every variable.")
        return [names[v.name] for v in variables], {p: names[p.name] for p in parameters}
    values = [float(v) for v in np.asarray(point, dtype=float).reshape(-1)]
    if parameters:
        raise JacxUsageError(
            f"the expressions also use the parameter(s) {', '.join(p.name for p in parameters)}; give the point as "
            "a mapping such as {'x': 1.0, 'a': 2.0}."
        )
    if len(values) != len(variables):
        raise JacxUsageError(
            f"got {len(values)} value(s) for {len(variables)} variable(s) "
            f"({', '.join(v.name for v in variables)}); give one value per variable."
        )
    return values, {}


def _cheap_to_factor(expr: sympy.Expr, max_nodes: int = 120, max_power: int = 12) -> bool:
    """Whether ``sympy.factor`` is quick on ``expr``: few nodes and only small integer powers."""
    for count, node in enumerate(sympy.preorder_traversal(expr)):
        if count > max_nodes:
            return False
        if isinstance(node, sympy.Pow) and not (node.exp.is_Integer and abs(int(node.exp)) <= max_power):
            return False
    return True


def _not_differentiable(functions: Sequence[sympy.Expr], issues: Sequence[Issue], where: str) -> Exception:
    parts = []
    for issue in issues[:3]:
        text = _short(functions[issue.output])
        parts.append(issue.describe().replace(f"f{issue.output + 1} ", f"f{issue.output + 1} = {text} ", 1))
    more = f"; and {len(issues) - 3} more" if len(issues) > 3 else ""
    exc = NonDifferentiablePointError(
        f"at {where}, {'; '.join(parts)}{more}. The Jacobian does not exist at this point; choose another point."
    )
    exc.issues = list(issues)  # type: ignore[attr-defined]
    return exc


@final
class SymbolicJacobian:
    """A symbolic Jacobian together with its function, variables and helpers.

    Free symbols that are not among ``variables`` are *parameters*: they stay symbolic in the matrix and need a
    value when evaluating.

    >>> sj = SymbolicJacobian("x^2 - y^2, 2*x*y")
    >>> sj.matrix
    Matrix([
    [2*x, -2*y],
    [2*y,  2*x]])
    >>> sj.det()
    4*(x**2 + y**2)
    >>> sj.at({"x": 1.0, "y": 2.0})
    array([[ 2., -4.],
           [ 4.,  2.]])
    >>> print(sj.to_text())
          x     y
    f1 [2*x  -2*y]
    f2 [2*y   2*x]
    """

    def __init__(self, exprs: Exprs, variables: Variables = None) -> None:
        self.functions: tuple[sympy.Expr, ...] = tuple(_coerce_exprs(exprs))
        self.variables: tuple[sympy.Symbol, ...] = tuple(_resolve_variables(self.functions, variables))
        free = set().union(*(e.free_symbols for e in self.functions))
        self.parameters: tuple[sympy.Symbol, ...] = tuple(
            sorted(free - set(self.variables), key=lambda s: s.name)
        )
        self.matrix: sympy.Matrix = sympy.Matrix(self.functions).jacobian(self.variables)
        self._compiled: Callable[..., np.ndarray] | None = None
        self._compiled_f: Callable[..., np.ndarray] | None = None

    def __repr__(self) -> str:
        return f"SymbolicJacobian({list(self.functions)}, variables={list(self.variables)})"

    @property
    def shape(self) -> tuple[int, int]:
        """``(m, n)``: number of outputs and of variables."""
        return (len(self.functions), len(self.variables))

    @property
    def is_square(self) -> bool:
        """Whether ``m == n`` (so that the determinant exists)."""
        return self.shape[0] == self.shape[1]

    def det(self) -> sympy.Expr:
        """The determinant; :class:`~jacx.NonSquareJacobianError` if ``m != n``.

        It is factored for Jacobians up to 3 x 3 when that is cheap (a short polynomial-like expression with small
        integer powers); otherwise it is returned as computed, because factoring can take minutes, e.g. for
        ``(x+1)^1000 + (x-1)^1000``.

        >>> SymbolicJacobian("x^2 - y^2, 2*x*y").det()
        4*(x**2 + y**2)
        """
        if not self.is_square:
            m, n = self.shape
            raise NonSquareJacobianError(
                f"the Jacobian is {m} x {n}; a determinant needs as many outputs as variables."
            )
        det = self.matrix.det(method="berkowitz")
        return sympy.factor(det) if self.shape[0] <= 3 and _cheap_to_factor(det) else det

    def _all_symbols(self) -> list[sympy.Symbol]:
        return [*self.variables, *self.parameters]

    def _evaluators(self) -> tuple[Callable[..., np.ndarray], Callable[..., np.ndarray]]:
        if self._compiled is None:
            self._compiled = compile_jacobian(self.matrix, self._all_symbols(), vectorized=True)
        if self._compiled_f is None:
            self._compiled_f = compile_jacobian(sympy.Matrix(self.functions), self._all_symbols(), vectorized=True)
        return self._compiled_f, self._compiled

    def _analyse(
        self, point: Mapping[str | sympy.Symbol, float] | Sequence[float] | np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, list[Issue], str]:
        """``F(a)`` (domain checked: raises for a point outside it), the symbolic ``J(a)`` as evaluated, the
        (output, variable) pairs whose partial derivative does not exist there, and the point as text."""
        values, params = _point_values(point, self.variables, self.parameters)
        env = {**dict(zip(self.variables, values)), **params}
        F, suspects = evaluate_outputs(self.functions, env)
        param_values = [params[p] for p in self.parameters]
        J = evaluate_entries(list(self.matrix), env).reshape(self.shape)
        pairs = []
        for i, suspect in suspects:
            for j, v in enumerate(self.variables):
                if v in suspect.depends_on.free_symbols and (i, j, suspect.reason) not in pairs:
                    pairs.append((i, j, suspect.reason))
        for i, j in zip(*np.nonzero(~np.isfinite(J))):
            if not any(p[:2] == (i, j) for p in pairs):
                pairs.append((int(i), int(j), f"the formula of d f{i + 1}/d {self.variables[j]} gives "
                                              f"{J[i, j]} here"))
        issues, seen = [], set()
        for i, j, reason in pairs:
            if (i, j) in seen:
                continue
            f_eval, j_eval = self._evaluators()
            left, right, broken = one_sided(f_eval, j_eval, values, param_values, F, J, i, j)
            if broken:
                seen.add((i, j))
                issues.append(Issue(i, self.variables[j].name, reason, left, right))
        return F, J, issues, point_text(env)

    def value_at(self, point: Mapping[str | sympy.Symbol, float] | Sequence[float] | np.ndarray) -> np.ndarray:
        """``F`` itself at a point (float64, shape ``(m,)``), with the real domain of every function checked:
        :class:`~jacx.symbolic.OutsideDomainError` for ``log(-1)``, ``1/0``, ``asin(2)`` and the like.

        >>> SymbolicJacobian("x^2 + y, x*y").value_at({"x": 1.0, "y": 2.0})
        array([3., 2.])
        """
        values, params = _point_values(point, self.variables, self.parameters)
        return evaluate_outputs(self.functions, {**dict(zip(self.variables, values)), **params})[0]

    def at(self, point: Mapping[str | sympy.Symbol, float] | Sequence[float] | np.ndarray) -> np.ndarray:
        """The Jacobian's value (float64) at a point given as ``{"x": 1.0, ...}`` or as values in variable order.

        Raises :class:`~jacx.symbolic.OutsideDomainError` where the function is not defined (``log(-1)``),
        :class:`~jacx.symbolic.PointOverflowError` where a value exceeds float64, and
        :class:`~jacx.NonDifferentiablePointError` where an output is defined but has no partial derivative
        (``abs`` at 0, ``sqrt`` at 0); that message names the output and the variable and gives the one-sided
        derivatives.

        >>> SymbolicJacobian("abs(x) + y, y").at({"x": 1.0, "y": 0.0})
        array([[1., 1.],
               [0., 1.]])
        >>> SymbolicJacobian("abs(x), y").at({"x": 0.0, "y": 1.0})
        Traceback (most recent call last):
        ...
        jacx._errors.NonDifferentiablePointError: at x = 0, y = 1, f1 = abs(x) is not differentiable in x: ...
        """
        F, J, issues, where = self._analyse(point)
        if issues:
            raise _not_differentiable(self.functions, issues, where)
        return J

    def det_at(self, point: Mapping[str | sympy.Symbol, float] | Sequence[float] | np.ndarray) -> float:
        """The determinant's value at a point, computed from the evaluated matrix :meth:`at` (so it raises the same
        errors where the function is undefined or not differentiable).

        >>> SymbolicJacobian("x^2 - y^2, 2*x*y").det_at([1.0, 2.0])
        20.0
        """
        if not self.is_square:
            self.det()  # raises the explanatory error
        return float(np.linalg.det(self.at(point)))

    def to_jax(self, params: Mapping[str | sympy.Symbol, float] | None = None) -> Callable[[jax.Array], jax.Array]:
        """The function ``F`` as a JAX function of one vector ``x`` of shape ``(n,)`` (see :func:`to_jax`)."""
        given = {str(k): float(v) for k, v in (params or {}).items()}
        missing = [p.name for p in self.parameters if p.name not in given]
        if missing:
            raise JacxUsageError(f"give a value for the parameter(s) {', '.join(missing)} via params={{...}}.")
        return to_jax(list(self.functions), self.variables, {p: given[p.name] for p in self.parameters})

    def jacobian_to_jax(self, params: Mapping[str | sympy.Symbol, float] | None = None) -> Callable[[jax.Array],
                                                                                                   jax.Array]:
        """The symbolic Jacobian itself as a JAX function ``x -> J(x)`` of shape ``(m, n)``."""
        given = {str(k): float(v) for k, v in (params or {}).items()}
        return to_jax(self.matrix, self.variables, {p: given[p.name] for p in self.parameters if p.name in given})

    def compile(self) -> Callable[..., np.ndarray]:
        """The fast float path: ``J(x, y, ...) -> ndarray`` taking one Python float per variable (then parameter).

        >>> SymbolicJacobian("x^2 + y, x*y").compile()(1.0, 2.0)
        array([[2., 1.],
               [2., 1.]])
        """
        return compile_jacobian(self.matrix, self._all_symbols())

    def to_text(self) -> str:
        """The Jacobian as an aligned grid of expressions (rows ``f1..fm``, columns the variables)."""
        return matrix_text(self.matrix, self.variables)

    def to_latex(self) -> str:
        """The Jacobian as LaTeX, ``J = \\left[\\begin{matrix}...\\end{matrix}\\right]``."""
        return matrix_latex(self.matrix)

    def functions_text(self) -> str:
        """The function, one line per output: ``f1(x, y) = x**2 + y``."""
        return functions_text(self.functions, self.variables)

    def functions_latex(self) -> str:
        """The function as LaTeX."""
        return functions_latex(self.functions, self.variables)

    def check(self, point: Mapping[str | sympy.Symbol, float] | Sequence[float] | np.ndarray) -> SymbolicCheck:
        """Compare with the AD Jacobian of :meth:`to_jax` at ``point`` (see :func:`check_against_ad`)."""
        from ._check import check_against_ad

        return check_against_ad(self, point)

