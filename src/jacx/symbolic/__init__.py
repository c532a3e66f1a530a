"""Symbolic Jacobians with SymPy, parsed safely from text, and their bridges to JAX and NumPy.

>>> import jacx.symbolic as js
>>> js.jacobian("x^2 + y, x*y")
Matrix([
[2*x, 1],
[  y, x]])
"""

from ._check import SymbolicCheck, ad_jacobian, check_against_ad
from ._compile import compile_jacobian, to_jax, validate_tree
from ._domain import OutsideDomainError, PointOverflowError
from ._functions import CONSTANTS, FUNCTIONS, relu, sigmoid, softplus
from ._jacobian import SymbolicJacobian, jacobian
from ._parse import make_symbol, parse_expressions, parse_variables
from ._render import format_number, functions_latex, functions_text, matrix_latex, matrix_text

__all__ = [
    "jacobian",
    "SymbolicJacobian",
    "SymbolicCheck",
    "OutsideDomainError",
    "PointOverflowError",
    "check_against_ad",
    "ad_jacobian",
    "to_jax",
    "compile_jacobian",
    "validate_tree",
    "parse_expressions",
    "parse_variables",
    "make_symbol",
    "matrix_text",
    "matrix_latex",
    "functions_text",
    "functions_latex",
    "format_number",
    "FUNCTIONS",
    "CONSTANTS",
    "sigmoid",
    "softplus",
    "relu",
]
