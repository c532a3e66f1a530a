"""Sparsity rules for element-wise primitives (with scalar broadcasting) and zero-derivative primitives."""

from __future__ import annotations

from typing import Any

import numpy as np

from jacx.sparse import _pattern as pt
from jacx.sparse._detect import Context, Val, register, size_of

_UNARY = ["neg", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "exp", "exp2", "log", "log1p", "expm1", "sqrt", "rsqrt", "cbrt", "logistic", "abs", "integer_pow", "square", "reciprocal", "erf", "erfc", "erf_inv", "lgamma", "digamma", "igamma_grad_a", "bessel_i0e", "bessel_i1e", "real", "imag", "conj", "convert_element_type", "reduce_precision", "copy", "copy_p", "optimization_barrier", "tan"]
_NARY = ["add", "sub", "mul", "div", "max", "min", "pow", "atan2", "rem", "nextafter", "add_any", "igamma", "igammac", "polygamma", "zeta", "complex", "clamp"]
_ZERO_DERIVATIVE = ["sign", "floor", "ceil", "round", "is_finite", "stop_gradient", "random_bits", "random_seed"]


def _broadcast(v: Val, in_shape: tuple, out_shape: tuple) -> Any:
    """The operand's pattern broadcast (scalars, size-1 axes) to the output shape."""
    if v.pat is None:
        return None
    if tuple(in_shape) == tuple(out_shape):
        return v.pat
    if v.pat.shape[0] == 1:
        return pt.broadcast_row(v.pat, int(np.prod(out_shape, dtype=np.int64)))
    ids = np.arange(v.pat.shape[0]).reshape(in_shape)
    ids = ids.reshape((1,) * (len(out_shape) - len(in_shape)) + tuple(in_shape))
    return pt.select_rows(v.pat, np.broadcast_to(ids, out_shape))


def _zero_mask(v: Val, out_shape: tuple) -> np.ndarray | None:
    """Boolean mask of output elements where constant operand ``v`` is exactly zero (``None`` if unknown)."""
    if v.const is None:
        return None
    z = np.asarray(v.const) == 0
    try:
        return np.broadcast_to(z, out_shape).ravel()
    except ValueError:
        return None


@register(*_UNARY, *_NARY)
def elementwise(ctx: Context, eqn: Any, ins: list[Val]) -> list[Val]:
    rows = size_of(eqn.outvars[0].aval)
    out_shape = tuple(eqn.outvars[0].aval.shape)
    pats = [_broadcast(v, var.aval.shape, out_shape) for v, var in zip(ins, eqn.invars)]
    out = pt.union(*pats)
    if eqn.primitive.name == "mul" and out is not None:
        # a product with a constant zero has no derivative there
        for v in ins:
            mask = _zero_mask(v, out_shape)
            if mask is not None and mask.any():
                idx = np.where(mask, -1, np.arange(rows))
                out = pt.select_rows(out, idx)
    return [Val(out)]


@register(*_ZERO_DERIVATIVE)
def zero_derivative(ctx: Context, eqn: Any, ins: list[Val]) -> list[Val]:
    return [Val(None) for _ in eqn.outvars]
