"""Steady state of the 2D Brusselator with SciPy's root finders and jacx sparse Jacobians.

    python examples/brusselator_steady.py [N]

The residual is the Brusselator right-hand side on an N x N periodic grid (2 N^2 unknowns).  jacx detects its
sparsity (6 nonzeros per row), colors it (6 or 8 products instead of 2 N^2) and hands the Jacobian to
``scipy.optimize.least_squares`` (sparse, trust-region reflective) and ``scipy.optimize.root`` (dense, hybr).
"""

import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize

import jacx.sparse as js
from jacx.sparse.problems import brusselator_2d

jax.config.update("jax_enable_x64", True)


def main(n_grid: int = 48) -> None:
    f, x0 = brusselator_2d(n_grid)
    x0 = jnp.asarray(x0, jnp.float64)
    fun, jac = js.for_scipy(f, x0)  # the one line: residual and sparse Jacobian for SciPy
    prepared = js.jacobian(f, x0)
    print(f"{prepared}: {prepared.coloring.method}; preparation {prepared.preparation['total']:.3f} s")
    print(js.check_sparse_jacobian(f, x0, jac=prepared))

    t = time.perf_counter()
    sol = scipy.optimize.least_squares(fun, np.asarray(x0).ravel(), jac=jac, xtol=1e-12, ftol=1e-12)
    print(f"least_squares (sparse jac): {time.perf_counter() - t:.2f} s, {sol.njev} Jacobians, "
          f"max |F| = {np.max(np.abs(fun(sol.x))):.1e}")
    u, v = sol.x.reshape(2, n_grid, n_grid)
    print(f"steady state: u in [{u.min():.4f}, {u.max():.4f}], v in [{v.min():.4f}, {v.max():.4f}] "
          "(the homogeneous state is u = 1, v = 3.4)")

    small = 16
    f16, y16 = brusselator_2d(small)
    fun16, jac16 = js.for_scipy(f16, jnp.asarray(y16, jnp.float64), dense=True)
    t = time.perf_counter()
    root = scipy.optimize.root(fun16, np.asarray(y16, np.float64).ravel(), jac=jac16, method="hybr")
    print(f"root/hybr on {small}x{small} (dense jac from the sparse one): success={root.success}, "
          f"{time.perf_counter() - t:.2f} s, max |F| = {np.max(np.abs(fun16(root.x))):.1e}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 48)
