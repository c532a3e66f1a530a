"""The exceptions and warnings jacx raises.

Two families, kept apart on purpose:

* :class:`JacxUsageError` (a ``ValueError``) and its subclasses mean *the call was wrong*: a bad shape, an
  unknown option, an unsafe expression.  The message says what was received, what was expected, and how to fix it.
* :class:`JacxInternalError` (a ``RuntimeError``) means *jacx itself is wrong*.  It should never happen; the message
  asks for a bug report with the details needed to reproduce it.
"""

from __future__ import annotations

__all__ = [
    "JacxError",
    "JacxUsageError",
    "NotScalarOutputError",
    "NonSquareJacobianError",
    "JacobianTooLargeError",
    "NonDifferentiablePointError",
    "UntraceableFunctionError",
    "UnsafeExpressionError",
    "ExpressionSyntaxError",
    "JacxInternalError",
    "JacxWarning",
]


class JacxError(Exception):
    """Base class of every exception raised by jacx."""


class JacxUsageError(JacxError, ValueError):
    """The call was wrong (bad argument, shape, dtype, option): fix the call."""


class NotScalarOutputError(JacxUsageError):
    """A scalar-output function was required (a gradient) but the function returned something else."""


class NonSquareJacobianError(JacxUsageError):
    """A square Jacobian was required (determinant, volume change) but it is m x n with m != n."""


class JacobianTooLargeError(JacxUsageError, MemoryError):
    """The dense Jacobian (or the work to build it) would not fit in the available memory."""


class NonDifferentiablePointError(JacxUsageError, FloatingPointError):
    """The derivative is NaN or infinite at the requested point (for example ``sqrt`` or ``abs`` at 0)."""


class UntraceableFunctionError(JacxUsageError, TypeError):
    """The function cannot be differentiated by JAX (for example it calls NumPy on its input)."""


class UnsafeExpressionError(JacxUsageError):
    """An expression contained something outside the whitelist of numbers, names, operators and functions."""


class ExpressionSyntaxError(JacxUsageError):
    """An expression is made of allowed pieces but is not well formed (unbalanced parentheses, dangling operator)."""


class JacxInternalError(JacxError, RuntimeError):
    """A bug in jacx. Please report it with the message and a small reproducer."""

    def __init__(self, message: str) -> None:
        super().__init__(
            f"{message}\nThis is a bug in jacx, not in your code. Please report it with this message and a "
            "minimal example that reproduces it."
        )


class JacxWarning(UserWarning):
    """Warnings from jacx (for example: falling back to un-jitted evaluation)."""
