"""A rocket flown by direct collocation: a few thousand variables, solved with jacx's sparse derivatives.

    python examples/optimal_control.py [N] [--compare]

The problem (``jacx.optimize.problems.rocket``): a planar rocket with drag and mass loss flies from rest at the
origin to rest at (1, 1) in unit time with the least control energy, its thrust limited. Trapezoidal
collocation on N intervals gives 7 (N + 1) variables, 5 N + 9 equality and N + 1 inequality constraints
(N = 400: 2807 variables, 2410 constraints).

jacx prepares, once, the sparse constraint Jacobian and the sparse Hessian of the Lagrangian
``sigma f(x) + y^T c(x)`` (``jacx.optimize.ConstrainedProblem``); each iterate then costs one batch of a few
JVPs and Hessian-vector products. They go to Ipopt (through cyipopt, when installed) and to SciPy's
``trust-constr``. ``--compare`` also solves with the derivatives SciPy makes itself (finite differences of the
constraints and BFGS updates for the Hessians; stopped after 300 s) and with dense jacx/JAX derivatives, and
prints iterations and wall time side by side.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import jax
import numpy as np
import scipy.optimize as so

import jacx
from jacx.optimize import ConstrainedProblem, ipopt_available, minimize_ipopt, minimize_trust_constr
from jacx.optimize.problems import ControlProblem, rocket

TOL = 1e-8  # optimality and feasibility tolerance of every solver


def solve(P: ControlProblem, derivatives: str = "sparse", solver: str = "trust-constr", *,
          prepared: ConstrainedProblem | None = None, arguments: dict[str, Any] | None = None,
          max_iter: int = 3000, time_budget_s: float | None = None) -> dict[str, Any]:
    """Solve ``P`` from ``P.x0``; ``derivatives``: ``"sparse"`` (jacx), ``"dense"`` (jacx.jacobian and
    jacx.hessian, dense matrices) or ``"fd"`` (SciPy's finite differences and BFGS); ``solver``:
    ``"trust-constr"`` or ``"ipopt"`` (sparse only). ``arguments``: what :func:`scipy_arguments` made for
    ``"dense"``/``"fd"`` (made here when omitted; pass it to reuse compiled dense derivatives). SciPy stops after
    ``time_budget_s`` seconds when given. Returns x, iterations, seconds (the solve; preparing derivatives
    excluded), success, and the final objective, constraint violation and KKT residual (checked with the sparse
    derivatives for every method)."""
    prob = prepared if prepared is not None else ConstrainedProblem(P.objective, P.constraints, P.x0)
    start = time.perf_counter()
    if derivatives == "sparse" and solver == "ipopt":
        res = minimize_ipopt(prob, P.x0, P.cl, P.cu, P.lb, P.ub, tol=TOL, max_iter=max_iter)
        seconds = time.perf_counter() - start
        x, its, ok, y, z = res.x, res.iterations, res.success, res.y, res.z_upper - res.z_lower
    elif solver != "trust-constr":
        raise ValueError(f"solver {solver!r} with derivatives {derivatives!r} is not offered here")
    elif derivatives == "sparse":
        res = minimize_trust_constr(prob, P.x0, P.cl, P.cu, P.lb, P.ub, maxiter=max_iter, gtol=TOL, xtol=1e-12)
        seconds = time.perf_counter() - start
        x, its, ok, y, z = res.x, res.nit, res.status in (1, 2), res.v[0], res.v[1] if len(res.v) > 1 else None
    else:
        kwargs = arguments if arguments is not None else scipy_arguments(P, prob, derivatives)
        start = time.perf_counter()

        def out_of_time(intermediate_result: Any) -> None:
            if time_budget_s is not None and time.perf_counter() - start > time_budget_s:
                raise StopIteration

        res = so.minimize(x0=P.x0, method="trust-constr", options={"maxiter": max_iter, "gtol": TOL, "xtol": 1e-12},
                          callback=out_of_time, **kwargs)
        seconds = time.perf_counter() - start
        x, its, ok, y, z = res.x, res.nit, res.status in (1, 2), res.v[0], res.v[1] if len(res.v) > 1 else None
    c = prob.constraints(x)
    violation = float(max(np.max(np.maximum(P.cl - c, 0.0)), np.max(np.maximum(c - P.cu, 0.0)),
                          np.max(np.maximum(P.lb - x, 0.0))))
    return {"x": x, "iterations": int(its), "seconds": seconds, "success": bool(ok),
            "objective": float(prob.objective(x)), "violation": violation, "kkt": prob.kkt_residual(x, y, z)}


def scipy_arguments(P: ControlProblem, prob: ConstrainedProblem, derivatives: str) -> dict[str, Any]:
    """``scipy.optimize.minimize`` keyword arguments for ``"fd"`` or ``"dense"`` derivatives."""
    return _dense_arguments(P, prob) if derivatives == "dense" else _fd_arguments(P, prob)


def _fd_arguments(P: ControlProblem, prob: ConstrainedProblem) -> dict[str, Any]:
    """What SciPy does without derivatives: 2-point differences (dense) and BFGS for both Hessians."""
    return {
        "fun": prob.objective, "jac": "2-point", "hess": so.BFGS(),
        "constraints": [so.NonlinearConstraint(prob.constraints, P.cl, P.cu, jac="2-point", hess=so.BFGS())],
        "bounds": so.Bounds(P.lb, P.ub),
    }


def _dense_arguments(P: ControlProblem, prob: ConstrainedProblem) -> dict[str, Any]:
    """Exact derivatives as dense matrices: jacx.jacobian for the constraints, jacx.hessian for f and for y^T c."""
    f, c = P.objective, P.constraints
    jac_c = jacx.jacobian(c)
    hess_f = jacx.hessian(f)
    hess_yc = jacx.hessian(lambda x, y: y @ c(x))

    def in64(fn: Any) -> Any:
        def call(*a: Any) -> np.ndarray:
            with jax.enable_x64(True):
                return np.asarray(fn(*[jax.numpy.asarray(v, dtype=jax.numpy.float64) for v in a]))
        return call

    return {
        "fun": prob.value_and_gradient, "jac": True, "hess": in64(hess_f),
        "constraints": [so.NonlinearConstraint(prob.constraints, P.cl, P.cu, jac=in64(jac_c), hess=in64(hess_yc))],
        "bounds": so.Bounds(P.lb, P.ub),
    }


def main(argv: list[str]) -> None:
    N = int(next((a for a in argv if not a.startswith("-")), 400))
    P = rocket(N)
    t0 = time.perf_counter()
    prob = ConstrainedProblem(P.objective, P.constraints, P.x0)
    print(f"{P.name}: {prob}; prepared in {time.perf_counter() - t0:.2f} s", flush=True)
    runs = [("sparse", "ipopt")] if ipopt_available() else []
    runs.append(("sparse", "trust-constr"))
    if "--compare" in argv:
        runs += [("dense", "trust-constr"), ("fd", "trust-constr")]
    reference = None
    for derivatives, solver in runs:
        arguments = None if derivatives == "sparse" else scipy_arguments(P, prob, derivatives)
        if derivatives != "fd":  # compile the derivatives first: the times are those of the solves
            solve(P, derivatives, solver, prepared=prob, arguments=arguments, max_iter=2)
        r = solve(P, derivatives, solver, prepared=prob, arguments=arguments, time_budget_s=300.0)
        reference = r["x"] if reference is None else reference
        print(f"{derivatives:>6} + {solver:<12} {r['iterations']:5d} iterations {r['seconds']:8.2f} s   "
              f"{'converged' if r['success'] else 'NOT converged'}  f = {r['objective']:.8f}  "
              f"violation {r['violation']:.1e}  KKT {r['kkt']:.1e}  |x - x_first| = "
              f"{np.max(np.abs(r['x'] - reference)):.1e}", flush=True)
    traj = P.unpack(reference)
    thrust = np.hypot(traj["controls"][:, 0], traj["controls"][:, 1])
    print(f"final mass {traj['states'][-1, 4]:.4f}, peak thrust {thrust.max():.3f} (limit 6.5), "
          f"thrust at its limit on {np.mean(thrust > 6.5 - 1e-4):.0%} of the nodes")


if __name__ == "__main__":
    main(sys.argv[1:])
