"""Turning validated SymPy expressions into numerical functions.

* :func:`to_jax` walks the SymPy tree and maps every node to a ``jax.numpy`` operation (no code generation), so the
  result can be jitted, vmapped and differentiated by JAX.
* :func:`compile_jacobian` is the fast path for small Jacobians at plain Python floats: it uses
  ``sympy.lambdify`` (with common-subexpression elimination and the ``math`` module) on the already-validated
  SymPy matrix, so each evaluation is one small Python function call.

Both first check the tree against the whitelist (:func:`validate_tree`), so a SymPy expression built by hand with an
unsupported function gets a clear error instead of a confusing failure later.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import final

import jax
import jax.numpy as jnp
import numpy as np
import scipy.special
import sympy
from sympy.printing.pycode import PythonCodePrinter

from .._errors import UnsafeExpressionError
from ._functions import relu, sigmoid, softplus

__all__ = ["to_jax", "compile_jacobian", "validate_tree"]

_JAX_FUNCS: dict[type, Callable[..., jax.Array]] = {
    sympy.sin: jnp.sin,
    sympy.cos: jnp.cos,
    sympy.tan: jnp.tan,
    sympy.cot: lambda x: 1 / jnp.tan(x),
    sympy.sec: lambda x: 1 / jnp.cos(x),
    sympy.csc: lambda x: 1 / jnp.sin(x),
    sympy.asin: jnp.arcsin,
    sympy.acos: jnp.arccos,
    sympy.atan: jnp.arctan,
    sympy.atan2: jnp.arctan2,
    sympy.sinh: jnp.sinh,
    sympy.cosh: jnp.cosh,
    sympy.tanh: jnp.tanh,
    sympy.asinh: jnp.arcsinh,
    sympy.acosh: jnp.arccosh,
    sympy.atanh: jnp.arctanh,
    sympy.exp: jnp.exp,
    sympy.log: jnp.log,
    sympy.Abs: jnp.abs,
    sympy.sign: jnp.sign,
    sympy.erf: jax.scipy.special.erf,
    sympy.erfc: jax.scipy.special.erfc,
    sigmoid: jax.nn.sigmoid,
    softplus: jax.nn.softplus,
    relu: jax.nn.relu,
    sympy.Heaviside: lambda x, h0=0.5: jnp.heaviside(x, h0),
    sympy.DiracDelta: jnp.zeros_like,  # zero wherever the derivative exists
    sympy.Max: lambda *a: functools.reduce(jnp.maximum, a),
    sympy.Min: lambda *a: functools.reduce(jnp.minimum, a),
}
_ALLOWED_NODES = (sympy.Add, sympy.Mul, sympy.Pow, *_JAX_FUNCS)


def validate_tree(expr: sympy.Basic) -> None:
    """Raise :class:`~jacx.UnsafeExpressionError` if ``expr`` uses anything outside the supported whitelist.

    >>> import sympy
    >>> x = sympy.Symbol("x")
    >>> validate_tree(sympy.sin(x) ** 2)
    >>> validate_tree(sympy.gamma(x))
    Traceback (most recent call last):
    ...
    jacx._errors.UnsafeExpressionError: unsupported SymPy node gamma(x) ...
    """
    for node in sympy.preorder_traversal(expr):
        if isinstance(node, (sympy.Symbol, sympy.Rational, sympy.Float)) or node in (sympy.pi, sympy.E):
            continue
        if isinstance(node, _ALLOWED_NODES):
            continue
        raise UnsafeExpressionError(
            f"unsupported SymPy node {node} (type {type(node).__name__}) in {expr}; only numbers, symbols, "
            "+ - * / ** and the functions of jacx.symbolic.FUNCTIONS can be converted. Rewrite it with those "
            "(and use real symbols, sympy.Symbol('x', real=True), so that abs and sqrt differentiate simply)."
        )


def _walk(expr: sympy.Basic, env: dict[sympy.Symbol, jax.Array], dtype: jnp.dtype) -> jax.Array:
    if isinstance(expr, sympy.Symbol):
        if expr not in env:
            raise UnsafeExpressionError(
                f"symbol {expr} has no value; list it in `variables` or give it in `params`."
            )
        return env[expr]
    if expr.is_Number or expr in (sympy.pi, sympy.E):
        return jnp.asarray(float(expr), dtype)
    args = [_walk(arg, env, dtype) for arg in expr.args]
    if isinstance(expr, sympy.Add):
        return functools.reduce(jnp.add, args)
    if isinstance(expr, sympy.Mul):
        return functools.reduce(jnp.multiply, args)
    if isinstance(expr, sympy.Pow):
        base, exponent = expr.args
        if exponent.is_Integer:
            return args[0] ** int(exponent)  # integer_pow: exact and differentiable at negative bases
        if exponent == sympy.Rational(1, 2):
            return jnp.sqrt(args[0])
        if exponent == sympy.Rational(-1, 2):
            return jax.lax.rsqrt(args[0])
        return jnp.power(args[0], args[1])
    func = _JAX_FUNCS.get(type(expr))
    if func is None:
        validate_tree(expr)  # raises a clear error
        raise UnsafeExpressionError(f"cannot convert {expr} to JAX.")
    return func(*args)


def to_jax(
    exprs: Sequence[sympy.Expr] | sympy.MatrixBase,
    variables: Sequence[sympy.Symbol],
    params: dict[sympy.Symbol, float] | None = None,
) -> Callable[[jax.Array], jax.Array]:
    """A JAX function ``x -> F(x)`` for SymPy expressions: ``x`` has shape ``(n,)`` (one entry per variable, in
    order) and the result has shape ``(m,)`` for a list of expressions, or the matrix's shape for a matrix.

    The tree is mapped node by node to ``jax.numpy`` (nothing is generated or executed from text), so the function
    works with ``jax.jit``, ``jax.vmap`` and every JAX transformation.

    >>> import jax, sympy
    >>> x, y = sympy.symbols("x y", real=True)
    >>> f = to_jax([x**2 + y, x * y], [x, y])
    >>> f(jax.numpy.array([1.0, 2.0]))
    Array([3., 2.], dtype=float32)
    >>> jax.jacfwd(f)(jax.numpy.array([1.0, 2.0]))
    Array([[2., 1.],
           [2., 1.]], dtype=float32)
    """
    matrix = sympy.Matrix(exprs)
    shape = matrix.shape if isinstance(exprs, sympy.MatrixBase) else (len(matrix),)
    entries = tuple(matrix)  # tuples: the closure reads nothing that can change, so jacx's cache can vouch for it
    for entry in entries:
        validate_tree(entry)
    fixed = tuple(dict(params or {}).items())
    variables = tuple(variables)

    def f(x: jax.Array) -> jax.Array:
        x = jnp.asarray(x)
        if not jnp.issubdtype(x.dtype, jnp.floating):
            x = x.astype(jnp.result_type(float))
        if x.shape != (len(variables),):
            raise UnsafeExpressionError(
                f"expected a vector of shape ({len(variables)},) with one value per variable "
                f"{[str(v) for v in variables]}, got shape {x.shape}. Use jax.vmap for batches."
            )
        env = {v: x[i] for i, v in enumerate(variables)}
        env.update({k: jnp.asarray(v, x.dtype) for k, v in fixed})
        values = [jnp.broadcast_to(_walk(e, env, x.dtype), ()) for e in entries]
        return jnp.stack(values).reshape(shape)

    return f


# --- the fast float path ------------------------------------------------------------------------------------------


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def _softplus(x: float) -> float:
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def _heaviside(x: float, h0: float = 0.5) -> float:
    return 1.0 if x > 0 else (0.0 if x < 0 else float(h0))


@final
class _FloatArrayPrinter(PythonCodePrinter):
    """SymPy's Python printer, but a matrix prints as ``array([[...], ...], float64)``: building the result with a
    positional dtype is as cheap as a plain ``array(...)`` call and always gives float64, even for constant
    entries or integer arguments."""

    def _print_MatrixBase(self, expr: sympy.MatrixBase) -> str:
        rows = ", ".join("[" + ", ".join(self._print(e) for e in row) + "]" for row in expr.tolist())
        return f"_jacx_array([{rows}], _jacx_float64)"

    _print_ImmutableDenseMatrix = _print_MatrixBase
    _print_MutableDenseMatrix = _print_MatrixBase


_SCALAR_NAMESPACE: dict[str, object] = {
    "_jacx_array": np.array,
    "_jacx_float64": np.float64,
    "sigmoid": _sigmoid,
    "softplus": _softplus,
    "relu": lambda x: max(x, 0.0),
    "Heaviside": _heaviside,
    "DiracDelta": lambda x: 0.0,
}
_ARRAY_NAMESPACE: dict[str, object] = {
    "sigmoid": scipy.special.expit,
    "softplus": lambda x: np.logaddexp(0.0, x),
    "relu": lambda x: np.maximum(x, 0.0),
    "Heaviside": lambda x, h0=0.5: np.heaviside(x, h0),
    "DiracDelta": np.zeros_like,
    "erf": scipy.special.erf,
    "erfc": scipy.special.erfc,
}


def compile_jacobian(
    matrix: sympy.MatrixBase, variables: Sequence[sympy.Symbol], *, vectorized: bool = False
) -> Callable[..., np.ndarray]:
    """Compile a symbolic matrix for fast numerical evaluation: ``J(x, y, ...) -> numpy.ndarray`` (float64).

    With ``vectorized=False`` (the default) the arguments are Python floats and each call costs about a
    microsecond for a 2 x 2 Jacobian; math errors (``log(-1)``) raise ``ValueError``.  With ``vectorized=True``
    the arguments may be NumPy arrays (broadcast together) and the result has shape ``batch + matrix.shape``;
    invalid points give ``nan``.

    >>> import sympy
    >>> x, y = sympy.symbols("x y", real=True)
    >>> J = compile_jacobian(sympy.Matrix([[2 * x, 1], [y, x]]), [x, y])
    >>> J(1.0, 2.0)
    array([[2., 1.],
           [2., 1.]])
    >>> compile_jacobian(sympy.Matrix([[2 * x, 1], [y, x]]), [x, y], vectorized=True)([0.0, 1.0], 2.0).shape
    (2, 2, 2)
    """
    matrix = sympy.ImmutableMatrix(matrix)
    for entry in matrix:
        validate_tree(entry)
    variables = list(variables)
    if not vectorized:
        printer = _FloatArrayPrinter(
            {"fully_qualified_modules": False, "inline": True, "allow_unknown_functions": True, "user_functions": {}}
        )
        return sympy.lambdify(
            variables, matrix, modules=[_SCALAR_NAMESPACE, "math"], printer=printer, dummify=True, cse=True
        )
    flat = sympy.lambdify(variables, list(matrix), modules=[_ARRAY_NAMESPACE, "numpy"], dummify=True, cse=True)
    shape = matrix.shape

    def evaluate(*values: float | np.ndarray) -> np.ndarray:
        arrays = [np.asarray(v, dtype=np.float64) for v in values]
        with np.errstate(all="ignore"):
            entries = np.broadcast_arrays(*[np.asarray(e, dtype=np.float64) for e in flat(*arrays)], *arrays)
        batch = entries[0].shape
        return np.stack(entries[: len(matrix)], axis=-1).reshape(*batch, *shape)

    return evaluate
