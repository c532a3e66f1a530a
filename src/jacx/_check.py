"""Check an AD Jacobian against central finite differences computed in float64."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, final

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from ._api import check_function
from ._api import check_input_dtypes
from ._dense import Mode, jacobian_matrix

__all__ = ["JacobianCheck", "check_jacobian", "finite_difference_jacobian"]


def finite_difference_jacobian(f: Callable, x: Any, *, step: float | None = None) -> np.ndarray:
    """The ``(m, n)`` Jacobian of ``f`` at ``x`` by central differences, evaluated in float64.

    The step for input ``j`` is ``h_j = eps^(1/3) * max(1, |x_j|)`` (``eps`` of float64), which balances the
    truncation error ``O(h^2)`` against rounding ``O(eps / h)``.

    >>> import jax.numpy as jnp
    >>> finite_difference_jacobian(lambda v: v ** 2, jnp.array([1.0, 3.0])).round(6)
    array([[2., 0.],
           [0., 6.]])
    """
    with jax.enable_x64(True):
        flat, unravel = ravel_pytree(jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), x))
        x0 = np.asarray(flat, dtype=np.float64)
        base = float(np.finfo(np.float64).eps) ** (1.0 / 3.0) if step is None else float(step)
        h = base * np.maximum(1.0, np.abs(x0)) if step is None else np.full_like(x0, base)

        def flat_f(z: jax.Array) -> jax.Array:
            return ravel_pytree(f(unravel(z)))[0].astype(jnp.float64)

        E = np.diag(h)
        try:
            plus = np.asarray(jax.vmap(flat_f)(jnp.asarray(x0 + E)))
            minus = np.asarray(jax.vmap(flat_f)(jnp.asarray(x0 - E)))
        except jax.errors.ConcretizationTypeError:  # Python control flow on values: one point at a time
            plus = np.stack([np.asarray(flat_f(jnp.asarray(x0 + e))) for e in E])
            minus = np.stack([np.asarray(flat_f(jnp.asarray(x0 - e))) for e in E])
        return ((plus - minus) / (2.0 * h[:, None])).T


@final
@dataclasses.dataclass(frozen=True)
class JacobianCheck:
    """The result of :func:`jacx.check_jacobian`. ``ok`` is True when every entry agrees within tolerance.

    >>> import jax, jax.numpy as jnp, jacx
    >>> bad = jax.custom_jvp(jnp.sin)
    >>> bad.defjvp(lambda p, t: (jnp.sin(p[0]), 2.0 * t[0]))    # a wrong derivative rule: 2 instead of cos
    <function <lambda> at ...>
    >>> result = jacx.check_jacobian(bad, jnp.array([0.5]))
    >>> bool(result), result.worst_entry
    (False, (0, 0))
    """

    ad: np.ndarray
    finite_difference: np.ndarray
    max_abs_error: float
    max_rel_error: float
    worst_entry: tuple[int, int]
    rtol: float
    atol: float
    ok: bool
    message: str

    def __str__(self) -> str:
        return self.message

    def __bool__(self) -> bool:
        return self.ok


def check_jacobian(
    f: Callable,
    x: Any,
    *,
    mode: Mode = "auto",
    rtol: float | None = None,
    atol: float | None = None,
    raise_on_mismatch: bool = False,
) -> JacobianCheck:
    """Compare jacx's AD Jacobian of ``f`` at ``x`` with float64 central finite differences.

    Entry ``(i, j)`` agrees when ``|AD - FD| <= atol * max(1, max|FD|) + rtol * |FD|``. The default tolerances
    follow the dtype the AD Jacobian is computed in (``10 sqrt(eps)``: about 3e-3 for float32, 1.5e-7 for
    float64). With ``raise_on_mismatch`` a disagreement raises ``AssertionError``.

    >>> import jax.numpy as jnp, jacx
    >>> F = lambda v: jnp.array([v[0] ** 2 + v[1] * v[2], jnp.sin(v[0] * v[1]), jnp.exp(v[0] + v[2])])
    >>> result = jacx.check_jacobian(F, jnp.array([0.5, 1.0, -0.3]))
    >>> result.ok
    True
    >>> print(result)                                        # doctest: +ELLIPSIS
    AD and finite differences agree: max abs error ... (tolerance ...).
    """
    check_function(f, "jacx.check_jacobian")
    leaves = check_input_dtypes(x, "jacx.check_jacobian")
    ad = np.asarray(jacobian_matrix(f, mode=mode)(x), dtype=np.float64)
    fd = finite_difference_jacobian(f, x)
    eps = max(float(jnp.finfo(jnp.result_type(leaf)).eps) for leaf in leaves)
    rtol = 10.0 * eps**0.5 if rtol is None else rtol
    atol = rtol if atol is None else atol
    scale = max(1.0, float(np.max(np.abs(fd)))) if fd.size else 1.0
    err = np.abs(ad - fd)
    bound = atol * scale + rtol * np.abs(fd)
    finite = bool(np.all(np.isfinite(ad)))
    bad = ~(err <= bound)  # NaN counts as bad
    if fd.size == 0:
        worst, max_abs, max_rel = (0, 0), 0.0, 0.0
    else:
        worst_flat = int(np.nanargmax(np.where(np.isfinite(err), err / bound, np.inf)))
        worst = tuple(int(i) for i in np.unravel_index(worst_flat, err.shape))
        max_abs = float(np.nanmax(err)) if finite else float("nan")
        max_rel = float(np.nanmax(err / np.maximum(np.abs(fd), 1e-300))) if finite else float("nan")
    ok = finite and not bool(np.any(bad))
    if ok:
        message = f"AD and finite differences agree: max abs error {max_abs:.2e} (tolerance {atol * scale:.1e})."
    elif not finite:
        i, j = worst
        message = (
            f"The AD Jacobian has NaN/inf entries (first at output {i}, input {j}): the function is probably not "
            "differentiable at this point (sqrt, log, abs or a norm at 0, or a division by zero)."
        )
    else:
        i, j = worst
        message = (
            f"AD and finite differences DISAGREE in {int(np.sum(bad))} of {err.size} entries; worst at output {i}, "
            f"input {j}: AD {ad[i, j]:.6g} vs FD {fd[i, j]:.6g} (abs error {err[i, j]:.2e}, allowed "
            f"{bound[i, j]:.2e}). A custom derivative rule (custom_jvp/custom_vjp) may be wrong, or the function is "
            "not smooth near this point."
        )
    result = JacobianCheck(ad, fd, max_abs, max_rel, worst, rtol, atol, ok, message)
    if raise_on_mismatch and not ok:
        raise AssertionError(message)
    return result
