"""Where a function is defined, and where it is differentiable: the real domain checked at a point.

:class:`_Evaluator` walks a SymPy tree and computes its float value at a point, one node at a time, with the real
domain of every function checked on the way (``log`` of a negative number, division by zero, ``asin(2)``, a negative
base to a non-integer power, ...).  A node outside the domain raises :class:`OutsideDomainError` naming the node,
the output and the point; a value too large for float64 raises :class:`PointOverflowError`.  On the way it notes the
nodes where the function may fail to be differentiable although it is defined (``abs`` and ``relu`` at 0, ``sign``
at 0, ``sqrt`` at 0, ``asin`` at 1, ...); :func:`one_sided` then decides with one-sided values whether the partial
derivative really fails to exist there.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import final

import numpy as np
import sympy

from .._errors import JacxUsageError, UnsafeExpressionError
from ._functions import relu, sigmoid, softplus

__all__ = ["OutsideDomainError", "PointOverflowError", "Issue", "evaluate_outputs", "one_sided", "check_constant"]


class OutsideDomainError(JacxUsageError):
    """The function is not defined (as a real number) at the requested point: ``log(-1)``, ``1/0``, ``asin(2)``.

    >>> import jacx.symbolic as js
    >>> js.SymbolicJacobian("log(x), y").at({"x": -1.0, "y": 0.0})
    Traceback (most recent call last):
    ...
    jacx.symbolic._domain.OutsideDomainError: f1 = log(x) is not defined at x = -1, y = 0: log needs a positive ...
    """


class PointOverflowError(JacxUsageError, OverflowError):
    """A value at the requested point is too large for float64 (about 1.8e308), e.g. ``exp(1000)``.

    >>> import jacx.symbolic as js
    >>> js.SymbolicJacobian("exp(x)").at([1000.0])
    Traceback (most recent call last):
    ...
    jacx.symbolic._domain.PointOverflowError: f1 = exp(x) overflows at x = 1000: exp(x) is larger than ...
    """


@final
class _Undefined(Exception):
    def __init__(self, node: sympy.Basic, reason: str) -> None:
        super().__init__(reason)
        self.node, self.reason = node, reason


@final
class _Overflow(Exception):
    def __init__(self, node: sympy.Basic) -> None:
        super().__init__(str(node))
        self.node = node


@final
@dataclass(frozen=True)
class _Suspect:
    """A node where the function is defined but may not be differentiable."""

    node: sympy.Basic
    kind: str  # "kink", "jump", "vertical", "base"
    depends_on: sympy.Basic  # the sub-expression whose variables are affected
    reason: str


@final
@dataclass(frozen=True)
class Issue:
    """One output that is not differentiable in one variable at a point, with the one-sided derivatives.

    ``left`` / ``right`` are the one-sided partial derivatives: ``inf`` for an infinite slope, ``nan`` where the
    function jumps, ``None`` where it is undefined on that side.

    >>> Issue(0, "x", "abs(x) has a kink where x = 0", -1.0, 1.0).describe()
    'f1 is not differentiable in x: abs(x) has a kink where x = 0 (one-sided d f1/d x: -1 from the left, 1 from the right)'
    """

    output: int
    variable: str
    reason: str
    left: float | None
    right: float | None

    def one_sided_text(self) -> str:
        """``'-1 from the left, 1 from the right'`` (or ``'undefined'`` for a side where there is no value)."""

        def show(v: float | None) -> str:
            if v is None:
                return "undefined"
            if math.isnan(v):
                return "none (it jumps)"
            if math.isinf(v):
                return "+infinity" if v > 0 else "-infinity"
            return _num(v)

        return f"{show(self.left)} from the left, {show(self.right)} from the right"

    def describe(self) -> str:
        """One sentence naming the output, the variable, the reason and the one-sided values."""
        d = f"d f{self.output + 1}/d {self.variable}"
        return (f"f{self.output + 1} is not differentiable in {self.variable}: {self.reason} "
                f"(one-sided {d}: {self.one_sided_text()})")


def _num(value: float) -> str:
    value = float(value)
    return "0" if value == 0 else f"{value:.6g}"


def _short(expr: sympy.Basic, limit: int = 60) -> str:
    text = sympy.sstr(expr).replace("Abs(", "abs(")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _here(arg: sympy.Basic, value: float) -> str:
    return f"it is {_num(value)}" if arg.is_Number else f"{_short(arg)} = {_num(value)} here"


def _is_zero(value: float, tol: float) -> bool:
    return abs(value) <= tol


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


_NAMES: dict[type, str] = {sympy.log: "log", sympy.asin: "asin", sympy.acos: "acos", sympy.acosh: "acosh",
                           sympy.atanh: "atanh", sympy.Abs: "abs", sympy.sign: "sign"}

_SMOOTH: dict[type, Callable[[float], float]] = {
    sympy.sin: math.sin, sympy.cos: math.cos, sympy.atan: math.atan, sympy.sinh: math.sinh,
    sympy.cosh: math.cosh, sympy.tanh: math.tanh, sympy.asinh: math.asinh, sympy.exp: math.exp,
    sympy.erf: math.erf, sympy.erfc: math.erfc, sigmoid: _sigmoid,
    softplus: lambda x: max(x, 0.0) + math.log1p(math.exp(-abs(x))),
}


def apply(func: type, args: Sequence[sympy.Basic], values: Sequence[float], node: sympy.Basic, tol: float,
          note: Callable[[_Suspect], None] | None = None) -> float:
    """The value of ``func(*values)`` on the reals, or :class:`_Undefined` with the reason; ``note`` receives the
    points where the function is defined but maybe not differentiable."""
    def suspect(kind: str, depends_on: sympy.Basic, reason: str) -> None:
        if note is not None:
            note(_Suspect(node, kind, depends_on, reason))

    shown = _short(node)
    if func is sympy.Pow:
        return _power(args, values, node, tol, suspect)
    u = values[0]
    a = _short(args[0]) if args else ""
    here = _here(args[0], u) if args else ""
    if func in _SMOOTH:
        return _SMOOTH[func](u)
    if func is sympy.log:
        if _is_zero(u, tol):
            raise _Undefined(node, f"{shown} is log(0) here ({a} = {_num(u)}), which is -infinity")
        if u < 0:
            raise _Undefined(node, f"log needs a positive argument, but {here}")
        return math.log(u)
    if func in (sympy.tan, sympy.sec):
        if _is_zero(math.cos(u), tol):
            raise _Undefined(node, f"{shown} is infinite where cos({a}) = 0, and {here}")
        return math.tan(u) if func is sympy.tan else 1.0 / math.cos(u)
    if func in (sympy.cot, sympy.csc):
        if _is_zero(math.sin(u), tol):
            raise _Undefined(node, f"{shown} is infinite where sin({a}) = 0, and {here}")
        return 1.0 / math.tan(u) if func is sympy.cot else 1.0 / math.sin(u)
    if func in (sympy.asin, sympy.acos):
        name = _NAMES[func]
        if abs(u) > 1 + tol:
            raise _Undefined(node, f"{name} needs an argument between -1 and 1, but {here}")
        if abs(u) >= 1 - tol:
            u = math.copysign(1.0, u)
            suspect("vertical", args[0], f"{shown} has an infinite slope where {a} = {_num(u)}")
        return math.asin(u) if func is sympy.asin else math.acos(u)
    if func is sympy.acosh:
        if u < 1 - tol:
            raise _Undefined(node, f"acosh needs an argument of at least 1, but {here}")
        if u <= 1 + tol:
            suspect("vertical", args[0], f"{shown} has an infinite slope where {a} = 1")
            return 0.0
        return math.acosh(u)
    if func is sympy.atanh:
        if abs(u) >= 1 - tol:
            raise _Undefined(node, f"atanh needs an argument strictly between -1 and 1, but {here}")
        return math.atanh(u)
    if func is sympy.atan2:
        y, x = values
        if _is_zero(y, tol) and _is_zero(x, tol):
            raise _Undefined(node, f"{shown} is undefined where both arguments are 0")
        if _is_zero(y, tol) and x < 0:
            suspect("jump", args[0], f"{shown} jumps between pi and -pi where {a} = 0 and {_short(args[1])} < 0")
        return math.atan2(y, x)
    if func in (sympy.Abs, relu):
        if _is_zero(u, tol):
            name = "abs" if func is sympy.Abs else "relu"
            suspect("kink", args[0], f"{name}({a}) has a kink where {a} = 0")
        return abs(u) if func is sympy.Abs else max(u, 0.0)
    if func in (sympy.sign, sympy.Heaviside):
        if _is_zero(u, tol):
            suspect("jump", args[0], f"{shown} jumps where {a} = 0")
            return float(values[1]) if func is sympy.Heaviside and len(values) > 1 else (
                0.0 if func is sympy.sign else 0.5)
        return (1.0 if u > 0 else -1.0) if func is sympy.sign else (1.0 if u > 0 else 0.0)
    if func is sympy.DiracDelta:
        return 0.0
    if func in (sympy.Max, sympy.Min):
        best = max(values) if func is sympy.Max else min(values)
        ties = [arg for arg, v in zip(args, values) if _is_zero(v - best, tol)]
        if len(ties) > 1:
            suspect("kink", sympy.Add(*ties), f"{shown} has a kink where its arguments are equal")
        return best
    raise UnsafeExpressionError(f"cannot evaluate {shown} (type {type(node).__name__}) at a point; only the "
                                "functions of jacx.symbolic.FUNCTIONS are supported.")


def _power(args: Sequence[sympy.Basic], values: Sequence[float], node: sympy.Basic, tol: float,
           suspect: Callable[[str, sympy.Basic, str], None]) -> float:
    base, exponent = args
    b, e = values
    shown, bs = _short(node), _short(base)
    bv = _num(b) if base.is_Number else f"{bs} = {_num(b)}"
    if exponent.is_Integer:
        if e < 0 and _is_zero(b, tol):
            raise _Undefined(node, f"{shown} divides by zero: {_here(base, b)}")
        return math.pow(b, e)
    constant = exponent.is_Number
    if b < -tol:
        if not constant and e == round(e):
            suspect("base", exponent, f"{shown} has the negative base {bs} = {_num(b)}, so it is defined only for "
                                      f"whole-number exponents")
            return math.pow(b, e)
        raise _Undefined(node, f"{shown} raises the negative number {bv} to the non-integer power "
                               f"{_num(e)}, which is not a real number")
    if _is_zero(b, tol):
        if e <= 0:
            raise _Undefined(node, f"{shown} raises {bs} = 0 to the power {_num(e)} (division by zero)")
        if not constant:
            suspect("base", exponent, f"{shown} has the base {bs} = 0, where log({bs}) is -infinity")
        elif e < 1:
            suspect("vertical", base, f"{shown} has an infinite slope where {bs} = 0")
        return 0.0
    return math.pow(b, e)


@final
class _Evaluator:
    """Float value of a SymPy tree at a point, with the real domain of every node checked."""

    def __init__(self, env: dict[sympy.Symbol, float], tol: float) -> None:
        self.env, self.tol = env, tol
        self.cache: dict[sympy.Basic, float] = {}
        self.suspects: list[_Suspect] = []

    def value(self, node: sympy.Basic) -> float:
        cached = self.cache.get(node)
        if cached is None:
            cached = self._value(node)
            if not math.isfinite(cached):
                raise _Overflow(node)
            self.cache[node] = cached
        return cached

    def _value(self, node: sympy.Basic) -> float:
        if isinstance(node, sympy.Symbol):
            if node not in self.env:
                raise JacxUsageError(f"no value given for {node}; give a value for every variable and parameter.")
            return float(self.env[node])
        if node is sympy.pi:
            return math.pi
        if node is sympy.E:
            return math.e
        try:
            if isinstance(node, sympy.Number):
                if not node.is_real:
                    raise _Undefined(node, f"{node} is not a real number")
                return float(node)
            args = node.args
            values = [self.value(arg) for arg in args]
            if isinstance(node, sympy.Add):
                return math.fsum(values)
            if isinstance(node, sympy.Mul):
                return math.prod(values)
            if node.is_number and node.has(sympy.I):
                raise _Undefined(node, f"{_short(node)} is not a real number")
            return apply(node.func, args, values, node, self.tol, self.suspects.append)
        except (OverflowError, ValueError) as exc:
            if isinstance(exc, JacxUsageError):
                raise
            raise _Overflow(node) from None


def point_text(env: dict[sympy.Symbol, float]) -> str:
    """``'x = 1, y = 2'``."""
    return ", ".join(f"{s} = {_num(v)}" for s, v in env.items())


def _tolerance(env: dict[sympy.Symbol, float]) -> float:
    return 1e-12 * max([1.0, *(abs(v) for v in env.values())])


def evaluate_outputs(
    functions: Sequence[sympy.Expr], env: dict[sympy.Symbol, float]
) -> tuple[np.ndarray, list[tuple[int, _Suspect]]]:
    """``F`` at the point ``env`` (float64, shape ``(m,)``) with the real domain checked, and the nodes (per
    output) where ``F`` is defined but maybe not differentiable.

    >>> import sympy
    >>> x = sympy.Symbol("x", real=True)
    >>> values, suspects = evaluate_outputs([abs(x) + 1], {x: 0.0})
    >>> values, [s.reason for _, s in suspects]
    (array([1.]), ['abs(x) has a kink where x = 0'])
    """
    tol = _tolerance(env)
    out, suspects = [], []
    for i, f in enumerate(functions):
        ev = _Evaluator(env, tol)
        try:
            out.append(ev.value(f))
        except _Undefined as exc:
            raise OutsideDomainError(
                f"f{i + 1} = {_short(f)} is not defined at {point_text(env)}: {exc.reason}; choose a point inside "
                "its domain."
            ) from None
        except _Overflow as exc:
            raise PointOverflowError(
                f"f{i + 1} = {_short(f)} overflows at {point_text(env)}: {_short(exc.node)} is larger than float64 "
                "allows (about 1.8e308); choose a point where the values are smaller."
            ) from None
        suspects.extend((i, s) for s in ev.suspects)
    return np.asarray(out, dtype=np.float64), suspects


def check_constant(func: type, args: Sequence[sympy.Expr]) -> str | None:
    """Why ``func(*args)`` with constant arguments is not a real number (``None`` when it is).

    >>> check_constant(sympy.log, [sympy.Integer(-1)])
    'log needs a positive argument, but it is -1'
    >>> check_constant(sympy.sqrt(2).func, [sympy.Integer(2), sympy.Rational(1, 2)]) is None
    True
    """
    ev = _Evaluator({}, 1e-12)
    try:
        values = [ev.value(a) for a in args]
        apply(func, args, values, func(*args, evaluate=False), 1e-12)
    except _Undefined as exc:
        return exc.reason
    except (_Overflow, OverflowError, ValueError):
        return None
    return None


def one_sided(
    f_eval: Callable[..., np.ndarray],
    j_eval: Callable[..., np.ndarray],
    values: Sequence[float],
    params: Sequence[float],
    F: np.ndarray,
    J: np.ndarray,
    output: int,
    column: int,
) -> tuple[float | None, float | None, bool]:
    """One-sided partial derivatives of output ``output`` in variable ``column`` at the point (``None`` where the
    function is undefined or jumps on that side, ``+-inf`` for an infinite slope) and whether the partial
    derivative fails to exist there."""
    scale = max(1.0, abs(values[column]))
    steps = np.array([1e-3, 1e-7, 1e-9]) * scale
    shifts = np.concatenate([-steps, steps])
    args = [np.full(shifts.shape, v, dtype=np.float64) for v in values]
    args[column] = values[column] + shifts
    fv = np.asarray(f_eval(*args, *params))[:, output, 0]
    jv = np.asarray(j_eval(*args, *params))[:, output, column]
    sides: list[float | None] = []
    broken = False
    for k in (0, 1):
        fs, js = fv[3 * k: 3 * k + 3], jv[3 * k: 3 * k + 3]
        if not np.all(np.isfinite(fs)):
            sides.append(None)
            continue
        slope = float(js[2])
        jump = abs(fs[2] - F[output]) > 1e-6 * max(1.0, abs(F[output])) + 10 * steps[2] * max(1.0, abs(slope))
        if jump:
            sides.append(math.nan)
            broken = True
        elif not math.isfinite(slope) or (abs(js[2]) > 3 * abs(js[0]) and abs(js[2]) > 1):
            sides.append(math.copysign(math.inf, slope))
            broken = True
        else:
            sides.append(slope)
    left, right = sides
    if left is not None and right is not None and math.isfinite(left) and math.isfinite(right):  # both values
        if abs(left - right) > 1e-6 * (1 + max(abs(left), abs(right))):
            broken = True
    if not math.isfinite(float(J[output, column])):
        broken = True
    return left, right, broken


def constant_value(expr: sympy.Expr, what: str) -> float:
    """The float value of a constant expression, computed in float64 like everything else (so it cannot take
    long): :class:`PointOverflowError` if it exceeds float64, :class:`OutsideDomainError` if it is not real.

    >>> constant_value(sympy.pi / 4, "x")
    0.7853981633974483
    >>> constant_value(sympy.exp(sympy.exp(sympy.exp(10))), "x")
    Traceback (most recent call last):
    ...
    jacx.symbolic._domain.PointOverflowError: the value exp(exp(exp(10))) for x is too large for float64 ...
    """
    try:
        return _Evaluator({}, 1e-12).value(expr)
    except _Undefined as exc:
        raise OutsideDomainError(f"the value {_short(expr)} for {what} is not a real number: {exc.reason}; give a "
                                 "real number.") from None
    except _Overflow:
        raise PointOverflowError(f"the value {_short(expr)} for {what} is too large for float64 (about 1.8e308); "
                                 "give a smaller number.") from None


def evaluate_entries(entries: Sequence[sympy.Expr], env: dict[sympy.Symbol, float]) -> np.ndarray:
    """Float values of many expressions at one point by walking their trees (shared sub-expressions are computed
    once); an entry that is undefined there gives ``nan``, one that overflows ``inf``.  For one point this is much
    cheaper than generating code.

    >>> import sympy
    >>> x = sympy.Symbol("x", real=True)
    >>> evaluate_entries([2 * x, 1 / sympy.sqrt(x)], {x: 0.0})
    array([ 0., nan])
    """
    ev = _Evaluator(env, _tolerance(env))
    out = np.empty(len(entries), dtype=np.float64)
    for k, entry in enumerate(entries):
        try:
            out[k] = ev.value(entry)
        except _Undefined:
            out[k] = math.nan
        except _Overflow:
            out[k] = math.inf
    return out
