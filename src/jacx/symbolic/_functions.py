"""The whitelist of functions and constants that expressions may use.

Three activation functions have no SymPy class of their own, so they are defined here as SymPy functions with
their derivatives (``fdiff``) and an ``exp``/``Max`` rewrite for numerical evaluation.  Keeping them as named
functions (instead of expanding them into exponentials) keeps printed Jacobians short: the derivative of
``sigmoid(x)`` prints as ``sigmoid(x)*(1 - sigmoid(x))``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import final

import sympy

__all__ = ["FUNCTIONS", "CONSTANTS", "FunctionSpec", "sigmoid", "softplus", "relu"]


@final
class sigmoid(sympy.Function):  # noqa: N801  (named like the SymPy functions it sits next to)
    """The logistic function ``1 / (1 + exp(-x))``.

    >>> import sympy
    >>> x = sympy.Symbol("x", real=True)
    >>> sigmoid(x).diff(x)
    (1 - sigmoid(x))*sigmoid(x)
    >>> sigmoid(0)
    1/2
    """

    nargs = 1
    is_real = True

    @classmethod
    def eval(cls, arg: sympy.Expr) -> sympy.Expr | None:
        if arg.is_zero:
            return sympy.Rational(1, 2)
        return None

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        if argindex != 1:
            raise sympy.ArgumentIndexError(self, argindex)
        return self * (1 - self)

    def _eval_rewrite_as_exp(self, arg: sympy.Expr, **kwargs: object) -> sympy.Expr:
        return 1 / (1 + sympy.exp(-arg))

    def _eval_evalf(self, prec: int) -> sympy.Expr:
        return self.rewrite(sympy.exp)._eval_evalf(prec)


@final
class softplus(sympy.Function):  # noqa: N801
    """The smooth ramp ``log(1 + exp(x))``; its derivative is :class:`sigmoid`.

    >>> import sympy
    >>> x = sympy.Symbol("x", real=True)
    >>> softplus(x).diff(x)
    sigmoid(x)
    """

    nargs = 1
    is_real = True

    @classmethod
    def eval(cls, arg: sympy.Expr) -> sympy.Expr | None:
        if arg.is_zero:
            return sympy.log(2)
        return None

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        if argindex != 1:
            raise sympy.ArgumentIndexError(self, argindex)
        return sigmoid(self.args[0])

    def _eval_rewrite_as_exp(self, arg: sympy.Expr, **kwargs: object) -> sympy.Expr:
        return sympy.log(1 + sympy.exp(arg))

    def _eval_evalf(self, prec: int) -> sympy.Expr:
        return self.rewrite(sympy.exp)._eval_evalf(prec)


@final
class relu(sympy.Function):  # noqa: N801
    """The rectifier ``max(x, 0)``.  Its derivative is the step ``Heaviside(x, 0)``, which is 0 at ``x = 0``
    (the same convention as ``jax.nn.relu``).

    >>> import sympy
    >>> x = sympy.Symbol("x", real=True)
    >>> relu(x).diff(x)
    Heaviside(x, 0)
    >>> relu(-3), relu(2)
    (0, 2)
    """

    nargs = 1
    is_real = True

    @classmethod
    def eval(cls, arg: sympy.Expr) -> sympy.Expr | None:
        if arg.is_number and arg.is_extended_real:
            return sympy.Max(arg, 0)
        return None

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        if argindex != 1:
            raise sympy.ArgumentIndexError(self, argindex)
        return sympy.Heaviside(self.args[0], 0)

    def _eval_evalf(self, prec: int) -> sympy.Expr:
        return sympy.Max(self.args[0], 0)._eval_evalf(prec)


@final
@dataclass(frozen=True)
class FunctionSpec:
    """One allowed function: how to build it in SymPy and how many arguments it takes.

    >>> FUNCTIONS["atan2"].min_args, FUNCTIONS["log"].max_args
    (2, 2)
    """

    build: Callable[..., sympy.Expr]
    min_args: int
    max_args: int


def _spec(build: Callable[..., sympy.Expr], min_args: int = 1, max_args: int | None = None) -> FunctionSpec:
    return FunctionSpec(build, min_args, min_args if max_args is None else max_args)


FUNCTIONS: dict[str, FunctionSpec] = {
    "sin": _spec(sympy.sin),
    "cos": _spec(sympy.cos),
    "tan": _spec(sympy.tan),
    "cot": _spec(sympy.cot),
    "sec": _spec(sympy.sec),
    "csc": _spec(sympy.csc),
    "asin": _spec(sympy.asin),
    "acos": _spec(sympy.acos),
    "atan": _spec(sympy.atan),
    "atan2": _spec(sympy.atan2, 2),
    "sinh": _spec(sympy.sinh),
    "cosh": _spec(sympy.cosh),
    "tanh": _spec(sympy.tanh),
    "asinh": _spec(sympy.asinh),
    "acosh": _spec(sympy.acosh),
    "atanh": _spec(sympy.atanh),
    "exp": _spec(sympy.exp),
    "log": _spec(sympy.log, 1, 2),
    "ln": _spec(sympy.log),
    "sqrt": _spec(sympy.sqrt),
    "abs": _spec(sympy.Abs),
    "sign": _spec(sympy.sign),
    "erf": _spec(sympy.erf),
    "erfc": _spec(sympy.erfc),
    "sigmoid": _spec(sigmoid),
    "softplus": _spec(softplus),
    "relu": _spec(relu),
}
"""Function names accepted in expressions, with their SymPy constructor and arity."""

CONSTANTS: dict[str, sympy.Expr] = {"pi": sympy.pi, "e": sympy.E}
"""Names that stand for mathematical constants, not variables."""
