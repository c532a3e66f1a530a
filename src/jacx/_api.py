"""What every jacx entry point shares: argument checks, argument splitting, and the compile cache.

Entry points (dense, determinants, linearization, checks, log-determinants, sparse, implicit, applications)
import their validation and caching from here and from nowhere else, so a new entry point gets the same clear
errors and the same sound cache (:mod:`jacx._autojit`) without reaching into another feature's private helpers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import types

import jax
import jax.numpy as jnp
import numpy as np

from ._autojit import _CONCRETE_ARRAY as CONCRETE_ARRAY  # the type of a concrete jax.Array (fast-path checks)
from ._autojit import AutoJit, auto_jit_enabled, is_tracing, memo_get, memo_put, set_auto_jit, warn_once
from ._caches import BoundedCache, clear_caches, register_cache
from ._errors import JacxUsageError
from ._guards import Guard, Ident, analyze
from ._sharding import Devices, context_mesh, mesh_size, resolve_mesh, sharded_apply, spec_for

__all__ = [
    "Devices", "context_mesh", "mesh_size", "resolve_mesh", "sharded_apply", "spec_for",
    "AutoJit", "BoundedCache", "CONCRETE_ARRAY", "Guard", "Ident", "analyze", "auto_jit_enabled", "check_chunk_size", "check_function",
    "check_has_aux_output", "check_input_dtypes", "check_mode", "clear_caches", "is_tracing", "memo_get", "memo_put",
    "compiled", "function_key", "normalise_argnums", "register_cache", "set_auto_jit", "split_args", "state_key", "warn_once",
]

MODES = ("auto", "forward", "reverse")


def check_function(f: Any, where: str) -> None:
    """Raise a usage error unless ``f`` is callable (a common slip: passing ``f(x)`` instead of ``f``).

    >>> check_function(len, "jacx.jacobian")
    >>> check_function(3.0, "jacx.jacobian")
    Traceback (most recent call last):
    jacx._errors.JacxUsageError: jacx.jacobian expects a function as its first argument, got float 3.0. Pass the function itself, e.g. jacx.jacobian(f), not its value f(x).
    """
    if not callable(f):
        raise JacxUsageError(
            f"{where} expects a function as its first argument, got {type(f).__name__} {f!r:.60}. "
            f"Pass the function itself, e.g. {where}(f), not its value f(x)."
        )


def check_mode(mode: Any, modes: tuple[str, ...] = MODES) -> None:
    """Raise a usage error unless ``mode`` is one of ``modes``.

    >>> check_mode("forward")
    """
    if mode not in modes:
        raise JacxUsageError(f"mode must be one of {', '.join(map(repr, modes))}; got {mode!r}.")


def check_chunk_size(chunk_size: Any) -> None:
    """Raise a usage error unless ``chunk_size`` is ``None`` or a positive integer.

    >>> check_chunk_size(8)
    """
    if chunk_size is None:
        return
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise JacxUsageError(f"chunk_size must be a positive integer or None; got {chunk_size!r}.")


def normalise_argnums(argnums: Any, nargs: int) -> int | tuple[int, ...]:
    """``argnums`` as non-negative positions of the ``nargs`` arguments; repeated positions are refused.

    >>> normalise_argnums((0, -1), 3)
    (0, 2)
    >>> normalise_argnums((0, 0), 2)
    Traceback (most recent call last):
    jacx._errors.JacxUsageError: argnums=(0, 0) names argument 0 more than once; each argument can be differentiated once. Fix: argnums=(0,).
    """
    nums = argnums if isinstance(argnums, tuple) else (argnums,)
    for a in nums:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise JacxUsageError(f"argnums must be an int or a tuple of ints; got {argnums!r}.")
        if not -nargs <= a < nargs:
            raise JacxUsageError(
                f"argnums={argnums!r} points past the {nargs} positional argument(s) the function was called with."
            )
    positions = tuple(int(a) % nargs for a in nums)
    if len(set(positions)) != len(positions):
        twice = next(p for p in positions if positions.count(p) > 1)
        unique = tuple(dict.fromkeys(positions))
        raise JacxUsageError(
            f"argnums={argnums!r} names argument {twice} more than once; each argument can be differentiated once. "
            f"Fix: argnums={unique!r}."
        )
    return positions if isinstance(argnums, tuple) else positions[0]


def split_args(f: Callable, argnums: int | tuple[int, ...], args: tuple, kwargs: dict) -> tuple[Callable, Any]:
    """``(g, primal)`` where ``g(primal)`` calls ``f`` with the differentiated arguments replaced by ``primal``.

    >>> g, primal = split_args(lambda a, b: a - b, 1, (5.0, 2.0), {})
    >>> primal, g(3.0)
    (2.0, 2.0)
    """

    def g(primal: Any) -> Any:
        full = list(args)
        if isinstance(argnums, tuple):
            for i, p in zip(argnums, primal):
                full[i] = p
        else:
            full[argnums] = primal
        return f(*full, **kwargs)

    primal = tuple(args[i] for i in argnums) if isinstance(argnums, tuple) else args[argnums]
    return g, primal


def check_input_dtypes(primal: Any, where: str) -> list[jax.Array]:
    """The array leaves of ``primal``, after checking they are real floating point (the inputs one can
    differentiate).

    >>> [x.dtype for x in check_input_dtypes({"w": jnp.ones(2)}, "jacx.jacobian")]
    [dtype('float32')]
    """
    leaves = jax.tree_util.tree_leaves(primal)
    if not leaves:
        raise JacxUsageError(f"{where}: the differentiated argument has no arrays in it (got {primal!r:.60}).")
    out = []
    for leaf in leaves:
        dtype = jnp.result_type(leaf)
        if not jnp.issubdtype(dtype, jnp.floating):
            kind = "complex" if jnp.issubdtype(dtype, jnp.complexfloating) else "integer or boolean"
            fix = (
                "split it into real and imaginary parts"
                if kind == "complex"
                else "pass floating-point values, e.g. jnp.asarray(x, dtype=float) or 1.0 instead of 1"
            )
            raise JacxUsageError(
                f"{where} differentiates with respect to real floating-point inputs, but an input has {kind} dtype "
                f"{dtype} (shape {jnp.shape(leaf)}). Fix: {fix}."
            )
        out.append(leaf)
    return out


def check_has_aux_output(out: Any, where: str) -> None:
    """With ``has_aux=True`` the function must return a pair ``(output, aux)``; say so clearly otherwise.

    >>> check_has_aux_output((1.0, "aux"), "jacx.jacobian")
    >>> check_has_aux_output(1.0, "jacx.jacobian")
    Traceback (most recent call last):
    jacx._errors.JacxUsageError: jacx.jacobian(..., has_aux=True) expects the function to return a pair (output, aux), but it returned a float. Fix: return (output, aux), or drop has_aux=True.
    """
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        got = f"a tuple of length {len(out)}" if isinstance(out, (tuple, list)) else f"a {type(out).__name__}"
        raise JacxUsageError(
            f"{where}(..., has_aux=True) expects the function to return a pair (output, aux), but it returned "
            f"{got}. Fix: return (output, aux), or drop has_aux=True."
        )


def state_key(f: Any) -> Any:
    """A hashable stand-in for everything ``f`` reads besides its arguments, for caches keyed by a user's function.

    When :func:`analyze` proves ``f`` reads only immutable state, the key compares those objects by identity
    (kept alive, so ids are never reused); otherwise it is a fresh object that equals nothing, so the cache
    misses and the caller recomputes.

    >>> import jax.numpy as jnp
    >>> w = jnp.ones(2)
    >>> f = lambda x: w * x
    >>> k = state_key(f)
    >>> k == state_key(f)
    True
    >>> w = jnp.zeros(2)
    >>> k == state_key(f)
    False
    """
    found = analyze(f)
    return found.values() if isinstance(found, Guard) else Ident(object())


def compiled(compute: Callable, key: tuple, where: str, bake_after: int | None = None) -> Callable:
    """``compute`` (a whole computation on the user's function, e.g. a log-determinant) through the sound compile
    cache: traced again whenever what it reads may have changed, and made once per hashable ``key`` (whose first
    entry names the computation) so that ``entry(f)(x)`` in a loop costs one lookup. ``bake_after``: calls in one
    state before that state's arrays are compiled in as constants (default: the cache's own threshold).

    >>> import jax.numpy as jnp
    >>> double = compiled(lambda x: 2.0 * x, ("doc-double",), "doc")
    >>> double(jnp.ones(2))
    Array([2., 2.], dtype=float32)
    """
    key = tuple(function_key(k) if callable(k) else k for k in key)
    made = memo_get(key)
    if made is None:
        extra = {} if bake_after is None else {"bake_after": bake_after}
        made = memo_put(key, AutoJit(compute, key[:1], lambda fun: fun, True, where, **extra))
    return made


def function_key(f: Any) -> Any:
    """``f`` as part of a cache key: by identity, unless equality provably means the same behaviour (plain
    functions and bound methods compare by identity anyway; jacx's own wrappers opt in with ``_jacx_key_by_value``).
    A user's callable with its own ``__eq__`` (say, equal by name) must not share another one's cached results.

    >>> class Named:
    ...     def __init__(self, name): self.name = name
    ...     def __eq__(self, other): return self.name == other.name
    ...     def __hash__(self): return hash(self.name)
    ...     def __call__(self, x): return x
    >>> function_key(Named("a")) == function_key(Named("a"))
    False
    """
    cls = type(f)
    if cls.__eq__ is object.__eq__ or cls in (types.FunctionType, types.MethodType) or getattr(
            cls, "_jacx_key_by_value", False):
        return f
    return Ident(f)
