"""jacx: Jacobians for Python, built on JAX.

For ``F: R^n -> R^m`` jacx gives the ``m x n`` Jacobian and what people do with it: forward and reverse mode chosen
automatically, products, gradients, the linear approximation, the chain rule, determinants and volume change,
a finite-difference check, and (in subpackages) symbolic and sparse Jacobians, log-determinants and flows.
"""

from ._autojit import AutoJitWarning, auto_jit_enabled, clear_cache, set_auto_jit
from ._caches import cache_info, clear_caches
from ._chain import ChainRule, chain_rule, compose
from ._cut_plan import explain
from ._check import JacobianCheck, check_jacobian, finite_difference_jacobian
from ._dense import Mode, gradient, jacobian, jacobian_matrix, jvp, vjp
from ._det import VolumeChange, det, slogdet, volume_change
from ._hessian import hessian, hvp
from ._linear import Linearization, linearize
from ._errors import (
    ExpressionSyntaxError,
    JacobianTooLargeError,
    JacxError,
    JacxInternalError,
    JacxUsageError,
    JacxWarning,
    NonDifferentiablePointError,
    NonSquareJacobianError,
    NotScalarOutputError,
    UnsafeExpressionError,
    UntraceableFunctionError,
)

__version__ = "0.1.0"

# jacx.explore is a package that can also be called: jacx.explore(f) opens the explorer for f
_SUBMODULES = {"symbolic", "sparse", "logdet", "flows", "robotics", "vision", "implicit", "robustness", "backprop",
               "explore", "optimize"}


def __getattr__(name: str):  # `jacx.sparse` etc. without importing every subpackage up front
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'jacx' has no attribute {name!r}")


__all__ = [
    "Mode",
    "jacobian",
    "jacobian_matrix",
    "explain",
    "gradient",
    "jvp",
    "vjp",
    "hessian",
    "hvp",
    "linearize",
    "Linearization",
    "det",
    "slogdet",
    "volume_change",
    "VolumeChange",
    "chain_rule",
    "ChainRule",
    "compose",
    "check_jacobian",
    "JacobianCheck",
    "finite_difference_jacobian",
    "clear_cache",
    "clear_caches",
    "cache_info",
    "set_auto_jit",
    "auto_jit_enabled",
    "AutoJitWarning",
    "JacxError",
    "JacxUsageError",
    "JacxInternalError",
    "JacxWarning",
    "NotScalarOutputError",
    "NonSquareJacobianError",
    "JacobianTooLargeError",
    "NonDifferentiablePointError",
    "UntraceableFunctionError",
    "UnsafeExpressionError",
    "ExpressionSyntaxError",
]
