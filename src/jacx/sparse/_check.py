"""A user-facing check of a sparse Jacobian against dense AD or randomized products."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, final

import jax
import jax.numpy as jnp
import numpy as np

from jacx._dense import jacobian_matrix
from jacx.sparse._prepared import SparseJacobian, jacobian

__all__ = ["SparseCheck", "check_sparse_jacobian"]


@final
@dataclass(frozen=True)
class SparseCheck:
    """Result of :func:`check_sparse_jacobian`: the largest absolute error and how it was measured.

    >>> import jax.numpy as jnp, jacx.sparse as js
    >>> res = js.check_sparse_jacobian(lambda x: x[1:] * x[:-1], jnp.arange(1.0, 6.0))
    >>> res.ok, res.max_error
    (True, 0.0)
    """

    max_error: float
    scale: float
    method: str
    tolerance: float

    @property
    def ok(self) -> bool:
        """Whether the error is within the tolerance relative to the Jacobian's scale."""
        return self.max_error <= self.tolerance * max(self.scale, 1.0)

    def __str__(self) -> str:
        verdict = "agrees" if self.ok else "DISAGREES"
        return (
            f"sparse Jacobian {verdict} with {self.method}: largest error {self.max_error:.3g} "
            f"(Jacobian scale {self.scale:.3g}, tolerance {self.tolerance:.1g} x scale)"
        )


def check_sparse_jacobian(
    f: Callable, x: Any, *, jac: SparseJacobian | None = None, dense_limit: int = 4_000_000,
    n_probes: int = 8, seed: int = 0,
) -> SparseCheck:
    """Compare the sparse Jacobian of ``f`` at ``x`` with dense AD (``m * n <= dense_limit``) or, for large
    Jacobians, with ``n_probes`` random JVPs and VJPs; report the largest absolute error.

    >>> import jax.numpy as jnp
    >>> from jacx.sparse import check_sparse_jacobian
    >>> res = check_sparse_jacobian(lambda x: jnp.cumsum(x) * x, jnp.arange(1.0, 5.0))
    >>> res.ok, res.method, res.max_error < 1e-5
    (True, 'dense AD', True)
    """
    x = jnp.asarray(x)
    jac = jac if jac is not None else jacobian(f, x)
    flat = lambda z: jnp.ravel(jnp.concatenate([jnp.ravel(v) for v in jax.tree_util.tree_leaves(f(z))]))
    sparse = jac.to_scipy(x)
    m, n = sparse.shape
    eps = float(jnp.finfo(x.dtype).eps)
    tol = 100 * eps
    if m * n <= dense_limit:
        dense_mode = "reverse" if jac.mode == "reverse" else "forward"  # the mode JAX can do for this f
        dense = np.asarray(jacobian_matrix(flat, mode=dense_mode)(x)).reshape(m, n)
        err = float(np.max(np.abs(sparse.toarray() - dense), initial=0.0))
        return SparseCheck(err, float(np.max(np.abs(dense), initial=0.0)), "dense AD", tol)
    rng = np.random.default_rng(seed)
    err, scale = 0.0, 0.0
    for _ in range(n_probes):
        v = rng.standard_normal(n)
        u = rng.standard_normal(m)
        jv = np.asarray(jax.jvp(flat, (x,), (jnp.asarray(v, x.dtype).reshape(x.shape),))[1])
        _, pull = jax.vjp(flat, x)
        ju = np.asarray(pull(jnp.asarray(u, x.dtype))[0]).ravel()
        err = max(err, float(np.max(np.abs(sparse @ v - jv))), float(np.max(np.abs(sparse.T @ u - ju))))
        scale = max(scale, float(np.max(np.abs(jv))), float(np.max(np.abs(ju))))
    longest = max(int(np.diff(sparse.indptr).max(initial=0)), int(np.bincount(sparse.indices, minlength=n).max()))
    return SparseCheck(err, scale, f"{n_probes} random JVP/VJP probes", tol * np.sqrt(longest + 1.0))
