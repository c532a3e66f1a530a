"""A constrained problem's sparse derivatives, prepared once: the constraint Jacobian and the Lagrangian Hessian.

For ``min f(x)`` subject to ``cl <= c(x) <= cu`` (and bounds on ``x``) second-order solvers want, at each iterate,
the gradient of ``f``, the Jacobian of ``c`` and the Hessian of the Lagrangian

    L(x, y, sigma) = sigma f(x) + sum_i y_i c_i(x)

for the current multipliers ``y`` and objective factor ``sigma``. :class:`ConstrainedProblem` prepares the sparse
Jacobian of ``c`` (:func:`jacx.sparse.jacobian`) and the sparse Hessian of ``L`` with ``y`` and ``sigma`` as
non-differentiated arguments (:func:`jacx.sparse.hessian`), once: the patterns hold for every ``y`` and
``sigma``, so each new ``(x, y, sigma)`` costs one compiled batch of Hessian-vector products. The pattern of the
Lagrangian's Hessian is the union of those of ``f`` and every ``c_i``.

Solvers work in float64, so everything here computes in float64 (JAX's 64-bit mode switched on while jacx runs,
the caller's setting left as it is).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp

from jacx._api import AutoJit, Guard, analyze
from jacx._errors import JacxUsageError

__all__ = ["ConstrainedProblem"]


@contextlib.contextmanager
def float64() -> Iterator[None]:
    """JAX's 64-bit mode on while the block runs, the previous setting restored after it."""
    with jax.enable_x64(True):
        yield


def _vector(x: Any, n: int, what: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.shape != (n,):
        raise JacxUsageError(f"{what}: received shape {arr.shape}; expected ({n},). Fix: pass a vector of length {n}.")
    return arr


def _mutable_key(args: tuple) -> tuple:
    """What can change behind the same objects in ``args``: a digest of each NumPy array's bytes (JAX arrays and
    Python numbers are immutable)."""
    return tuple(hashlib.blake2b(np.ascontiguousarray(a).tobytes(), digest_size=16).digest()
                 for a in jax.tree_util.tree_leaves(args) if isinstance(a, np.ndarray))


class ConstrainedProblem:
    """``min f(x, *args)`` subject to ``c(x, *args)`` (a vector of ``m`` constraints), with sparse derivatives.

    Preparation (once, at ``x0``): the sparsity of ``c``'s Jacobian and of the Lagrangian's Hessian, and their
    colorings. Then, at any ``x`` (float64 NumPy arrays in and out, as SciPy and Ipopt pass them):

    * ``objective(x)``, ``gradient(x)``, ``constraints(x)``;
    * ``jacobian(x)``: ``c``'s Jacobian as a ``scipy.sparse.csr_array`` ``(m, n)``; ``jacobian_values(x)`` its
      nonzeros in the order of ``jacobian_structure()`` (row and column indices);
    * ``hessian(x, y, sigma)``: the Lagrangian's Hessian ``sigma * H_f + sum_i y_i H_{c_i}`` as a symmetric
      ``csr_array`` ``(n, n)``; ``hessian_lower_values(x, y, sigma)`` the nonzeros of its lower triangle in the
      order of ``hessian_lower_structure()`` (what Ipopt takes);
    * ``sparse_hessian`` and ``sparse_jacobian``: the prepared jacx objects (``n_colors``, ``method``,
      ``sparsity``), to call under ``jax.jit`` as well.

    ``constraints=None`` gives an unconstrained problem (``m = 0``).

    >>> import jax.numpy as jnp
    >>> from jacx.optimize import ConstrainedProblem
    >>> f = lambda x: jnp.sum(x ** 2)
    >>> c = lambda x: jnp.array([x[0] * x[1] - 1.0, jnp.sum(x) ** 2])
    >>> prob = ConstrainedProblem(f, c, jnp.ones(3))
    >>> prob.n, prob.m, prob.sparse_hessian.n_colors
    (3, 2, 3)
    >>> prob.hessian([1.0, 2.0, 3.0], [1.0, 0.5], 2.0).toarray()
    array([[5., 2., 1.],
           [2., 5., 1.],
           [1., 1., 5.]])
    """

    def __init__(self, objective: Callable, constraints: Callable | None, x0: Any, *, args: tuple = (),
                 hessian_method: str = "auto") -> None:
        import jacx.sparse

        if not callable(objective):
            raise JacxUsageError(f"ConstrainedProblem: received {type(objective).__name__} as the objective; expected "
                                 "a function f(x, *args) returning a scalar. Fix: pass the function itself.")
        if constraints is not None and not callable(constraints):
            raise JacxUsageError(f"ConstrainedProblem: received {type(constraints).__name__} as the constraints; "
                                 "expected a function c(x, *args) returning a vector, or None.")
        self.args = tuple(args)
        with float64():
            x0 = jnp.asarray(x0, dtype=jnp.float64)
            if x0.ndim != 1:
                raise JacxUsageError(f"ConstrainedProblem: x0 has shape {x0.shape}; expected a 1-D vector. Fix: "
                                     "flatten the variables (jax.flatten_util.ravel_pytree) and unflatten inside f.")
            self.n = int(x0.size)
            f, args = objective, self.args
            if constraints is None:
                c = lambda x, *a: jnp.zeros(0, x.dtype)  # noqa: E731
            else:
                c = lambda x, *a: jnp.ravel(constraints(x, *a))  # noqa: E731
            out = jax.eval_shape(f, x0, *args)
            if getattr(out, "shape", None) != () or not jnp.issubdtype(out.dtype, jnp.floating):
                got = f"shape {out.shape} and dtype {out.dtype}" if hasattr(out, "dtype") else type(out).__name__
                raise JacxUsageError(f"ConstrainedProblem: the objective returned {got}; expected a scalar "
                                     "of real floating point. Fix: return a scalar (e.g. jnp.sum(...)) of floats.")
            self.m = int(jax.eval_shape(c, x0, *args).shape[0])
            m = self.m

            def lagrangian(x: jax.Array, y: jax.Array, sigma: jax.Array, *a: Any) -> jax.Array:
                return sigma * f(x, *a) + (jnp.dot(y, c(x, *a)) if m else 0.0)

            self._f, self._c, self._lagrangian = f, c, lagrangian
            # jacx's compile cache, not jax.jit: a plain jit keeps the arrays f and c read (globals, dicts,
            # attributes) as they were at the first call, so a rebound global would give stale values
            self._value_and_grad = AutoJit(f, ("ConstrainedProblem value_and_grad",), jax.value_and_grad, True,
                                           "ConstrainedProblem")
            self._cons = AutoJit(c, ("ConstrainedProblem constraints",), lambda fun: fun, True, "ConstrainedProblem")
            y0 = jnp.ones(m, jnp.float64)
            self.sparse_hessian = jacx.sparse.hessian(lagrangian, x0, y0, jnp.float64(1.0), *args,
                                                      method=hessian_method)
            self.sparse_jacobian = jacx.sparse.jacobian(c, x0, args=args) if m else None
        hp = self.sparse_hessian.sparsity.tocsr()
        rows = np.repeat(np.arange(self.n), np.diff(hp.indptr))
        self._lower = rows >= hp.indices
        self._hess_lower = (rows[self._lower].astype(np.int64), hp.indices[self._lower].astype(np.int64))
        if m:
            jp = self.sparse_jacobian.sparsity.tocsr()
            self._jac_structure = (np.repeat(np.arange(m), np.diff(jp.indptr)).astype(np.int64),
                                   jp.indices.astype(np.int64))
        else:
            self._jac_structure = (np.zeros(0, np.int64), np.zeros(0, np.int64))
        self.evaluations = {"objective": 0, "gradient": 0, "constraints": 0, "jacobian": 0, "hessian": 0}
        self._last_fg: tuple[bytes, float, np.ndarray] | None = None
        self._fg_guard: Guard | None = None  # vouches that what f reads is unchanged since _last_fg was made

    # -------------------------------------------------------------------------------------------- values
    def _fg(self, x: Any) -> tuple[float, np.ndarray]:
        x = _vector(x, self.n, "objective")
        key = (x.tobytes(), _mutable_key(self.args))  # NumPy arrays in args can be changed in place
        guard = self._fg_guard
        if self._last_fg is None or self._last_fg[0] != key or guard is None or not guard.holds():
            if guard is None or not guard.holds():  # f's state changed (or unprovable): a guard for the new one
                found = (guard.refreshed() if guard is not None else None) or analyze(self._f)
                self._fg_guard = found if isinstance(found, Guard) else None
            with float64():
                v, g = self._value_and_grad(jnp.asarray(x), *self.args)
            self._last_fg = (key, float(v), np.asarray(g, dtype=np.float64))
        return self._last_fg[1], self._last_fg[2]

    def objective(self, x: Any) -> float:
        """``f(x)``."""
        self.evaluations["objective"] += 1
        return self._fg(x)[0]

    def gradient(self, x: Any) -> np.ndarray:
        """The gradient of ``f`` at ``x``."""
        self.evaluations["gradient"] += 1
        return self._fg(x)[1].copy()

    def value_and_gradient(self, x: Any) -> tuple[float, np.ndarray]:
        """``(f(x), grad f(x))`` from one reverse pass (SciPy's ``jac=True``)."""
        self.evaluations["objective"] += 1
        self.evaluations["gradient"] += 1
        v, g = self._fg(x)
        return v, g.copy()

    def constraints(self, x: Any) -> np.ndarray:
        """``c(x)``, shape ``(m,)``."""
        self.evaluations["constraints"] += 1
        x = _vector(x, self.n, "constraints")
        with float64():
            return np.asarray(self._cons(jnp.asarray(x), *self.args), dtype=np.float64)

    # ------------------------------------------------------------------------------------------ Jacobian
    def jacobian_structure(self) -> tuple[np.ndarray, np.ndarray]:
        """Row and column indices of the constraint Jacobian's nonzeros (CSR order)."""
        return self._jac_structure

    def jacobian_values(self, x: Any) -> np.ndarray:
        """The constraint Jacobian's nonzeros at ``x``, in the order of :meth:`jacobian_structure`."""
        self.evaluations["jacobian"] += 1
        x = _vector(x, self.n, "jacobian")
        if not self.m:
            return np.zeros(0)
        with float64():
            return np.asarray(self.sparse_jacobian.values(jnp.asarray(x), *self.args), dtype=np.float64)

    def jacobian(self, x: Any) -> sp.csr_array:
        """The constraint Jacobian at ``x`` as a ``scipy.sparse.csr_array`` of shape ``(m, n)``."""
        vals = self.jacobian_values(x)
        if not self.m:
            return sp.csr_array((0, self.n))
        p = self.sparse_jacobian.sparsity
        return sp.csr_array((vals, p.indices.copy(), p.indptr.copy()), shape=(self.m, self.n))

    # ------------------------------------------------------------------------------------------- Hessian
    def _hessian_values(self, x: Any, y: Any, sigma: float) -> np.ndarray:
        self.evaluations["hessian"] += 1
        x = _vector(x, self.n, "hessian")
        y = _vector(np.zeros(0) if y is None else y, self.m, "hessian (multipliers y)")
        if np.ndim(sigma) != 0:
            raise JacxUsageError(f"hessian: received sigma of shape {np.shape(sigma)}; expected a scalar (the "
                                 "objective's factor). Fix: pass one number.")
        with float64():
            vals = self.sparse_hessian.values(jnp.asarray(x), jnp.asarray(y), jnp.float64(sigma), *self.args)
        return np.asarray(vals, dtype=np.float64)

    def hessian(self, x: Any, y: Any = None, sigma: float = 1.0) -> sp.csr_array:
        """The Lagrangian's Hessian ``sigma * H_f(x) + sum_i y_i H_{c_i}(x)``, symmetric ``csr_array`` ``(n, n)``.

        ``y=None`` means no constraint term (``y = 0``).
        """
        vals = self._hessian_values(x, np.zeros(self.m) if y is None else y, sigma)
        p = self.sparse_hessian.sparsity
        return sp.csr_array((vals, p.indices.copy(), p.indptr.copy()), shape=(self.n, self.n))

    def hessian_lower_structure(self) -> tuple[np.ndarray, np.ndarray]:
        """Row and column indices (row >= column) of the lower triangle of the Lagrangian's Hessian."""
        return self._hess_lower

    def hessian_lower_values(self, x: Any, y: Any, sigma: float) -> np.ndarray:
        """The lower triangle's nonzeros at ``(x, y, sigma)``, in the order of :meth:`hessian_lower_structure`."""
        return self._hessian_values(x, y, sigma)[self._lower]

    def kkt_residual(self, x: Any, y: Any, z: Any = None) -> float:
        """``max |grad f(x) + J(x)^T y + z|``: stationarity of the Lagrangian with multipliers ``y`` (and bound
        multipliers ``z``), in the sign convention ``L = f + y^T c`` (SciPy's ``v`` and Ipopt's ``mult_g``)."""
        g = self._fg(x)[1]
        r = g + (self.jacobian(x).T @ np.asarray(y, dtype=np.float64) if self.m else 0.0)
        if z is not None:
            r = r + np.asarray(z, dtype=np.float64)
        return float(np.max(np.abs(r))) if r.size else 0.0

    def __repr__(self) -> str:
        h = self.sparse_hessian
        j = "" if self.sparse_jacobian is None else f", jacobian nnz={self.sparse_jacobian.sparsity.nnz} " \
            f"({self.sparse_jacobian.n_colors} colors)"
        return (f"ConstrainedProblem(n={self.n}, m={self.m}, hessian nnz={h.sparsity.nnz} ({h.n_colors} colors, "
                f"{h.method}){j})")
