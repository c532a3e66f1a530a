"""Fast by default: compile what the user did not jit, once per function and input shape.

``jax.jacfwd(f)(x)`` without ``jax.jit`` re-traces ``f`` on every call (milliseconds); most users never write
``jit``. jacx therefore compiles each transformed function with :func:`jax.jit` behind the scenes and caches the
compiled version, keyed by the user's function and by what that function can see (its closure cells and the
globals it names), so that rebinding a captured array triggers a recompile instead of a stale answer.

It steps aside cleanly:

* under the user's own ``jit``/``vmap``/``grad`` (arguments are tracers) it adds nothing;
* for a function that JAX cannot trace under ``jit`` (Python ``if`` on an array value) it warns once and runs
  un-jitted, which JAX supports for such functions;
* for a function whose code is re-created with new captured values again and again (a lambda built in a loop) it
  stops compiling that code after a few tries, since each compile would cost more than it saves.

Arrays mutated *in place* behind a captured name (``w[0] = 5`` on a NumPy array ``w``) cannot be seen: pass such
values as arguments, or use ``jit=False``.
"""

from __future__ import annotations

import functools
import types
import warnings
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import jax
import numpy as np

from ._errors import JacxWarning, UntraceableFunctionError

__all__ = ["AutoJit", "clear_cache", "fingerprint", "is_tracing", "memo_get", "memo_put"]

_MAX_ENTRIES = 256
_MAX_VARIANTS_PER_CODE = 4

_ARRAY_TYPES = (jax.Array, np.ndarray, np.generic, int, float, complex, bool)
_CONCRETE_ARRAY = type(jax.numpy.zeros(()))
_UNTRACEABLE_UNDER_JIT = (
    jax.errors.ConcretizationTypeError,
    jax.errors.TracerIntegerConversionError,
)


def is_tracing(leaves: list[Any]) -> bool:
    """True when any leaf is a JAX tracer, i.e. we are inside the user's jit/vmap/grad."""
    return any(isinstance(leaf, jax.core.Tracer) for leaf in leaves)


def _fingerprint(f: Any) -> tuple:
    """Identities of what ``f`` reads besides its arguments: closure cells, named globals, bound state."""
    wrapped = getattr(f, "__wrapped__", None)
    if wrapped is not None:
        return _fingerprint(wrapped)
    if isinstance(f, functools.partial):
        return (_fingerprint(f.func), tuple(map(id, f.args)), tuple((k, id(v)) for k, v in f.keywords.items()))
    if isinstance(f, types.MethodType):
        return (id(f.__self__),) + _fingerprint(f.__func__)
    code = getattr(f, "__code__", None)
    if code is None:  # a callable object: what it holds may change
        state = getattr(f, "__dict__", None)
        return tuple((k, id(v)) for k, v in state.items()) if isinstance(state, dict) else ()
    cells = tuple(id(c.cell_contents) if _cell_full(c) else None for c in (f.__closure__ or ()))
    glb = f.__globals__
    names = tuple(id(glb[name]) for name in code.co_names if name in glb)
    return cells + names


fingerprint = _fingerprint  # shared with other caches keyed by a user's function (sparsity detection)


def _fingerprinter(f: Any) -> Callable[[], tuple]:
    """A cheap zero-argument version of ``_fingerprint(f)``, specialised once for plain functions."""
    if type(f) is not types.FunctionType:
        return lambda: _fingerprint(f)
    glb, cells = f.__globals__, f.__closure__ or ()
    names = tuple(name for name in f.__code__.co_names if name in glb)

    def fingerprint() -> tuple:
        try:
            return tuple([id(c.cell_contents) for c in cells] + [id(glb.get(name)) for name in names])
        except ValueError:  # an empty cell (a name not assigned yet)
            return _fingerprint(f)

    return fingerprint


def _cell_full(cell: Any) -> bool:
    try:
        cell.cell_contents
    except ValueError:
        return False
    return True


def _code_of(f: Any) -> Any:
    while isinstance(f, functools.partial) or getattr(f, "__wrapped__", None) is not None:
        f = f.func if isinstance(f, functools.partial) else f.__wrapped__
    return getattr(f, "__code__", None) or type(f)


def _untraceable_error(f: Callable, err: Exception) -> UntraceableFunctionError:
    name = getattr(f, "__qualname__", repr(f))
    return UntraceableFunctionError(
        f"jacx cannot differentiate {name}: it converts a JAX value to a NumPy array or Python number "
        f"({type(err).__name__}). Write the function with jax.numpy (import jax.numpy as jnp; jnp.sin, jnp.exp, "
        "...) instead of numpy or math, and avoid float()/int()/np.asarray() on its inputs."
    )


class _Entry:
    __slots__ = ("compiled", "eager")

    def __init__(self, compiled: Callable) -> None:
        self.compiled = compiled
        self.eager = False


_cache: OrderedDict[Hashable, _Entry] = OrderedDict()
_variants: dict[Any, set[tuple]] = {}  # (code, spec) -> the closure/global states compiled so far
_eager_codes: set[Any] = set()
_warned: set[Any] = set()
_made: OrderedDict[Hashable, Callable] = OrderedDict()


def memo_get(key: Hashable) -> Callable | None:
    """The transformed function made earlier for ``key`` (so ``jacobian(f)(x)`` in a loop costs one lookup)."""
    try:
        return _made.get(key)
    except TypeError:  # unhashable function or option
        return None


def memo_put(key: Hashable, made: Callable) -> Callable:
    try:
        _made[key] = made
    except TypeError:
        return made
    if len(_made) > _MAX_ENTRIES:
        _made.popitem(last=False)
    return made


def clear_cache() -> None:
    """Forget every compiled function (for tests, or to release memory).

    >>> clear_cache()
    """
    _cache.clear()
    _made.clear()
    _variants.clear()
    _eager_codes.clear()
    _warned.clear()


def _warn_once(code: Any, message: str) -> None:
    if code not in _warned:
        _warned.add(code)
        warnings.warn(message, JacxWarning, stacklevel=4)


class AutoJit:
    """Call ``traceable`` compiled and cached, or eagerly where compiling cannot help.

    ``f`` is the user's function (the cache key and the subject of messages), ``spec`` the transform's options.
    """

    __slots__ = ("f", "spec", "traceable", "enabled", "_fp", "_entry", "_fingerprint", "__weakref__")

    def __init__(self, f: Callable, spec: Hashable, traceable: Callable, enabled: bool = True) -> None:
        self.f = f
        self.spec = spec
        self.traceable = traceable
        self.enabled = enabled
        self._fp: tuple | None = None
        self._entry: _Entry | None = None
        self._fingerprint = _fingerprinter(f)

    def eager(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return self.traceable(*args, **kwargs)
        except jax.errors.TracerArrayConversionError as err:
            raise _untraceable_error(self.f, err) from err

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        entry = self._entry
        # fast path: plain concrete arrays, same function state as last time
        if (
            entry is None
            or kwargs
            or entry.eager
            or not all(type(a) is _CONCRETE_ARRAY for a in args)
            or self._fingerprint() != self._fp
        ):
            entry = self._resolve(args, kwargs)
            if entry is None:
                return self.eager(*args, **kwargs)
        try:
            return entry.compiled(*args, **kwargs)
        except _UNTRACEABLE_UNDER_JIT as err:
            entry.eager = True
            name = getattr(self.f, "__qualname__", repr(self.f))
            _warn_once(
                _code_of(self.f),
                f"{name} cannot be compiled with jax.jit ({type(err).__name__}: it uses a Python `if`, `int()` or "
                "similar on an array value), so jacx evaluates it without jit, which is much slower per call. "
                "To make it fast, use jnp.where or jax.lax.cond instead of Python control flow on array values.",
            )
            return self.eager(*args, **kwargs)
        except jax.errors.TracerArrayConversionError as err:
            raise _untraceable_error(self.f, err) from err

    def _resolve(self, args: tuple, kwargs: dict) -> _Entry | None:
        """The compiled entry for these arguments, or ``None`` when they must run eagerly."""
        if not self.enabled:
            return None
        for leaf in jax.tree_util.tree_leaves((args, kwargs)):
            if isinstance(leaf, jax.core.Tracer) or not isinstance(leaf, _ARRAY_TYPES):
                return None
        entry = self._lookup(self._fingerprint())
        return None if entry is None or entry.eager else entry

    def _lookup(self, fp: tuple) -> _Entry | None:
        """The compiled entry for this function state, made if needed; ``None`` means: run eagerly."""
        code = _code_of(self.f)
        if code in _eager_codes:
            return None
        try:
            key = (self.f, self.spec, fp)
            entry = _cache.get(key)
        except TypeError:  # unhashable callable
            return None
        if entry is None:
            # only new *captured state* counts as a variant: other options or input layouts are separate programs
            seen = _variants.setdefault((code, self.spec), set())
            seen.add(fp)
            if len(seen) > _MAX_VARIANTS_PER_CODE:
                _eager_codes.add(code)
                return None
            traceable = self.traceable

            def fresh(*args: Any, **kwargs: Any) -> Any:  # a new function object: JAX caches traces per function
                return traceable(*args, **kwargs)

            entry = _Entry(jax.jit(fresh))
            _cache[key] = entry
            if len(_cache) > _MAX_ENTRIES:
                _cache.popitem(last=False)
        self._fp, self._entry = fp, entry
        return entry
