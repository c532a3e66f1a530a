"""Optimization with jacx's derivatives: sparse least squares in JAX, and the sparse Lagrangian Hessian and
constraint Jacobian that SciPy's ``trust-constr`` and Ipopt (through ``cyipopt``, optional) take.

>>> import jax.numpy as jnp
>>> from jacx.optimize import least_squares
>>> least_squares(lambda x: x ** 2 - 4.0, jnp.ones(3)).x
Array([2., 2., 2.], dtype=float32)
"""

from jacx.optimize._ipopt import IpoptResult, ipopt_available, minimize_ipopt
from jacx.optimize._lagrangian import ConstrainedProblem
from jacx.optimize._least_squares import LeastSquaresResult, least_squares
from jacx.optimize._scipy import minimize_trust_constr, trust_constr_arguments

__all__ = [
    "ConstrainedProblem",
    "IpoptResult",
    "LeastSquaresResult",
    "ipopt_available",
    "least_squares",
    "minimize_ipopt",
    "minimize_trust_constr",
    "trust_constr_arguments",
]
