"""Checking a symbolic Jacobian against automatic differentiation of the same function."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import final

import jax
import jax.numpy as jnp
import numpy as np
import sympy

from ._domain import Issue
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
    """The outcome of :func:`check_against_ad`: both matrices (float64), their largest absolute difference and, when
    they disagree, an ``explanation`` of why.

    >>> print(check_against_ad("x*y", [2.0, 3.0]))
    symbolic and AD Jacobians agree: max |difference| = 0.0e+00
    >>> print(check_against_ad("abs(x)", [0.0]).explanation)
    f1 is not differentiable in x: abs(x) has a kink where x = 0 (one-sided d f1/d x: -1 from the left, 1 from the right); the symbolic formula gives 0 and AD picks 1 there, so neither is "the" derivative
    """

    symbolic: np.ndarray
    ad: np.ndarray
    max_abs_diff: float
    ok: bool
    explanation: str = ""

    def __str__(self) -> str:
        verdict = "agree" if self.ok else "DISAGREE"
        text = f"symbolic and AD Jacobians {verdict}: max |difference| = {self.max_abs_diff:.1e}"
        return f"{text}. Why: {self.explanation}" if self.explanation else text


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

    ``ok`` is true when every entry satisfies ``|sym - ad| <= atol + rtol * |sym|`` and both are finite.  At a
    point where an output is not differentiable (``abs`` at 0) the two may legitimately differ, because AD picks a
    convention there; ``explanation`` then says so, with the one-sided derivatives.  Outside the domain of the
    function it raises :class:`~jacx.symbolic.OutsideDomainError`.

    >>> result = check_against_ad("x^2 + y, sin(x*y)", {"x": 1.0, "y": 2.0})
    >>> result.ok, result.max_abs_diff < 1e-12
    (True, True)
    """
    sj = exprs if isinstance(exprs, SymbolicJacobian) else SymbolicJacobian(exprs, variables)
    values, params = _point_values(point, sj.variables, sj.parameters)
    _, symbolic, issues, _ = sj._analyse(point)
    with jax.enable_x64(True):
        f = sj.to_jax({p.name: v for p, v in params.items()})
        ad = np.asarray(ad_jacobian(f)(jnp.asarray(values, dtype=jnp.float64)), dtype=np.float64)
    ad = ad.reshape(symbolic.shape)
    finite = bool(np.all(np.isfinite(symbolic)) and np.all(np.isfinite(ad)))
    with np.errstate(invalid="ignore"):
        gap = np.abs(symbolic - ad)
        diff = float(np.max(gap)) if symbolic.size else 0.0
        ok = finite and bool(np.all(gap <= atol + rtol * np.abs(symbolic)))
    explanation = "" if ok else _explain(sj, symbolic, ad, issues, atol, rtol)
    return SymbolicCheck(symbolic=symbolic, ad=ad, max_abs_diff=diff, ok=ok, explanation=explanation)


def _explain(sj: SymbolicJacobian, symbolic: np.ndarray, ad: np.ndarray, issues: Sequence[Issue], atol: float,
             rtol: float) -> str:
    from ._render import format_number

    reasons = []
    for issue in issues:
        j = [v.name for v in sj.variables].index(issue.variable)
        s, a = symbolic[issue.output, j], ad[issue.output, j]
        reasons.append(f"{issue.describe()}; the symbolic formula gives {format_number(s)} and AD picks "
                       f"{format_number(a)} there, so neither is \"the\" derivative")
    if reasons:
        return "; ".join(reasons)
    with np.errstate(invalid="ignore"):
        bad = ~(np.abs(symbolic - ad) <= atol + rtol * np.abs(symbolic))
    i, j = (int(k) for k in np.argwhere(bad)[0])
    entry = f"d f{i + 1}/d {sj.variables[j]}"
    s, a = symbolic[i, j], ad[i, j]
    if not (np.isfinite(s) and np.isfinite(a)):
        return (f"{entry} is {format_number(s)} from the symbolic formula and {format_number(a)} by AD: a value "
                "overflows or an intermediate result is undefined in one of the two evaluations")
    rel = abs(s - a) / max(abs(s), abs(a), 1e-300)
    return (f"{entry} is {s:.17g} from the symbolic formula and {a:.17g} by AD (relative difference {rel:.1e}); "
            "the two evaluate different but equivalent formulas in float64, so cancellation or rounding in one of "
            "them is the likely cause")
