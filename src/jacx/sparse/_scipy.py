"""Hand jacx sparse Jacobians to SciPy: ``optimize.root`` / ``least_squares`` and ``integrate.solve_ivp``.

SciPy works in float64 and its finite-difference steps (about 1e-8 relative) are below float32's resolution, so
``fun`` and ``jac`` compute in float64 by default, with JAX's 64-bit mode switched on only while they run (the
global setting is left as it is).  ``float64=False`` computes in ``x0``'s own dtype instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp
from jax.experimental import sparse as jsparse

from jacx._errors import JacxUsageError
from jacx.sparse._detect import sparsity
from jacx.sparse._prepared import Mode, jacobian

__all__ = ["for_scipy", "scipy_jac", "scipy_jac_sparsity", "to_scipy"]


def to_scipy(jac: jsparse.BCOO) -> sp.csr_array:
    """Convert a 2-D ``BCOO`` (as returned by a prepared sparse Jacobian) to a ``scipy.sparse.csr_array``.

    Padding entries (out-of-bounds indices) are dropped and duplicates summed, so the result of a prepared
    Jacobian has exactly the pattern ``jac.sparsity`` (stored zeros included), in canonical CSR form.

    >>> import jax.numpy as jnp
    >>> from jax.experimental import sparse
    >>> from jacx.sparse import to_scipy
    >>> to_scipy(sparse.BCOO.fromdense(jnp.eye(2))).toarray()
    array([[1., 0.],
           [0., 1.]])
    """
    if not isinstance(jac, jsparse.BCOO) or jac.ndim != 2 or jac.n_batch or jac.n_dense:
        raise JacxUsageError(
            f"to_scipy: received {type(jac).__name__}; expected a 2-D BCOO without batch or dense dimensions. "
            "Fix: pass the result of calling a jacx.sparse.jacobian(...) object."
        )
    idx = np.asarray(jac.indices)
    vals = np.asarray(jac.data, dtype=np.float64)
    keep = (idx[:, 0] < jac.shape[0]) & (idx[:, 1] < jac.shape[1])  # out-of-bounds indices are padding
    if not keep.all():
        idx, vals = idx[keep], vals[keep]
    out = sp.csr_array(sp.coo_array((vals, (idx[:, 0], idx[:, 1])), shape=jac.shape).tocsr())
    out.sum_duplicates()  # canonical: sorted indices, no duplicates
    return out


def _time_wrapped(f: Callable) -> Callable:
    return lambda y, t, *rest: f(t, y, *rest)


@contextlib.contextmanager
def _precision(float64: bool) -> Iterator[None]:
    """JAX's 64-bit mode inside the block when ``float64`` (restored afterwards), else nothing changes."""
    if not float64:
        yield
        return
    with jax.enable_x64(True):
        yield


def _start(x0: Any, float64: bool) -> tuple[tuple[int, ...], Any, jax.Array]:
    """``x0``'s shape, the dtype to compute in, and ``x0`` in it (call inside :func:`_precision`)."""
    x0 = jnp.asarray(x0)
    dtype = jnp.float64 if float64 else x0.dtype
    return x0.shape, dtype, x0.astype(dtype)


def scipy_jac(
    f: Callable, x0: Any, *, time: bool = False, mode: Mode = "auto", dense: bool = False, float64: bool = True
) -> Callable[..., Any]:
    """A ``jac=`` callable for SciPy: flat float64 ``x`` in, ``csr_array`` (or dense with ``dense=True``) out.

    ``time=False``: ``f(x)`` as for ``scipy.optimize.root`` / ``least_squares``, called as ``jac(x, *args)``.
    ``time=True``: ``f(t, y)`` as for ``scipy.integrate.solve_ivp``, called as ``jac(t, y)``; the pattern holds
    for every ``t``.  Only ``x0``'s shape (and, with ``float64=False``, its dtype) is used.  The Jacobian is
    computed in float64 unless ``float64=False`` (see the module's note).

    >>> import jax.numpy as jnp, numpy as np
    >>> from jacx.sparse import scipy_jac
    >>> jac = scipy_jac(lambda x: x ** 2, jnp.ones(3))
    >>> jac(np.array([1.0, 2.0, 3.0])).toarray()
    array([[2., 0., 0.],
           [0., 4., 0.],
           [0., 0., 6.]])
    """
    with _precision(float64):
        shape, dtype, x0 = _start(x0, float64)
        if time:
            prepared = jacobian(_time_wrapped(f), x0, mode=mode, args=(jnp.zeros((), dtype),))
        else:
            prepared = jacobian(f, x0, mode=mode)

    def jac_t(t: float, y: np.ndarray, *args: Any) -> Any:
        with _precision(float64):
            out = prepared.to_scipy(jnp.asarray(y, dtype).reshape(shape), jnp.asarray(t, dtype))
        return out.toarray() if dense else out

    def jac(x: np.ndarray, *args: Any) -> Any:
        with _precision(float64):
            out = prepared.to_scipy(jnp.asarray(x, dtype).reshape(shape))
        return out.toarray() if dense else out

    return jac_t if time else jac


def scipy_jac_sparsity(f: Callable, x0: Any, *, time: bool = False) -> sp.csr_array:
    """The pattern as a ``csr_array`` for SciPy's ``jac_sparsity=`` (``solve_ivp`` / ``least_squares``).

    >>> import jax.numpy as jnp
    >>> from jacx.sparse import scipy_jac_sparsity
    >>> scipy_jac_sparsity(lambda t, y: t * y[::-1], jnp.ones(2), time=True).toarray()
    array([[False,  True],
           [ True, False]])
    """
    x0 = jnp.asarray(x0)
    if time:
        return sparsity(_time_wrapped(f), x0, args=(jnp.zeros((), x0.dtype),))
    return sparsity(f, x0)


def for_scipy(
    f: Callable, x0: Any, *, time: bool = False, mode: Mode = "auto", dense: bool = False, float64: bool = True
) -> tuple[Callable[..., np.ndarray], Callable[..., Any]]:
    """``(fun, jac)`` for SciPy in one line: ``fun`` maps flat float64 arrays to flat float64 arrays.

    Both compute in float64 (JAX's 64-bit mode is on only while they run; the global setting is not changed), so
    a solver can reach float64 accuracy and SciPy's finite differences see real changes; ``float64=False``
    computes in ``x0``'s dtype, e.g. float32 when 64-bit mode is off, which stalls a solver near 1e-7.

    >>> import jax.numpy as jnp, numpy as np, scipy.optimize
    >>> from jacx.sparse import for_scipy
    >>> fun, jac = for_scipy(lambda x: x ** 3 - 8.0, jnp.ones(3), dense=True)
    >>> sol = scipy.optimize.root(fun, np.ones(3), jac=jac, tol=1e-14)
    >>> float(np.abs(sol.x - 2.0).max()) < 1e-14
    True
    """
    with _precision(float64):
        shape, dtype, x0 = _start(x0, float64)
        if time:
            fj = jax.jit(lambda t, y: jnp.ravel(f(t, y)))
        else:
            fx = jax.jit(lambda x: jnp.ravel(f(x)))

    def fun_t(t: float, y: np.ndarray, *args: Any) -> np.ndarray:
        with _precision(float64):
            return np.asarray(fj(jnp.asarray(t, dtype), jnp.asarray(y, dtype).reshape(shape)), dtype=np.float64)

    def fun(x: np.ndarray, *args: Any) -> np.ndarray:
        with _precision(float64):
            return np.asarray(fx(jnp.asarray(x, dtype).reshape(shape)), dtype=np.float64)

    jac = scipy_jac(f, x0, time=time, mode=mode, dense=dense, float64=float64)
    return (fun_t if time else fun), jac
