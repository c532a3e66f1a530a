"""Derivatives of solutions by the implicit function theorem: roots of F(x, theta) = 0 and fixed points x = T(x, theta).

If F(x*, theta) = 0 and A = dF/dx is invertible there, then dx*/dtheta = -A^-1 dF/dtheta.  The functions here run
a solver in the forward pass and attach that rule as a custom JVP, whose tangent map is a linear solve with A
(via :func:`jax.lax.custom_linear_solve`, so it transposes: reverse mode, ``jax.grad`` and ``jacx.jacobian`` all
work, under ``jax.jit`` too).  The solver's iterations are never differentiated.

Three ways to solve with A:

* ``"dense"``: materialise A with ``jacx.jacobian`` and factorise it (small and medium x);
* ``"matrix-free"``: GMRES driven by JVPs (and VJPs for the transpose) of F, never forming A (deep-equilibrium
  layers, large x);
* ``"sparse"``: A as a sparse matrix from ``jacx.sparse.jacobian`` (needs that function), solved by GMRES on it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Literal

import jax
import jax.numpy as jnp
from jax.scipy.sparse.linalg import gmres
from jax.typing import ArrayLike

from jacx._api import (
    AutoJit, check_function, function_key, is_tracing, memo_get, memo_put, register_cache, state_key,
)
from jacx._dense import jacobian
from jacx._errors import JacxUsageError

__all__ = ["root", "fixed_point", "newton"]

LinearSolve = Literal["dense", "matrix-free", "sparse"]


def _check_options(linear_solve: str, tol: float, max_iter: int) -> None:
    if linear_solve not in ("dense", "matrix-free", "sparse"):
        raise JacxUsageError(
            f"linear_solve must be 'dense', 'matrix-free' or 'sparse'; received {linear_solve!r}. "
            "Use 'dense' for small problems, 'matrix-free' for large ones."
        )
    if not tol > 0 or int(max_iter) < 1:
        raise JacxUsageError(f"Need tol > 0 and max_iter >= 1; received tol={tol}, max_iter={max_iter}.")


def _check_x(x0: ArrayLike) -> jax.Array:
    x0 = jnp.asarray(x0)
    if x0.ndim != 1 or not jnp.issubdtype(x0.dtype, jnp.floating):
        raise JacxUsageError(
            f"The unknown x must be a 1-D float array; received shape {x0.shape} and dtype {x0.dtype}. "
            "Flatten it (x.ravel()) and pass floats."
        )
    return x0


def newton(F: Callable, x0: ArrayLike, theta: Any, *, tol: float = 1e-6, max_iter: int = 50) -> jax.Array:
    """Newton's method for F(x, theta) = 0 with the dense Jacobian from ``jacx.jacobian`` (not differentiated).

    >>> x = newton(lambda x, a: x**2 - a, jnp.array([1.0]), 2.0)
    >>> print(round(float(x[0]), 5))
    1.41421
    """
    check_function(F, "jacx.implicit.newton")
    x0 = _check_x(x0)
    dFdx = jacobian(F, argnums=0, mode="forward")

    def body(state):
        x, k, _ = state
        step = jnp.linalg.solve(dFdx(x, theta), F(x, theta))
        return x - step, k + 1, jnp.max(jnp.abs(step))

    def cond(state):
        _, k, size = state
        return (k < max_iter) & (size > tol)

    x, _, _ = jax.lax.while_loop(cond, body, (x0, jnp.asarray(0), jnp.asarray(jnp.inf, x0.dtype)))
    return x


def _iterate(T: Callable, x0, theta, tol: float, max_iter: int) -> jax.Array:
    def body(state):
        x, k, _ = state
        x_new = T(x, theta)
        return x_new, k + 1, jnp.max(jnp.abs(x_new - x))

    def cond(state):
        _, k, size = state
        return (k < max_iter) & (size > tol)

    x, _, _ = jax.lax.while_loop(cond, body, (x0, jnp.asarray(0), jnp.asarray(jnp.inf, x0.dtype)))
    return x


def _implicit_solve(F: Callable, x, theta, rhs, linear_solve: str, tol: float):
    """Solve (dF/dx at (x, theta)) u = rhs, in a form JAX can transpose (for reverse mode)."""

    def matvec(u):
        return jax.jvp(lambda z: F(z, theta), (x,), (u,))[1]

    if linear_solve == "dense":
        A = jacobian(F, argnums=0)(x, theta)
        lu = jax.scipy.linalg.lu_factor(A)
        return jax.lax.custom_linear_solve(
            matvec,
            rhs,
            solve=lambda _, b: jax.scipy.linalg.lu_solve(lu, b),
            transpose_solve=lambda _, b: jax.scipy.linalg.lu_solve(lu, b, trans=1),
        )
    if linear_solve == "sparse":
        import jacx.sparse

        if not hasattr(jacx.sparse, "jacobian"):  # pragma: no cover - depends on the build
            raise JacxUsageError(
                "linear_solve='sparse' needs jacx.sparse.jacobian, which this installation does not provide. "
                "Use linear_solve='dense' or 'matrix-free'."
            )
        A = jacx.sparse.jacobian(F, x, args=(theta,))(x, theta)  # BCOO: pattern detected and coloured once
        return jax.lax.custom_linear_solve(
            matvec,
            rhs,
            solve=lambda _, b: gmres(lambda u: A @ u, b, tol=tol, atol=0.0)[0],
            transpose_solve=lambda _, b: gmres(lambda u: A.T @ u, b, tol=tol, atol=0.0)[0],
        )
    # matrix-free: GMRES on JVPs; the transposed system uses the VJP
    return jax.lax.custom_linear_solve(
        matvec,
        rhs,
        solve=lambda mv, b: gmres(mv, b, tol=tol, atol=0.0)[0],
        transpose_solve=lambda vmv, b: gmres(vmv, b, tol=tol, atol=0.0)[0],
    )


def _with_implicit_rule(F: Callable, forward: Callable, linear_solve: str, tol: float) -> Callable:
    @jax.custom_jvp
    def solve(x0, theta):
        return forward(jax.lax.stop_gradient(x0), theta)

    @solve.defjvp
    def solve_jvp(primals, tangents):
        x0, theta = primals
        _, dtheta = tangents
        x = solve(x0, theta)
        # F(x*(theta), theta) = 0  =>  A dx = -dF/dtheta . dtheta
        _, b = jax.jvp(lambda th: F(x, th), (theta,), (dtheta,))
        dx = _implicit_solve(F, x, theta, b, linear_solve, tol)
        return x, -dx

    return solve


def root(
    F: Callable[[jax.Array, Any], jax.Array],
    x0: ArrayLike,
    theta: Any,
    *,
    solver: Callable | None = None,
    linear_solve: LinearSolve = "dense",
    tol: float = 1e-6,
    max_iter: int = 50,
) -> jax.Array:
    """The solution x* of F(x, theta) = 0 near ``x0``, differentiable in ``theta`` by the implicit function theorem.

    ``F`` maps a 1-D array x and parameters ``theta`` (any pytree) to an array shaped like x.  ``solver(F, x0,
    theta)`` finds the root (default: :func:`newton`); it must be written in JAX if you jit through it, but it is
    never differentiated.  ``linear_solve`` picks how the derivative's linear system is solved (see module notes).
    Values F closes over that are being traced (under ``jax.vmap``, ``jax.grad``) are hoisted into the parameters
    and differentiated too; passing them in ``theta`` instead lets a module-level F be compiled once and reused.

    >>> import jax
    >>> sqrt = lambda a: root(lambda x, a: x**2 - a, jnp.array([1.0]), a)[0]
    >>> print(round(float(jax.grad(sqrt)(4.0)), 4))  # d sqrt(a)/da = 1 / (2 sqrt(a))
    0.25
    """
    return _solve("root", F, x0, theta, solver, linear_solve, tol, max_iter)


def fixed_point(
    T: Callable[[jax.Array, Any], jax.Array],
    x0: ArrayLike,
    theta: Any,
    *,
    linear_solve: LinearSolve = "dense",
    tol: float = 1e-6,
    max_iter: int = 500,
) -> jax.Array:
    """The fixed point x* = T(x*, theta) reached by iterating T from ``x0``, differentiable in ``theta``.

    The derivative uses F(x, theta) = x - T(x, theta), so dx*/dtheta = (I - dT/dx)^-1 dT/dtheta; it exists when
    the iteration converges (T contracting near x*).  This is the layer of a deep-equilibrium model.  Traced
    values that T closes over are differentiated too (see :func:`root`); a module-level T taking everything in
    ``theta`` is compiled once and reused.

    >>> import jax
    >>> # x = 0.5 x + theta has x* = 2 theta, so dx*/dtheta = 2
    >>> f = lambda th: fixed_point(lambda x, t: 0.5 * x + t, jnp.zeros(1), th)[0]
    >>> print(round(float(jax.grad(f)(1.0)), 4))
    2.0
    """
    return _solve("fixed_point", T, x0, theta, None, linear_solve, tol, max_iter)


def _solve(
    kind: str, fn: Callable, x0: ArrayLike, theta: Any, solver: Callable | None, linear_solve: str, tol: float,
    max_iter: int,
) -> jax.Array:
    """Check the arguments of :func:`root` / :func:`fixed_point`, then run the cached, compiled solver."""
    check_function(fn, f"jacx.implicit.{kind}")
    _check_options(linear_solve, tol, max_iter)
    x0 = _check_x(x0)
    fn, theta = _hoist_closure(fn, x0, theta)
    tol, max_iter = float(tol), int(max_iter)
    # a custom solver is not traced with fn, so what it reads is part of the key (a fresh key when unprovable)
    solver_state = state_key(solver) if solver is not None else None
    if is_tracing(jax.tree_util.tree_leaves((x0, theta))):
        # under the user's grad/jit: one solver per (fn, what fn reads); jit's own trace cache is valid while that
        # state is unchanged
        return _cached(kind, fn, solver, linear_solve, tol, max_iter, (state_key(fn), solver_state))(x0, theta)
    key = ("implicit", kind, function_key(fn), function_key(solver), linear_solve, tol, max_iter, solver_state)
    compiled = memo_get(key)
    if compiled is None:
        # fn is traced at every call unless its state is provably unchanged, and solved by a program shared by
        # every fn of the same structure (see jacx._autojit)
        compiled = memo_put(key, AutoJit(
            fn, key[:2] + key[4:], lambda fun: _build(kind, fun, solver, linear_solve, tol, max_iter),
            True, f"jacx.implicit.{kind}"))
    return compiled(x0, theta)


def _hoist_closure(fn: Callable, x0: jax.Array, theta: Any) -> tuple[Callable, Any]:
    """Make traced values that ``fn`` closes over (a vmapped input, a value being differentiated) explicit
    parameters, so they are differentiated like ``theta`` and never baked into the compiled solver."""
    closed = jax.make_jaxpr(lambda x, th: fn(x, th))(x0, theta)  # fresh: JAX caches traces per function
    outs = closed.out_avals
    if len(outs) != 1 or outs[0].shape != x0.shape:
        got = ", ".join(str(tuple(a.shape)) for a in outs) or "nothing"
        raise JacxUsageError(
            f"The function must return one array shaped like x, {tuple(x0.shape)}; it returns shape(s) {got}. "
            "Return one residual per unknown (concatenate them into one vector)."
        )
    consts = list(closed.consts)
    traced = [i for i, c in enumerate(consts) if isinstance(c, jax.core.Tracer)]
    if not traced:
        return fn, theta

    def with_consts(x, packed):
        th, hoisted = packed
        values = list(consts)
        for i, c in zip(traced, hoisted, strict=True):
            values[i] = c
        flat = jax.tree_util.tree_leaves((x, th))
        return jax.core.eval_jaxpr(closed.jaxpr, values, *flat)[0]

    return with_consts, (theta, tuple(consts[i] for i in traced))


def _build(
    kind: str, fn: Callable, solver: Callable | None, linear_solve: str, tol: float, max_iter: int, state: Any = None
):
    if kind == "fixed_point":

        def F(x, theta):
            return x - fn(x, theta)

        return jax.jit(_with_implicit_rule(F, lambda x, th: _iterate(fn, x, th, tol, max_iter), linear_solve, tol))
    if solver is None:

        def forward(x, th):
            return newton(fn, x, th, tol=tol, max_iter=max_iter)

    else:

        def forward(x, th):
            return solver(fn, x, th)

    return jax.jit(_with_implicit_rule(fn, forward, linear_solve, tol))


_cached_build = register_cache("implicit solvers", functools.lru_cache(maxsize=128)(_build))


def _cached(*key: Any) -> Callable:
    """One compiled solver per (function, options): repeated calls with the same F skip retracing."""
    try:
        return _cached_build(*key)
    except TypeError:  # an unhashable function or solver: build afresh
        return _build(*key)
