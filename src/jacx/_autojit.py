"""Fast by default and never stale: compile what the user did not jit, and prove the compiled program still valid.

``jax.jacfwd(f)(x)`` without ``jax.jit`` re-traces ``f`` on every call (milliseconds); most users never write
``jit``. jacx compiles each transformed function behind the scenes. The hard part is knowing when a compiled
program may be reused: ``f`` can read state that changes between calls (a global weight matrix, a parameter dict
updated in a training loop, an object's attribute, a NumPy array changed in place). The rule here is simple:

1. **Trace, then key by structure.** A call traces ``f`` (:mod:`jacx._program`): the trace captures what ``f``
   computes *now*. The compiled program is looked up by the trace's structure, and the arrays and float literals
   ``f`` read are passed in as arguments. A structure seen before (by any function: closures made by one factory
   share their programs) costs no compile; new values cost nothing extra.
2. **Skip the trace when it provably cannot differ.** After a trace, :func:`jacx._guards.analyze` tries to prove
   that ``f`` reads only state that cannot change in place (numbers, JAX arrays, functions, library modules). If it
   can, the next call with the same argument shapes checks the guard (a few identity tests, well under a
   microsecond each) and runs the compiled program directly. If the guard fails (a global was rebound), jacx
   traces again (step 1).
3. **Otherwise trace every call.** A function that reads a dict, a list, an object's attributes or a NumPy array
   is traced on every call (about the cost of one evaluation of ``f``), and jacx says so once, with the fix.

Under the user's own ``jit``/``vmap``/``grad`` (arguments are tracers) jacx adds nothing. A function JAX cannot
trace without concrete values (Python ``if`` on an array) runs eagerly, with a warning. ``jacx.set_auto_jit(False)``
or the environment variable ``JACX_AUTO_JIT=0`` turns implicit compilation off everywhere.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Hashable
from typing import Any

import jax
import numpy as np
from jax._src import config as _jax_config

from ._caches import BoundedCache, clear_caches
from ._errors import JacxWarning, UntraceableFunctionError
from ._guards import Guard, analyze
from ._program import Traced, evaluator, trace

__all__ = [
    "AutoJit", "AutoJitWarning", "auto_jit_enabled", "clear_cache", "is_tracing", "memo_get", "memo_put",
    "set_auto_jit", "warn_once",
]

_CONCRETE_ARRAY = type(jax.numpy.zeros(()))
_trace_context = _jax_config.trace_context  # the settings that change how a function traces (x64, promotion rules)
_ARRAY_TYPES = (jax.Array, np.ndarray, np.generic, int, float, complex, bool)
_UNTRACEABLE_UNDER_JIT = (jax.errors.ConcretizationTypeError, jax.errors.TracerIntegerConversionError,
                          jax.errors.TracerBoolConversionError)
_MAX_PROGRAMS_PER_FUNCTION = 32  # distinct programs one function object may produce before jacx stops compiling it
_MAX_RECORDS = 16  # argument layouts remembered per function for the guarded fast path
_BAKE_AFTER_CALLS = 256  # a state used this often gets its own executable with its constants folded in (one more
# compile, worth it only for long loops: factories' closures called a few times each keep sharing one program)
_BAKE_MAX_ENTRIES = 1 << 22  # ... unless its constants are larger than this (they then stay arguments)

_programs = BoundedCache("compiled programs", maxsize=256)
_made = BoundedCache("transformed functions", maxsize=256)
_warned: set[Any] = set()
_state = {"enabled": os.environ.get("JACX_AUTO_JIT", "1").strip().lower() not in ("0", "false", "no", "off")}


class AutoJitWarning(JacxWarning):
    """jacx could not use its fast path for a function (it re-traces or runs it eagerly) and says why, once.

    >>> import warnings, jax.numpy as jnp, jacx
    >>> params = {"w": jnp.ones(2)}                          # a dict can change in place: re-traced, and said so
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = jacx.jacobian(lambda x: params["w"] * x)(jnp.ones(2))
    >>> any(issubclass(w.category, AutoJitWarning) for w in caught)
    True
    """


def set_auto_jit(enabled: bool) -> bool:
    """Turn jacx's implicit compilation on or off for every entry point; returns the previous setting.

    Off, every call runs the JAX transformation eagerly (as ``jax.jacfwd(f)(x)`` does). The environment variable
    ``JACX_AUTO_JIT=0`` sets the default; the ``jit=False`` argument of an entry point turns it off for one
    function.

    >>> previous = set_auto_jit(False)
    >>> auto_jit_enabled()
    False
    >>> _ = set_auto_jit(previous)
    """
    previous = _state["enabled"]
    _state["enabled"] = bool(enabled)
    return previous


def auto_jit_enabled() -> bool:
    """Whether jacx compiles functions implicitly (see :func:`set_auto_jit`).

    >>> isinstance(auto_jit_enabled(), bool)
    True
    """
    return _state["enabled"]


def is_tracing(leaves: list[Any]) -> bool:
    """True when any leaf is a JAX tracer, i.e. we are inside the user's jit/vmap/grad."""
    return any(isinstance(leaf, jax.core.Tracer) for leaf in leaves)


def memo_get(key: Hashable) -> Callable | None:
    """The transformed function made earlier for ``key`` (so ``jacobian(f)(x)`` in a loop costs one lookup)."""
    return _made.get(key)


def memo_put(key: Hashable, made: Callable) -> Callable:
    _made.put(key, made)
    return made


def clear_cache() -> None:
    """Forget every compiled function and cached result (the same as :func:`jacx.clear_caches`).

    >>> clear_cache()
    """
    clear_caches()
    _warned.clear()


def _name(f: Any) -> str:
    return getattr(f, "__qualname__", None) or getattr(f, "__name__", None) or type(f).__name__


def warn_once(key: Any, message: str, category: type[Warning] = AutoJitWarning, stacklevel: int = 4) -> None:
    """Warn with ``message`` the first time ``key`` is seen (until the caches are cleared): a fallback is
    announced once, not on every call."""
    try:
        if key in _warned:
            return
        _warned.add(key)
    except TypeError:
        pass
    warnings.warn(message, category, stacklevel=stacklevel)


def _code_of(f: Any) -> Any:
    seen = 0
    while seen < 16 and (getattr(f, "__wrapped__", None) is not None or hasattr(f, "func")):
        f = getattr(f, "__wrapped__", None) or f.func
        seen += 1
    return getattr(f, "__code__", None) or type(f)


def _untraceable_error(f: Callable, err: Exception) -> UntraceableFunctionError:
    return UntraceableFunctionError(
        f"jacx cannot differentiate {_name(f)}: it converts a JAX value to a NumPy array or Python number "
        f"({type(err).__name__}). Write the function with jax.numpy (import jax.numpy as jnp; jnp.sin, jnp.exp, "
        "...) instead of numpy or math, and avoid float()/int()/np.asarray() on its inputs."
    )


class _Program:
    """A compiled program for one structure: ``run(consts, literals, leaves)``."""

    __slots__ = ("jitted",)

    def __init__(self, traced: Traced, in_tree: Any, make: Callable) -> None:
        traced = traced.skeleton()  # the program, without the first trace's constants (they are not kept alive)

        def run(consts: list, literals: list, leaves: list) -> Any:
            args, kwargs = jax.tree_util.tree_unflatten(in_tree, leaves)
            return make(evaluator(traced, in_tree, consts, literals))(*args, **kwargs)

        self.jitted = jax.jit(run)


class _Record:
    """What a guarded fast call needs: the program and the constants of the trace the guard vouches for.

    A record used again and again (the function's state is stable) gets its own executable with the constants
    baked in, so XLA can fold them as under the user's own ``jax.jit``; the guard still runs before every call.
    """

    __slots__ = ("program", "consts", "literals", "calls", "baked", "bake_after")

    def __init__(self, program: _Program, consts: Any, literals: dict, bake_after: int = _BAKE_AFTER_CALLS) -> None:
        # on the device once, rather than sent with every call
        self.program, self.consts, self.literals = program, jax.device_put(consts), jax.device_put(literals)
        self.calls = 0
        self.baked: Callable | None = None
        self.bake_after = bake_after

    def run(self, leaves: list) -> Any:
        if self.baked is not None:
            return self.baked(*leaves)
        self.calls += 1
        if self.calls == self.bake_after and _const_size(self.consts) <= _BAKE_MAX_ENTRIES:
            jitted, consts, literals = self.program.jitted, self.consts, self.literals
            self.baked = jax.jit(lambda *xs: jitted(consts, literals, list(xs)))
            return self.baked(*leaves)
        return self.program.jitted(self.consts, self.literals, leaves)


def _const_size(consts: Any) -> int:
    return sum(int(np.size(c)) for c in jax.tree_util.tree_leaves(consts))


class AutoJit:
    """Call ``make(f)`` compiled and cached, re-tracing whenever the cached program cannot be proven valid.

    ``f`` is the user's function, ``spec`` the transform's options (part of every key), and ``make(fun)`` builds
    the transformed function (e.g. its Jacobian) from any function with ``f``'s signature.

    >>> import jax.numpy as jnp
    >>> w = jnp.array(2.0)
    >>> f = lambda x: w * x
    >>> double = AutoJit(f, "doc", lambda fun: fun)
    >>> double(jnp.ones(2))
    Array([2., 2.], dtype=float32)
    >>> w = jnp.array(5.0)        # rebound: the next call sees it
    >>> double(jnp.ones(2))
    Array([5., 5.], dtype=float32)
    """

    __slots__ = ("f", "spec", "make", "enabled", "where", "bake_after", "_guard", "_reason", "_records", "_last_sig",
                 "_last", "_programs_made", "_eager", "__weakref__")
    _jacx_guard_children = ("f",)

    def __init__(self, f: Callable, spec: Hashable, make: Callable[[Callable], Callable], enabled: bool = True,
                 where: str = "jacx", bake_after: int = _BAKE_AFTER_CALLS) -> None:
        self.f = f
        self.bake_after = bake_after  # calls in one state before its constants are compiled in (1: at once)
        self.spec = spec
        self.make = make
        self.enabled = enabled
        self.where = where
        self._guard: Guard | None = None
        self._reason: str | None = None
        self._records: dict = {}
        self._last_sig: Any = None
        self._last: _Record | None = None
        self._programs_made = 0
        self._eager = False

    # ------------------------------------------------------------------------------------------------ calling
    def eager(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return self.make(self.f)(*args, **kwargs)
        except jax.errors.TracerArrayConversionError as err:
            raise _untraceable_error(self.f, err) from err

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # the fast path: plain arrays of the shapes seen last time, and a guard that still holds
        last = self._last
        if last is not None and not kwargs:
            for a in args:
                if type(a) is not _CONCRETE_ARRAY:
                    break
            else:
                if ((_trace_context(), *[a.aval for a in args]) == self._last_sig
                        and self._guard.holds()):  # type: ignore[union-attr]
                    return last.run(list(args))
        return self._call(args, kwargs)

    def _call(self, args: tuple, kwargs: dict) -> Any:
        if not (self.enabled and _state["enabled"]) or self._eager:
            return self.eager(*args, **kwargs)
        leaves, in_tree = jax.tree_util.tree_flatten((args, kwargs))
        if is_tracing(leaves):
            return self.eager(*args, **kwargs)  # inside the user's own transformation: nothing to add
        if not all(isinstance(leaf, _ARRAY_TYPES) for leaf in leaves):
            bad = next(leaf for leaf in leaves if not isinstance(leaf, _ARRAY_TYPES))
            warn_once(("args", _code_of(self.f)), f"{self.where}: {_name(self.f)} was called with a "
                       f"{type(bad).__name__} argument, which is not an array, so jacx runs it without compiling "
                       "(slower per call). Pass only arrays and pytrees of arrays, or wrap the call in jax.jit "
                       "with that argument marked static.")
            return self.eager(*args, **kwargs)
        # settings such as x64 or the promotion rules change how a function traces: part of every key
        sig = (_trace_context(), in_tree,
               tuple(leaf.aval if type(leaf) is _CONCRETE_ARRAY else jax.typeof(leaf) for leaf in leaves))
        guard = self._guard
        if guard is not None and guard.holds():
            record = self._records.get(sig)
            if record is not None:
                return record.run(leaves)
        elif self._reason is None:
            # a rebound global or attribute holding another array or number: the same guard with the new objects
            # (no new analysis needed); anything else: analyse again
            found = (guard.refreshed() if guard is not None else None) or analyze(self.f)
            self._records, self._last, self._last_sig = {}, None, None  # records were vouched for by the old guard
            if isinstance(found, Guard):
                self._guard = found
            elif found.inside_transform:  # f is part of the user's own jit/grad trace: nothing to add, nothing to say
                self._guard = None
                return self.eager(*args, **kwargs)
            else:
                self._guard, self._reason = None, found
                warn_once(("state", _code_of(self.f)), (
                    f"{self.where}: {_name(self.f)} reads state that can change between calls ({found}), so jacx "
                    "traces it again on every call to stay correct (about the cost of one evaluation). To avoid "
                    "this, pass that state as an argument, e.g. jacx.jacobian(f, argnums=0)(x, params), or "
                    "compile explicitly with jax.jit."))
        try:
            traced = trace(self.f, leaves, in_tree)
        except _UNTRACEABLE_UNDER_JIT as err:
            self._eager = True
            warn_once(("untraceable", _code_of(self.f)), (
                f"{_name(self.f)} cannot be compiled with jax.jit ({type(err).__name__}: it uses a Python `if`, "
                "`int()` or similar on an array value), so jacx evaluates it without jit, which is much slower per "
                "call. To make it fast, use jnp.where or jax.lax.cond instead of Python control flow on array "
                "values."))
            return self.eager(*args, **kwargs)
        except jax.errors.TracerArrayConversionError as err:
            raise _untraceable_error(self.f, err) from err
        program = self._program(traced, in_tree, sig)
        if program is None:
            return self.eager(*args, **kwargs)
        if self._guard is not None:  # the guard vouches for this trace: remember it for the fast path
            record = _Record(program, traced.consts, traced.literals, self.bake_after)
            if len(self._records) >= _MAX_RECORDS:
                self._records.clear()
            self._records[sig] = record
            if not kwargs and all(type(a) is _CONCRETE_ARRAY for a in args):
                self._last, self._last_sig = record, (_trace_context(), *[a.aval for a in args])
            return record.run(leaves)
        return program.jitted(traced.consts, traced.literals, leaves)

    def _program(self, traced: Traced, in_tree: Any, sig: Any) -> _Program | None:
        key = (self.spec, sig, traced.key)
        program = _programs.get(key)
        if program is not None:
            return program
        self._programs_made += 1
        if self._programs_made > _MAX_PROGRAMS_PER_FUNCTION:
            self._eager = True
            warn_once(("recompiles", _code_of(self.f)), (
                f"{self.where}: {_name(self.f)} produced {_MAX_PROGRAMS_PER_FUNCTION} differently structured "
                "programs (its Python control flow or shapes keep changing), so jacx stops compiling it and runs "
                "it eagerly. Pass what changes as an argument, or compile explicitly with jax.jit."))
            return None
        program = _Program(traced, in_tree, self.make)
        _programs.put(key, program)
        return program
