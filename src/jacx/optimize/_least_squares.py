"""Nonlinear least squares in JAX with a sparse Jacobian: Levenberg-Marquardt and Gauss-Newton.

Minimise ``1/2 ||F(x)||^2`` for ``F: R^n -> R^m``. Each iteration evaluates the sparse Jacobian ``J`` (a BCOO from
a prepared :func:`jacx.sparse.jacobian`) and solves the damped normal equations

    (J^T J + lambda D) dx = -J^T F

matrix-free by preconditioned conjugate gradients (``jax.scipy.sparse.linalg.cg``), where each product with
``J^T J`` is two sparse matrix-vector products and ``D`` is the diagonal of ``J^T J`` (Marquardt's scaling, also
the Jacobi preconditioner). Nothing of size ``m x n`` or ``n x n`` is ever formed, so memory is ``O(nnz(J))``:
``n = 10^5`` with a few nonzeros per row takes a few megabytes where the dense Jacobian would take 80 GB.

The damping follows Nielsen's rule: on a step whose actual reduction is ``rho`` times the predicted one,
``lambda *= max(1/3, 1 - (2 rho - 1)^3)``; a rejected step multiplies ``lambda`` by 2, 4, 8, ...
``method="gauss-newton"`` solves with ``lambda = 0`` (a tiny relative shift keeps CG defined) and halves the step
until the cost decreases.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import sparse as jsparse

from jacx._api import Guard, analyze
from jacx._errors import JacxUsageError

__all__ = ["LeastSquaresResult", "least_squares"]

Method = Literal["lm", "gauss-newton"]


@dataclass
class LeastSquaresResult:
    """What :func:`least_squares` found.

    Attributes:
        x: the solution (shaped like ``x0``).
        cost: ``1/2 ||F(x)||^2``.
        grad_norm: the largest entry of ``|J^T F|`` at ``x``.
        iterations: Jacobian evaluations (outer iterations).
        success: a stopping test was met (``message`` says which).
        message: why it stopped.
        history: the cost after each iteration (index 0: at ``x0``).
        seconds: wall time of the solve (preparing the sparse Jacobian excluded).
        n_colors: the number of JVPs/VJPs per Jacobian.
    """

    x: jax.Array
    cost: float
    grad_norm: float
    iterations: int
    success: bool
    message: str
    history: list[float] = field(default_factory=list)
    seconds: float = 0.0
    n_colors: int = 0


def _column_sq_norms(J: jsparse.BCOO, n: int) -> jax.Array:
    """The diagonal of J^T J: the squared norm of each column (padding entries, out of bounds, are dropped)."""
    return jnp.zeros(n, J.dtype).at[J.indices[:, 1]].add(J.data ** 2, mode="drop")


def _solve(J: jsparse.BCOO, g: jax.Array, lam: jax.Array, diag: jax.Array, tol: float, maxiter: int) -> jax.Array:
    """dx with (J^T J + lam diag(D)) dx = -g, by Jacobi-preconditioned CG."""
    JT = J.T
    shift = lam * diag

    def normal(v: jax.Array) -> jax.Array:
        return JT @ (J @ v) + shift * v

    inv = 1.0 / (diag + shift)
    dx, _ = jax.scipy.sparse.linalg.cg(normal, -g, M=lambda v: inv * v, tol=tol, maxiter=maxiter)
    return dx


_STEPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # prepared Jacobian -> compiled steps


def _steps(fun: Callable, jac: Any, n: int, eps: float, cg_tol: float, maxiter: int) -> tuple[Callable, Callable]:
    """The two compiled pieces of an iteration, made once per prepared Jacobian and options (a solve with the
    same ``jac`` again, e.g. from another starting point, compiles nothing)."""
    key = (fun, n, eps, cg_tol, maxiter)
    try:
        made = _STEPS.setdefault(jac, {})
    except TypeError:  # not weakly referenceable: not cached
        made = {}
    # jax.jit keeps the arrays ``fun`` reads (a global, a dict entry, an attribute) as they were when it traced:
    # reuse the steps only while a guard proves those reads unchanged, else trace again
    cached = made.get(key)
    if cached is not None and cached[0].holds():
        return cached[1:]
    guard = analyze(fun)

    def residual(x: jax.Array, args: tuple) -> jax.Array:
        return jnp.ravel(fun(x, *args))

    @jax.jit
    def linearise(x: jax.Array, args: tuple) -> tuple:
        r = residual(x, args)
        J = jac(x, *args)
        g = J.T @ r
        diag = jnp.maximum(_column_sq_norms(J, n), eps)
        return r, J, g, diag

    @jax.jit
    def trial(x: jax.Array, r: jax.Array, J: jsparse.BCOO, g: jax.Array, diag: jax.Array, lam: jax.Array,
              args: tuple) -> tuple:
        dx = _solve(J, g, lam, diag, cg_tol, maxiter)
        predicted = -(g @ dx + 0.5 * jnp.sum((J @ dx) ** 2))  # reduction of the linear model
        r_new = residual(x + dx, args)
        return dx, predicted, 0.5 * r_new @ r_new

    if isinstance(guard, Guard):  # state that cannot be proven unchanged (say, a NumPy array): never reused
        made[key] = (guard, linearise, trial)
    return linearise, trial


def least_squares(
    fun: Callable,
    x0: Any,
    *,
    args: tuple = (),
    method: Method = "lm",
    jac: Any = None,
    max_iter: int = 100,
    gtol: float = 1e-8,
    ftol: float = 1e-12,
    xtol: float = 1e-12,
    damping: float = 1e-3,
    cg_tol: float = 1e-8,
    cg_max_iter: int | None = None,
) -> LeastSquaresResult:
    """Minimise ``1/2 ||fun(x, *args)||^2`` by Levenberg-Marquardt (or Gauss-Newton) with a sparse Jacobian.

    Args:
        fun: the residual function ``F(x, *args)``, any output shape (it is flattened), written with ``jax.numpy``.
        x0: the starting point, a 1-D float array (float64 recommended for tight tolerances).
        args: extra arguments of ``fun``, not differentiated.
        method: ``"lm"`` (Levenberg-Marquardt, robust) or ``"gauss-newton"`` (undamped, with step halving).
        jac: a prepared ``jacx.sparse.jacobian(fun, x0, args=args)`` to reuse (a second solve with it compiles
            nothing); prepared here when omitted.
        max_iter: the most Jacobian evaluations.
        gtol: stop when ``max |J^T F| <= gtol``.
        ftol: stop when an accepted step lowers the cost by at most ``ftol * cost``.
        xtol: stop when an accepted step has ``||dx|| <= xtol * (xtol + ||x||)``.
        damping: the initial ``lambda`` relative to the largest diagonal entry of ``J^T J``.
        cg_tol, cg_max_iter: tolerance (relative residual) and iteration limit of each CG solve (default
            ``min(n, 1000)``).

    >>> import jax, jax.numpy as jnp
    >>> from jacx.optimize import least_squares
    >>> def F(x):                       # extended Rosenbrock: zero residual at x = 1
    ...     return jnp.concatenate([10 * (x[1::2] - x[::2] ** 2), 1 - x[::2]])
    >>> with jax.enable_x64(True):
    ...     res = least_squares(F, -jnp.ones(1000))
    ...     res.success, bool(jnp.allclose(res.x, 1.0)), res.n_colors
    (True, True, 2)
    """
    if method not in ("lm", "gauss-newton"):
        raise JacxUsageError(f"least_squares: method must be 'lm' or 'gauss-newton'; got {method!r}.")
    if not callable(fun):
        raise JacxUsageError(f"least_squares expects the residual function first, got {type(fun).__name__}. "
                             "Pass the function itself, not its value.")
    try:
        x0 = jnp.asarray(x0)
    except (TypeError, ValueError):  # a dict or other pytree: JAX's message would not say what to do
        raise JacxUsageError(f"least_squares: x0 must be a 1-D floating-point array; got a {type(x0).__name__}. "
                             "Fix: flatten it (jax.flatten_util.ravel_pytree) and unflatten inside fun.") from None
    if x0.ndim != 1 or not jnp.issubdtype(x0.dtype, jnp.floating):
        raise JacxUsageError(
            f"least_squares: x0 must be a 1-D floating-point array; got shape {x0.shape} and dtype {x0.dtype}. "
            "Fix: flatten it (jax.flatten_util.ravel_pytree) and pass floats."
        )
    args = tuple(args)
    n = x0.size
    if jac is None:
        import jacx.sparse

        jac = jacx.sparse.jacobian(lambda x, *a: jnp.ravel(fun(x, *a)), x0, args=args)
    else:
        from jacx.sparse import SparseJacobian

        if not isinstance(jac, SparseJacobian):
            raise JacxUsageError(
                f"least_squares: received jac of type {type(jac).__name__}; expected a prepared "
                "jacx.sparse.jacobian(fun, x0, args=args) or None. Fix: pass jac=jacx.sparse.jacobian(...) or omit it."
            )
        if len(jac.shape) != 2 or jac.shape[1] != n:
            raise JacxUsageError(
                f"least_squares: received a jac prepared for inputs of size {jac.shape[-1]}; x0 has {n} entries. "
                "Fix: prepare it with this x0 (jacx.sparse.jacobian(fun, x0, args=args))."
            )
    maxiter = int(cg_max_iter) if cg_max_iter is not None else min(n, 1000)
    gauss_newton = method == "gauss-newton"
    eps = float(jnp.finfo(x0.dtype).eps)

    linearise_args, trial_args = _steps(fun, jac, n, eps, float(cg_tol), maxiter)
    linearise = lambda x: linearise_args(x, args)  # noqa: E731
    trial = lambda *a: trial_args(*a, args)  # noqa: E731

    def residual(x: jax.Array) -> jax.Array:
        return jnp.ravel(fun(x, *args))

    start = time.perf_counter()
    x = x0
    r, J, g, diag = linearise(x)
    cost = 0.5 * float(r @ r)
    history = [cost]
    lam = 1e2 * eps * float(jnp.max(diag)) if gauss_newton else damping * float(jnp.max(diag))
    nu = 2.0
    message, success, iterations = "max_iter reached", False, 0
    while iterations < max_iter:
        gnorm = float(jnp.max(jnp.abs(g)))
        if gnorm <= gtol:
            message, success = f"gradient max |J^T F| = {gnorm:.2e} <= gtol", True
            break
        iterations += 1
        accepted = False
        for _ in range(40):  # rejected steps: more damping (LM) or a shorter step (Gauss-Newton)
            dx, predicted, new_cost = trial(x, r, J, g, diag, jnp.asarray(lam, x.dtype))
            if gauss_newton:
                t = 1.0
                while not new_cost < cost and t > 1e-6:
                    t *= 0.5
                    rt = residual(x + t * dx)
                    new_cost = 0.5 * rt @ rt
                dx = t * dx
                accepted = bool(new_cost < cost)
                break
            predicted, new_cost = float(predicted), float(new_cost)
            rho = (cost - new_cost) / predicted if predicted > 0 else -1.0
            if rho > 1e-4 and np.isfinite(new_cost):
                lam *= max(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3)
                nu = 2.0
                accepted = True
                break
            lam *= nu
            nu *= 2.0
        if not accepted:
            message = "no step lowers the cost (at the limit of precision)"
            success = gnorm <= max(gtol, 1e3 * eps * max(1.0, np.sqrt(2 * cost)))
            break
        new_cost = float(new_cost)
        step = float(jnp.linalg.norm(dx))
        x = x + dx
        reduction = cost - new_cost
        cost = new_cost
        history.append(cost)
        r, J, g, diag = linearise(x)
        if reduction <= ftol * max(cost, eps):
            message, success = f"cost reduction {reduction:.2e} <= ftol * cost", True
            break
        if step <= xtol * (xtol + float(jnp.linalg.norm(x))):
            message, success = f"step {step:.2e} <= xtol * (xtol + ||x||)", True
            break
    gnorm = float(jnp.max(jnp.abs(g)))
    if not success and gnorm <= gtol:
        message, success = f"gradient max |J^T F| = {gnorm:.2e} <= gtol", True
    return LeastSquaresResult(x=x, cost=cost, grad_norm=gnorm, iterations=iterations, success=success,
                              message=message, history=history, seconds=time.perf_counter() - start,
                              n_colors=int(getattr(jac, "n_colors", 0)))
