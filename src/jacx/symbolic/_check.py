"""Checking a symbolic Jacobian against automatic differentiation of the same function."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import final

import jax
import jax.numpy as jnp
import numpy as np
import sympy

from ._jacobian import Exprs, SymbolicJacobian, Variables, _point_values

__all__ = ["SymbolicCheck", "check_against_ad", "ad_jacobian"]


def ad_jacobian(f: Callable[[jax.Array], jax.Array]) -> Callable[[jax.Array], jax.Array]:
    """The AD Jacobian of ``f``: ``jacx.jacobian`` when the core provides it, else ``jax.jacfwd``.

    >>> import jax.numpy as jnp
    >>> ad_jacobian(lambda v: v**2)(jnp.array([1.0, 3.0]))
    Array([[2., 0.],
           [0., 6.]], dtype=float32)
    """
    import jacx

    core = getattr(jacx, "jacobian", None)
    return core(f) if callable(core) else jax.jacfwd(f)


@final
@dataclass(frozen=True)
class SymbolicCheck:
    """The outcome of :func:`check_against_ad`: both matrices (float64) and their largest absolute difference.

    >>> print(check_against_ad("x*y", [2.0, 3.0]))
    symbolic and AD Jacobians agree: max |difference| = 0.0e+00
    """

    symbolic: np.ndarray
    ad: np.ndarray
    max_abs_diff: float
    ok: bool

    def __str__(self) -> str:
        verdict = "agree" if self.ok else "DISAGREE"
        return f"symbolic and AD Jacobians {verdict}: max |difference| = {self.max_abs_diff:.1e}"


def check_against_ad(
    exprs: Exprs | SymbolicJacobian,
    point: Mapping[str | sympy.Symbol, float] | Sequence[float] | np.ndarray,
    variables: Variables = None,
    *,
    rtol: float = 1e-9,
    atol: float = 1e-12,
) -> SymbolicCheck:
    """Evaluate the symbolic Jacobian at ``point`` and compare it with the AD Jacobian (in float64) of the JAX
    function converted from the same expressions.

    ``ok`` is true when every entry satisfies ``|sym - ad| <= atol + rtol * |sym|`` and both are finite.

    >>> result = check_against_ad("x^2 + y, sin(x*y)", {"x": 1.0, "y": 2.0})
    >>> result.ok, result.max_abs_diff < 1e-12
    (True, True)
    """
    sj = exprs if isinstance(exprs, SymbolicJacobian) else SymbolicJacobian(exprs, variables)
    values, params = _point_values(point, sj.variables, sj.parameters)
    symbolic = sj.at(point)
    with jax.enable_x64(True):
        f = sj.to_jax({p.name: v for p, v in params.items()})
        ad = np.asarray(ad_jacobian(f)(jnp.asarray(values, dtype=jnp.float64)), dtype=np.float64)
    ad = ad.reshape(symbolic.shape)
    finite = bool(np.all(np.isfinite(symbolic)) and np.all(np.isfinite(ad)))
    with np.errstate(invalid="ignore"):
        gap = np.abs(symbolic - ad)
        diff = float(np.max(gap)) if symbolic.size else 0.0
        ok = finite and bool(np.all(gap <= atol + rtol * np.abs(symbolic)))
    return SymbolicCheck(symbolic=symbolic, ad=ad, max_abs_diff=diff, ok=ok)
