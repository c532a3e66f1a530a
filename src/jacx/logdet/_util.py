"""Small shared helpers: flattening a function to vector -> vector, optional collaborators, result types."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from .._errors import JacxUsageError, JacxWarning, NonSquareJacobianError

__all__ = ["flat_function", "square_flat_function", "sparsity_or_none", "pytree_dataclass", "static_field",
           "freeze_pattern", "thaw_pattern"]


def freeze_pattern(structure: Any) -> Any:
    """A pattern given as an array, copied into an immutable value (so a compiled log-det or trace can prove it
    unchanged and never re-trace); strings and other objects as they are.

    >>> frozen = freeze_pattern(np.eye(2, dtype=bool))
    >>> thaw_pattern(frozen).tolist()
    [[True, False], [False, True]]
    """
    if isinstance(structure, str) or not hasattr(structure, "shape") or not hasattr(structure, "__array__"):
        return structure
    arr = np.asarray(structure)
    return ("frozen pattern", arr.shape, np.packbits(arr.astype(bool).ravel()).tobytes())


def thaw_pattern(structure: Any) -> Any:
    """The boolean array behind :func:`freeze_pattern`'s value (anything else as it is)."""
    if isinstance(structure, tuple) and len(structure) == 3 and structure[0] == "frozen pattern":
        shape = structure[1]
        bits = np.unpackbits(np.frombuffer(structure[2], np.uint8), count=int(np.prod(shape)))
        return bits.astype(bool).reshape(shape)
    return structure


def pytree_dataclass(cls: type) -> type:
    """Make ``cls`` a frozen dataclass registered as a JAX pytree.

    Fields declared with ``dataclasses.field(metadata={"static": True})`` become static (hashable) metadata; every
    other field is a pytree child (arrays, or nested pytrees).
    """
    cls = dataclasses.dataclass(frozen=True, eq=False)(cls)
    return jax.tree_util.register_dataclass(cls)


def static_field(**kwargs: Any) -> Any:
    """A dataclass field that is static metadata for JAX (not a leaf, not trained)."""
    return dataclasses.field(metadata={"static": True}, **kwargs)


def flat_function(f: Callable[..., Any], x: Any) -> tuple[Callable[[jax.Array], jax.Array], jax.Array, int]:
    """Return ``(g, v, m)``: ``g`` maps the flattened input ``v`` to the flattened output of ``f`` (size ``m``)."""
    v, unravel = ravel_pytree(x)
    if not jnp.issubdtype(v.dtype, jnp.inexact):
        raise JacxUsageError(
            f"received an input of dtype {v.dtype}; expected floating-point input to differentiate at. "
            "Fix: pass x as a float array, e.g. jnp.asarray(x, dtype=float)."
        )

    def g(w: jax.Array) -> jax.Array:
        return ravel_pytree(f(unravel(w)))[0]

    m = jax.eval_shape(g, v).shape[0]
    return g, v, m


def square_flat_function(
    f: Callable[..., Any], x: Any, what: str
) -> tuple[Callable[[jax.Array], jax.Array], jax.Array]:
    """Like :func:`flat_function` but insist on a square Jacobian (``what`` names the quantity for the message)."""
    g, v, m = flat_function(f, x)
    if m != v.shape[0]:
        raise NonSquareJacobianError(
            f"{what} needs a square Jacobian; received a function with {v.shape[0]} input and {m} output entries "
            f"(Jacobian {m} x {v.shape[0]}). Fix: pass a map from R^n to R^n (same number of entries in and out)."
        )
    return g, v


def sparsity_or_none(f: Callable[..., Any], x: Any) -> tuple[Any, str]:
    """Ask ``jacx.sparse.sparsity`` for the Jacobian pattern of ``f`` at ``x``; ``(None, reason)`` if unavailable.

    Pytree inputs are flattened first; a traced ``x`` (inside ``jit``) is replaced by a random concrete point of the
    same shape (the detected pattern is global, so the values do not matter).
    """
    try:
        from ..sparse import sparsity  # type: ignore[attr-defined]
    except ImportError:
        return None, "jacx.sparse.sparsity is not available"
    g, v, _ = flat_function(f, x)
    if isinstance(x, (jax.Array, np.ndarray)) and not isinstance(x, jax.core.Tracer) and x.ndim == 1:
        g, v = f, x
    elif isinstance(v, jax.core.Tracer):
        v = np.random.default_rng(0).standard_normal(v.shape).astype(v.dtype)
    try:
        return sparsity(g, v), "sparsity"
    except Exception as err:  # detection is an optimisation: fall back to the exact path, but say so
        warnings.warn(
            f"jacx.sparse.sparsity failed on this function ({type(err).__name__}: {err}); using the exact dense "
            "path instead. Declare the pattern (jacobian_pattern) or pass structure=... to avoid this.",
            JacxWarning,
            stacklevel=3,
        )
        return None, "sparsity failed"
