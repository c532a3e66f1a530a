"""Hand a :class:`~jacx.optimize.ConstrainedProblem` to ``scipy.optimize.minimize(method="trust-constr")``.

SciPy wants the objective's Hessian and the constraints' weighted Hessian separately (``hess(x)`` and
``NonlinearConstraint(..., hess=lambda x, v: ...)``); both come from the one prepared Lagrangian Hessian, at
``(y, sigma) = (0, 1)`` and ``(v, 0)``. The constraint Jacobian goes in as a sparse matrix, so SciPy's
``trust-constr`` uses its sparse factorizations.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.optimize as so

from jacx._errors import JacxUsageError
from jacx.optimize._lagrangian import ConstrainedProblem, _vector

__all__ = ["minimize_trust_constr", "trust_constr_arguments"]


def _limits(values: Any, size: int, fill: float, what: str) -> np.ndarray:
    """``values`` (None: ``fill``) broadcast to a float64 vector of ``size`` (shared with the Ipopt adapter)."""
    if values is None:
        return np.full(size, fill)
    arr = np.asarray(values, dtype=np.float64)
    try:
        return np.array(np.broadcast_to(arr, (size,)))
    except ValueError:
        raise JacxUsageError(f"{what}: received shape {arr.shape}; expected ({size},) or a scalar.") from None


def _check_problem(problem: Any, where: str) -> None:
    if not isinstance(problem, ConstrainedProblem):
        raise JacxUsageError(f"{where}: received a {type(problem).__name__}; expected a "
                             "jacx.optimize.ConstrainedProblem. Fix: pass ConstrainedProblem(f, c, x0).")


def trust_constr_arguments(problem: ConstrainedProblem, cl: Any = None, cu: Any = None, lb: Any = None,
                           ub: Any = None) -> dict[str, Any]:
    """Keyword arguments for ``scipy.optimize.minimize`` with ``method="trust-constr"``, exact sparse derivatives.

    ``cl <= c(x) <= cu`` (``cl == cu``: equalities; default ``0 == c(x)``), ``lb <= x <= ub`` (default none).

    >>> import jax.numpy as jnp, scipy.optimize as so
    >>> from jacx.optimize import ConstrainedProblem, trust_constr_arguments
    >>> prob = ConstrainedProblem(lambda x: jnp.sum(x ** 2), lambda x: jnp.sum(x, keepdims=True) - 1.0, jnp.ones(4))
    >>> res = so.minimize(x0=jnp.zeros(4), **trust_constr_arguments(prob))
    >>> res.x.round(6)
    array([0.25, 0.25, 0.25, 0.25])
    """
    _check_problem(problem, "trust_constr_arguments")
    kwargs: dict[str, Any] = {
        "fun": problem.value_and_gradient,
        "jac": True,
        "hess": lambda x: problem.hessian(x, None, 1.0),
        "method": "trust-constr",
    }
    if problem.m:
        lo = _limits(cl, problem.m, 0.0, "cl")
        hi = _limits(cu, problem.m, 0.0, "cu") if cu is not None else (lo.copy() if cl is not None else
                                                                        np.zeros(problem.m))
        kwargs["constraints"] = [so.NonlinearConstraint(problem.constraints, lo, hi, jac=problem.jacobian,
                                                        hess=lambda x, v: problem.hessian(x, v, 0.0))]
    if lb is not None or ub is not None:
        kwargs["bounds"] = so.Bounds(_limits(lb, problem.n, -np.inf, "lb"), _limits(ub, problem.n, np.inf, "ub"))
    return kwargs


def minimize_trust_constr(problem: ConstrainedProblem, x0: Any, cl: Any = None, cu: Any = None, lb: Any = None,
                          ub: Any = None, **options: Any) -> so.OptimizeResult:
    """``scipy.optimize.minimize(method="trust-constr")`` on ``problem`` from ``x0``; ``options`` go to SciPy
    (``maxiter``, ``gtol``, ``xtol``, ``verbose``, ...). The result's ``v[0]`` are the constraint multipliers."""
    _check_problem(problem, "minimize_trust_constr")
    return so.minimize(x0=_vector(x0, problem.n, "minimize_trust_constr x0"), options=options or None,
                       **trust_constr_arguments(problem, cl, cu, lb, ub))
