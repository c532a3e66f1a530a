"""Hand a :class:`~jacx.optimize.ConstrainedProblem` to Ipopt through ``cyipopt`` (an optional extra).

Ipopt takes the constraint Jacobian and the lower triangle of the Lagrangian's Hessian
``obj_factor * H_f + sum_i lambda_i H_{c_i}`` as values in a fixed order of (row, column) pairs; jacx's prepared
patterns give that order once and the values at each iterate. Install with ``pip install "jacx[ipopt]"``, which
needs the Ipopt library and its headers (Debian: ``apt-get install coinor-libipopt-dev pkg-config liblapack-dev
libblas-dev``) and a C compiler to build cyipopt.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from jacx._errors import JacxUsageError
from jacx.optimize._lagrangian import ConstrainedProblem, _vector
from jacx.optimize._scipy import _check_problem, _limits

__all__ = ["IpoptResult", "ipopt_available", "minimize_ipopt"]

_INF = 1e20  # Ipopt reads bounds beyond 1e19 as infinite


def ipopt_available() -> bool:
    """Whether ``cyipopt`` (and so Ipopt) can be imported.

    >>> isinstance(ipopt_available(), bool)
    True
    """
    try:
        import cyipopt  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class IpoptResult:
    """Ipopt's answer: ``x``, ``fun``, the constraint multipliers ``y`` (``mult_g``), the bound multipliers
    ``z = mult_x_L - mult_x_U``... as Ipopt reports them, ``status`` and ``message``, ``iterations`` and the wall
    time ``seconds``."""

    x: np.ndarray
    fun: float
    y: np.ndarray
    z_lower: np.ndarray
    z_upper: np.ndarray
    status: int
    message: str
    iterations: int
    seconds: float

    @property
    def success(self) -> bool:
        return self.status in (0, 1)  # solved, or solved to acceptable level


class _Adapter:
    def __init__(self, problem: ConstrainedProblem) -> None:
        self.p = problem
        self.iterations = 0

    def objective(self, x: np.ndarray) -> float:
        return self.p.objective(x)

    def gradient(self, x: np.ndarray) -> np.ndarray:
        return self.p.gradient(x)

    def constraints(self, x: np.ndarray) -> np.ndarray:
        return self.p.constraints(x)

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        return self.p.jacobian_values(x)

    def jacobianstructure(self) -> tuple[np.ndarray, np.ndarray]:
        return self.p.jacobian_structure()

    def hessian(self, x: np.ndarray, lagrange: np.ndarray, obj_factor: float) -> np.ndarray:
        return self.p.hessian_lower_values(x, lagrange, obj_factor)

    def hessianstructure(self) -> tuple[np.ndarray, np.ndarray]:
        return self.p.hessian_lower_structure()

    def intermediate(self, alg_mod: int, iter_count: int, *rest: Any) -> bool:
        self.iterations = int(iter_count)
        return True


def _bounds(values: Any, size: int, fill: float, what: str) -> np.ndarray:
    arr = _limits(values, size, fill, what)
    return np.clip(np.nan_to_num(arr, posinf=_INF, neginf=-_INF), -_INF, _INF)


def minimize_ipopt(problem: ConstrainedProblem, x0: Any, cl: Any = None, cu: Any = None, lb: Any = None,
                   ub: Any = None, **options: Any) -> IpoptResult:
    """Solve ``problem`` with Ipopt from ``x0``, with jacx's exact sparse Jacobian and Lagrangian Hessian.

    ``cl <= c(x) <= cu`` (default ``c(x) == 0``; ``cl == cu`` are equalities), ``lb <= x <= ub`` (default none);
    ``options`` are Ipopt options (``tol=1e-8``, ``max_iter=200``, ``print_level=0``, ...). Ipopt's Lagrangian is
    ``obj_factor * f + lambda^T c``, so ``y`` has the sign convention of :meth:`ConstrainedProblem.kkt_residual`.
    """
    try:
        import cyipopt
    except ImportError as err:
        raise JacxUsageError(
            "minimize_ipopt needs cyipopt, which is not installed. Fix: install Ipopt (Debian: apt-get install "
            "coinor-libipopt-dev pkg-config liblapack-dev libblas-dev) and then pip install 'jacx[ipopt]'."
        ) from err
    _check_problem(problem, "minimize_ipopt")
    n, m = problem.n, problem.m
    x0 = _vector(x0, n, "minimize_ipopt x0")
    lo = _bounds(cl, m, 0.0, "cl")
    hi = _bounds(cu, m, 0.0, "cu") if cu is not None else (lo.copy() if cl is not None else np.zeros(m))
    adapter = _Adapter(problem)
    nlp = cyipopt.Problem(n=n, m=m, problem_obj=adapter, lb=_bounds(lb, n, -_INF, "lb"),
                          ub=_bounds(ub, n, _INF, "ub"), cl=lo, cu=hi)
    options = {"print_level": 0, "sb": "yes", **options}
    for key, value in options.items():
        nlp.add_option(key, value)
    start = time.perf_counter()
    x, info = nlp.solve(x0)
    seconds = time.perf_counter() - start
    msg = info["status_msg"]
    return IpoptResult(x=np.asarray(x), fun=float(info["obj_val"]), y=np.asarray(info["mult_g"]),
                       z_lower=np.asarray(info["mult_x_L"]), z_upper=np.asarray(info["mult_x_U"]),
                       status=int(info["status"]), message=msg.decode() if isinstance(msg, bytes) else str(msg),
                       iterations=adapter.iterations, seconds=seconds)
