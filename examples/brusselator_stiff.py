"""Stiff time integration of the 2D Brusselator with ``scipy.integrate.solve_ivp`` and jacx sparse Jacobians.

    python examples/brusselator_stiff.py [N]

Compares three ways of giving BDF its Jacobian: the exact sparse Jacobian from jacx (``jac=``), the pattern only
(``jac_sparsity=``, SciPy then uses colored finite differences), and nothing (dense finite differences; only
for small N).
"""

import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import scipy.integrate

import jacx.sparse as js
from jacx.sparse.problems import brusselator_2d

jax.config.update("jax_enable_x64", True)


def main(n_grid: int = 32) -> None:
    f, y0 = brusselator_2d(n_grid, alpha=0.02)  # stronger diffusion: a stiffer system
    y0 = jnp.asarray(y0, jnp.float64)
    rhs = lambda t, y: f(y)
    fun, jac = js.for_scipy(rhs, y0, time=True)
    pattern = js.scipy_jac_sparsity(rhs, y0, time=True)
    span, kw = (0.0, 10.0), {"method": "BDF", "rtol": 1e-6, "atol": 1e-8}
    y0n = np.asarray(y0).ravel()
    runs = {"jacx jac=": {"jac": jac}, "jac_sparsity=": {"jac_sparsity": pattern}}
    if n_grid <= 16:
        runs["no Jacobian"] = {}
    results = {}
    for name, extra in runs.items():
        t = time.perf_counter()
        sol = scipy.integrate.solve_ivp(fun, span, y0n, **kw, **extra)
        results[name] = sol.y[:, -1]
        print(f"{name:15s} {time.perf_counter() - t:6.2f} s  steps={sol.t.size - 1:4d}  nfev={sol.nfev:5d}  "
              f"njev={sol.njev:3d}  success={sol.success}")
    ref = results["jacx jac="]
    for name, y in results.items():
        print(f"max difference of the final state, {name} vs jacx: {np.max(np.abs(y - ref)):.1e}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 32)
