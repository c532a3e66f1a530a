"""Sparse Jacobians: global sparsity detection, optimal-leaning coloring and compressed evaluation.

>>> import jax.numpy as jnp
>>> import jacx.sparse
>>> f = lambda x: jnp.diff(x) ** 2
>>> jac = jacx.sparse.jacobian(f, jnp.ones(6))
>>> jac.sparsity.shape, jac.n_colors
((5, 6), 2)
"""

from jacx.sparse import problems  # the built-in test problems (a public submodule)
from jacx.sparse._bicoloring import BiColoring, color_bidirectional
from jacx.sparse._check import SparseCheck, check_sparse_jacobian
from jacx.sparse._coloring import ORDERINGS, color_columns, color_rows
from jacx.sparse._compress import Coloring, InvalidColoringError, check_coloring
from jacx.sparse._detect import SparsityWarning, sparsity
from jacx.sparse._hessian import SparseHessian, hessian, hessian_sparsity
from jacx.sparse._hessian_plot import spy_hessian
from jacx.sparse._plot import spy
from jacx.sparse._prepared import SparseJacobian, jacobian
from jacx.sparse._pytree import SparsePytreeJacobian
from jacx.sparse._symmetric import SymmetricColoring, acyclic_coloring, star_coloring, symmetric_coloring
from jacx.sparse._scipy import for_scipy, scipy_jac, scipy_jac_sparsity, to_scipy

__all__ = [
    "ORDERINGS",
    "BiColoring",
    "Coloring",
    "InvalidColoringError",
    "SparseCheck",
    "SparseJacobian",
    "SparseHessian",
    "SparsePytreeJacobian",
    "SparsityWarning",
    "SymmetricColoring",
    "acyclic_coloring",
    "check_coloring",
    "check_sparse_jacobian",
    "color_bidirectional",
    "color_columns",
    "color_rows",
    "for_scipy",
    "hessian",
    "hessian_sparsity",
    "jacobian",
    "problems",
    "scipy_jac",
    "scipy_jac_sparsity",
    "sparsity",
    "spy",
    "spy_hessian",
    "star_coloring",
    "symmetric_coloring",
    "to_scipy",
]
