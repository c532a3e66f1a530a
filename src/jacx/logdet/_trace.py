"""Traces of square Jacobians (divergences): exact, colored, Hutchinson and Hutch++."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, final

import jax
import jax.numpy as jnp
import numpy as np

from .._api import (Devices, Ident, check_chunk_size, check_function, compiled, context_mesh, resolve_mesh,
                    sharded_apply)
from .._errors import JacxUsageError, NonSquareJacobianError
from ._structure import diagonal_probes
from ._util import freeze_pattern, pytree_dataclass, sparsity_or_none, square_flat_function, static_field, thaw_pattern

__all__ = ["Estimate", "JacobianOperator", "jacobian_operator", "trace", "divergence", "hutchinson", "hutchpp"]


@final
@pytree_dataclass
class Estimate:
    """A scalar with its standard error and its cost in matrix-vector products (JVPs).

    ``stderr`` is 0 for exact results.  A pytree: ``value``, ``stderr`` and ``num_matvecs`` are leaves.

    >>> import jax.numpy as jnp
    >>> e = hutchinson(jnp.eye(3), jax.random.key(0), 4)
    >>> float(e.value), float(e.stderr), int(e.num_matvecs)      # Rademacher probes are exact on diagonals
    (3.0, 0.0, 4)
    """

    value: jax.Array
    stderr: jax.Array
    num_matvecs: jax.Array
    method: str = static_field(default="")


@final
class JacobianOperator:
    """``J_f(x)`` as a linear operator (one JVP per product), linearised once.

    >>> import jax.numpy as jnp
    >>> op = jacobian_operator(lambda v: v ** 2, jnp.array([1.0, 2.0]))
    >>> op.shape, op.matvec(jnp.ones(2))
    ((2, 2), Array([2., 4.], dtype=float32))
    """

    def __init__(self, matvec: Callable[[jax.Array], jax.Array], n: int, dtype: Any, mesh: Any = None) -> None:
        self.matvec = matvec
        self.shape = (n, n)
        self.dtype = dtype
        self.mesh = mesh

    def matmat(self, v: jax.Array) -> jax.Array:
        """Apply to the columns of an ``(n, k)`` matrix (split over the operator's devices, if it has some)."""
        if self.mesh is not None:
            return sharded_apply(lambda: self.matvec, v, self.mesh, axis=1)
        return jax.vmap(self.matvec, in_axes=1, out_axes=1)(v)


def jacobian_operator(f: Callable[[Any], Any], x: Any, *, devices: Devices = None) -> JacobianOperator:
    """The square Jacobian of ``f`` at ``x`` (flattened) as a :class:`JacobianOperator` for the trace estimators.

    With ``devices`` (``"all"``, a sequence of devices or a ``jax.sharding.Mesh``) the products of ``matmat`` (the
    estimators' probes) are split across the devices.

    >>> import jax, jax.numpy as jnp
    >>> op = jacobian_operator(jnp.sin, jnp.zeros(4))           # J = I
    >>> float(hutchinson(op, jax.random.key(0), 3).value)
    4.0
    """
    check_function(f, "jacx.logdet.jacobian_operator")
    g, v = square_flat_function(f, x, "a Jacobian operator")
    _, lin = jax.linearize(g, v)
    return JacobianOperator(lin, v.shape[0], v.dtype, resolve_mesh(devices, "jacx.logdet.jacobian_operator"))


def _operator(a: Any, devices: Devices = None, where: str = "jacx.logdet") -> JacobianOperator:
    mesh = resolve_mesh(devices, where)
    if isinstance(a, JacobianOperator):
        return a if mesh is None else JacobianOperator(a.matvec, a.shape[0], a.dtype, mesh)
    arr = jnp.asarray(a)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise NonSquareJacobianError(
            f"received an operand of shape {arr.shape}; a trace needs a square (n, n) matrix or a "
            "JacobianOperator. Fix: pass jacobian_operator(f, x) for a function, or a square array."
        )
    return JacobianOperator(lambda w: arr @ w, arr.shape[0], arr.dtype, mesh)


def _probes(key: jax.Array, shape: tuple[int, ...], dtype: Any, probe: str) -> jax.Array:
    if probe == "rademacher":
        return jax.random.rademacher(key, shape, dtype=dtype)
    if probe == "gaussian":
        return jax.random.normal(key, shape, dtype=dtype)
    raise JacxUsageError(f"received probe={probe!r}; expected 'rademacher' or 'gaussian'.")


def _check_count(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise JacxUsageError(f"received {name}={value!r}; expected an integer >= {minimum}.")
    return int(value)


def _mean_and_stderr(samples: jax.Array) -> tuple[jax.Array, jax.Array]:
    k = samples.shape[0]
    stderr = jnp.std(samples, ddof=1) / jnp.sqrt(k) if k > 1 else jnp.asarray(jnp.nan, samples.dtype)
    return jnp.mean(samples), stderr


def hutchinson(a: Any, key: jax.Array, num_probes: int, *, probe: str = "rademacher",
               devices: Devices = None) -> Estimate:
    """Hutchinson's unbiased trace estimate ``mean(v^T A v)`` over random probes ``v``, with its standard error.

    Args:
        a: a square array or a :class:`JacobianOperator` (see :func:`jacobian_operator`).
        key: a JAX PRNG key.
        num_probes: number of probes (= matrix-vector products); at least 2 for a standard error.
        probe: ``"rademacher"`` (entries +-1, lowest variance for a fixed matrix) or ``"gaussian"``.
        devices: split the probes across devices (``"all"``, a sequence of devices or a ``jax.sharding.Mesh``);
            the probes and so the estimate are the same as on one device.

    >>> import jax, jax.numpy as jnp
    >>> A = jnp.array([[2.0, 1.0], [0.0, 3.0]])
    >>> e = hutchinson(A, jax.random.key(1), 1000)
    >>> abs(float(e.value) - 5.0) < 4 * float(e.stderr)
    True
    """
    op = _operator(a, devices, "jacx.logdet.hutchinson")
    k = _check_count("num_probes", num_probes, 1)
    v = _probes(key, (op.shape[0], k), op.dtype, probe)
    samples = jnp.sum(v * op.matmat(v), axis=0)
    value, stderr = _mean_and_stderr(samples)
    return Estimate(value, stderr, jnp.asarray(k), method=f"hutchinson ({probe}, {k} probes)")


def hutchpp(a: Any, key: jax.Array, num_matvecs: int, *, probe: str = "rademacher",
            devices: Devices = None) -> Estimate:
    """Hutch++: exact trace on a random low-rank sketch plus Hutchinson on the rest (Meyer et al., 2021).

    Uses ``num_matvecs // 3`` probes for each of the sketch ``A S``, the projected part ``A Q`` and the residual.
    For matrices whose spectrum decays, the sketch captures most of the trace and the residual has small
    variance, so the same accuracy needs far fewer products than :func:`hutchinson`.  ``stderr`` is the
    standard error of the residual Hutchinson part (the sketch part is exact).  ``devices`` splits each batch of
    products across devices, as for :func:`hutchinson`.

    >>> import jax, jax.numpy as jnp
    >>> A = jnp.diag(0.5 ** jnp.arange(20.0))          # fast decay: the sketch gets almost all of it
    >>> e = hutchpp(A, jax.random.key(0), 30)
    >>> abs(float(e.value) - float(jnp.trace(A))) < 1e-3, int(e.num_matvecs)
    (True, 30)
    """
    op = _operator(a, devices, "jacx.logdet.hutchpp")
    m = _check_count("num_matvecs", num_matvecs, 3)
    k = m // 3
    n = op.shape[0]
    k_sketch, k_res = jax.random.split(key)
    s = _probes(k_sketch, (n, k), op.dtype, probe)
    q, _ = jnp.linalg.qr(op.matmat(s))
    low_rank = jnp.trace(q.T @ op.matmat(q))
    g = _probes(k_res, (n, k), op.dtype, probe)
    g = g - q @ (q.T @ g)
    r = op.matmat(g)
    r = r - q @ (q.T @ r)
    samples = jnp.sum(g * r, axis=0)
    mean, stderr = _mean_and_stderr(samples)
    return Estimate(low_rank + mean, stderr, jnp.asarray(3 * k), method=f"hutch++ ({3 * k} matvecs)")


def trace(
    f: Callable[[Any], Any], *, structure: Any = "auto", chunk_size: int | None = None, devices: Devices = None
) -> Callable[[Any], Estimate]:
    """The exact trace of the square Jacobian of ``f`` (its divergence), as an :class:`Estimate` with ``stderr = 0``.

    With a sparsity pattern (declared by ``f.jacobian_pattern``, given as ``structure``, or from
    :func:`jacx.sparse.sparsity`) the diagonal is measured with one JVP per probe color; otherwise with ``n``
    JVPs, ``chunk_size`` at a time.  ``devices`` (``"all"``, a sequence of devices or a ``jax.sharding.Mesh``)
    splits those JVPs across devices.

    >>> import jax.numpy as jnp
    >>> F = lambda v: jnp.array([v[0] * v[1], v[1] ** 2, jnp.sin(v[2])])
    >>> e = trace(F)(jnp.array([1.0, 2.0, 0.0]))               # x1 + 2 x1 + cos(x2) = 2 + 4 + 1
    >>> float(e.value), int(e.num_matvecs)                    # columns 0 and 2 share a probe
    (7.0, 2)
    >>> int(trace(F, structure="dense")(jnp.array([1.0, 2.0, 0.0])).num_matvecs)
    3
    """
    check_function(f, "jacx.logdet.trace")
    check_chunk_size(chunk_size)
    fixed = None if devices is None else resolve_mesh(devices, "jacx.logdet.trace")
    frozen = freeze_pattern(structure)  # a given pattern as it is now (a copy jacx's cache can trust)

    def compute(x: Any) -> Estimate:
        mesh = fixed if fixed is not None else context_mesh("jacx.logdet.trace")  # jax.set_mesh, when tracing
        g, v = square_flat_function(f, x, "trace")
        n = v.shape[0]
        plan = _diagonal_plan(f, x, thaw_pattern(frozen))  # from f as it is now (detection is cached while f is unchanged)
        linear = lambda: jax.linearize(g, v)[1]  # noqa: E731 - on each device, when spread over several
        if plan is None:
            def diagonal_entry() -> Callable:  # J[i, i] by one JVP, after one linearization (per device)
                lin = linear()
                return lambda i: lin(jax.nn.one_hot(i, n, dtype=v.dtype))[i]

            if mesh is None:
                diag = jax.lax.map(diagonal_entry(), jnp.arange(n), batch_size=chunk_size or n)
            else:
                diag = sharded_apply(diagonal_entry, jnp.arange(n), mesh, chunk=chunk_size)
            return Estimate(jnp.sum(diag), jnp.zeros((), v.dtype), jnp.asarray(n), method=f"exact ({n} JVPs)")
        seeds, colors = plan
        seeds = jnp.asarray(seeds, dtype=v.dtype)
        if mesh is None:
            compressed = jax.vmap(linear(), in_axes=1, out_axes=1)(seeds)
        else:
            compressed = sharded_apply(linear, seeds, mesh, axis=1)
        value = jnp.sum(compressed[jnp.arange(n), jnp.asarray(colors)])
        c = seeds.shape[1]
        return Estimate(value, jnp.zeros((), v.dtype), jnp.asarray(c), method=f"exact, colored ({c} JVPs)")

    declared = frozen if isinstance(frozen, (str, tuple)) else Ident(frozen)
    return compiled(compute, ("trace", f, declared, chunk_size, fixed), "jacx.logdet.trace")


def _diagonal_plan(f: Any, x: Any, structure: Any) -> tuple[np.ndarray, np.ndarray] | None:
    if isinstance(structure, str):
        if structure == "dense":
            return None
        if structure != "auto":
            raise JacxUsageError(f"received structure={structure!r}; expected 'auto', 'dense' or a boolean pattern.")
        declared = getattr(f, "jacobian_pattern", None)
        pattern = declared(x) if callable(declared) else None
        if isinstance(pattern, str) and pattern == "dense":
            return None
        if pattern is None:
            pattern, _ = sparsity_or_none(f, x)
        if pattern is None:
            return None
        return diagonal_probes(pattern)
    return diagonal_probes(structure)


def divergence(
    f: Callable[[Any], Any], *, structure: Any = "auto", chunk_size: int | None = None
) -> Callable[[Any], jax.Array]:
    """The divergence ``sum_i dF_i/dx_i`` of a vector field ``F: R^n -> R^n``, exactly (see :func:`trace`).

    >>> import jax.numpy as jnp
    >>> float(divergence(lambda v: jnp.array([-v[1], v[0]]))(jnp.ones(2)))   # a rotation field is divergence-free
    0.0
    """
    tr = trace(f, structure=structure, chunk_size=chunk_size)
    return lambda x: tr(x).value
