"""Determinants of square Jacobians and what they say about volume.

For F: R^n -> R^n, ``det J_F(x)`` is the factor by which F scales small volumes near ``x``: above 1 it expands,
between 0 and 1 it contracts, negative means the orientation is reversed too, and 0 means the map flattens a
neighbourhood (it is not locally invertible there).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, Literal, final

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from ._autojit import is_tracing
from ._words import verdict
from ._api import check_function
from ._dense import Mode, _raise_not_finite, jacobian_matrix
from ._errors import JacxUsageError, NonSquareJacobianError

__all__ = ["det", "slogdet", "volume_change", "VolumeChange", "square_jacobian"]


def square_jacobian(
    f: Callable, x: Any, *, mode: Mode = "auto", chunk_size: int | None = None, what: str = "jacx.det"
) -> jax.Array:
    """The ``(n, n)`` Jacobian matrix of ``f`` at ``x``; :class:`~jacx.NonSquareJacobianError` if it is not square.

    >>> import jax.numpy as jnp
    >>> square_jacobian(lambda v: 2.0 * v, jnp.ones(3)).shape
    (3, 3)
    """
    n = ravel_pytree(x)[0].size
    out = jax.eval_shape(f, x)
    m = sum(math.prod(leaf.shape) for leaf in jax.tree_util.tree_leaves(out))
    if m != n:
        raise NonSquareJacobianError(
            f"{what} needs a square Jacobian (as many outputs as inputs), but this function maps {n} input "
            f"value(s) to {m} output value(s), so its Jacobian is {m} x {n}. A determinant exists only for maps "
            "R^n -> R^n; for other shapes look at singular values (jnp.linalg.svd of jacx.jacobian_matrix(f)(x))."
        )
    return jacobian_matrix(f, mode=mode, chunk_size=chunk_size)(x)


def det(f: Callable, *, mode: Mode = "auto", chunk_size: int | None = None) -> Callable[[Any], jax.Array]:
    """``x -> det J_f(x)`` for a map with as many outputs as inputs (pytrees are flattened).

    >>> import jax.numpy as jnp, jacx
    >>> F = lambda v: jnp.array([v[0] ** 2 - v[1] ** 2, 2 * v[0] * v[1]])
    >>> jacx.det(F)(jnp.array([1.0, 1.0]))     # 4 (x^2 + y^2)
    Array(8., dtype=float32)
    """
    check_function(f, "jacx.det")
    return lambda x: jnp.linalg.det(square_jacobian(f, x, mode=mode, chunk_size=chunk_size, what="jacx.det"))


def slogdet(
    f: Callable, *, mode: Mode = "auto", chunk_size: int | None = None
) -> Callable[[Any], tuple[jax.Array, jax.Array]]:
    """``x -> (sign, log|det J_f(x)|)``: the determinant without overflow or underflow, as normalizing flows need.

    ``chunk_size`` bounds how many JVPs/VJPs run at once while the Jacobian is built.

    >>> import jax.numpy as jnp, jacx
    >>> sign, logabs = jacx.slogdet(lambda v: -3.0 * v)(jnp.ones(2))
    >>> sign, round(float(logabs), 4)          # det = 9
    (Array(1., dtype=float32), 2.1972)
    """
    check_function(f, "jacx.slogdet")

    def slogdet_fn(x: Any) -> tuple[jax.Array, jax.Array]:
        sign, logabs = jnp.linalg.slogdet(square_jacobian(f, x, mode=mode, chunk_size=chunk_size, what="jacx.slogdet"))
        return sign, logabs

    return slogdet_fn




@final
@dataclasses.dataclass(frozen=True)
class VolumeChange:
    """How a map changes volume near a point: the determinant and a verdict in plain words.

    ``kind`` is ``"expands"``, ``"contracts"``, ``"preserves"`` or ``"singular"``; ``orientation`` is ``"kept"``,
    ``"reversed"`` or ``None`` (singular). ``factor`` is ``|det J|``.

    >>> import jax.numpy as jnp, jacx
    >>> vc = jacx.volume_change(lambda v: jnp.array([v[1], 0.5 * v[0]]))(jnp.ones(2))
    >>> vc.kind, vc.orientation, vc.det
    ('contracts', 'reversed', -0.5)
    """

    det: float
    sign: int
    log_abs_det: float
    factor: float
    kind: Literal["expands", "contracts", "preserves", "singular"]
    orientation: Literal["kept", "reversed"] | None
    dimension: int
    verdict: str

    def __str__(self) -> str:
        return self.verdict


def volume_change(f: Callable, *, mode: Mode = "auto") -> Callable[[Any], VolumeChange]:
    """``x -> VolumeChange``: ``det J_f(x)`` and whether ``f`` expands, contracts or preserves volume near ``x``,
    keeps or reverses orientation, or is singular there. Call it outside ``jit`` (it returns words).

    >>> import jax.numpy as jnp, jacx
    >>> F = lambda v: jnp.array([v[0] ** 2 - v[1] ** 2, 2 * v[0] * v[1]])
    >>> print(jacx.volume_change(F)(jnp.array([1.0, 0.0])))
    expands area: a small region grows by a factor of 4; orientation kept (det J = 4)
    >>> jacx.volume_change(F)(jnp.array([0.0, 0.0])).kind
    'singular'
    """
    check_function(f, "jacx.volume_change")

    def volume_change_fn(x: Any) -> VolumeChange:
        if is_tracing(jax.tree_util.tree_leaves(x)):
            raise JacxUsageError(
                "jacx.volume_change returns Python numbers and words, so it cannot run under jax.jit, vmap or grad. "
                "Inside traced code use jacx.det(f) or jacx.slogdet(f)."
            )
        J = square_jacobian(f, x, mode=mode, what="jacx.volume_change")
        if not bool(jnp.all(jnp.isfinite(J))):
            _raise_not_finite(J, (x,), "Jacobian")
        A = np.asarray(J, dtype=np.float64)
        n = A.shape[0]
        eps = float(jnp.finfo(J.dtype).eps)
        sv = np.linalg.svd(A, compute_uv=False)
        singular = sv[0] == 0.0 or sv[-1] <= sv[0] * n * eps * 10
        sign, logabs = np.linalg.slogdet(A)
        det_value = float(sign * math.exp(logabs)) if sign != 0 else 0.0
        factor = abs(det_value)
        tol = 100 * n * eps
        kind, orientation, text = verdict(det_value, int(sign), factor, n, bool(singular), tol)
        return VolumeChange(
            det=det_value,
            sign=0 if singular else int(sign),
            log_abs_det=float(logabs),
            factor=factor,
            kind=kind,
            orientation=orientation,
            dimension=n,
            verdict=text,
        )

    return volume_change_fn
