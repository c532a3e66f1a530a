"""Proving that a user's function still means what it meant: guards on everything it can read.

A compiled Jacobian of ``f`` is only valid while ``f`` computes the same thing. Besides its arguments, ``f`` can
read its closure cells, the globals its code names (and, through them, helper functions at any depth with their
own cells and globals), its default arguments, the bound object of a method, the pieces of a
``functools.partial``, the rules of a ``jax.custom_jvp``. :func:`analyze` walks all of that once and returns a
:class:`Guard`: a list of cheap reads ("the global ``W`` of module ``m``", "cell 0 of ``helper``") together with the
objects they returned. The guard *holds* when every read returns the very same object again.

Identity proves equality only for objects that cannot change in place and cannot be collected while we look at
them. So the guard keeps a strong reference to every object it compares against (an id can never be reused for
another object while it is alive), and :func:`analyze` accepts only objects whose value cannot change: numbers,
strings, tuples of such, JAX arrays (immutable), NumPy scalars and dtypes, functions (analysed recursively),
modules of numerical libraries; objects of the user's classes are guarded attribute by attribute together with
their class (methods, class attributes), so rebinding ``model.W`` is seen. Anything that can change in place
without a new binding -- a dict or list of parameters, a NumPy array, an iterator, a user module, a function that
assigns globals or calls ``globals()`` -- makes the function *unprovable*; :func:`analyze` then returns the reason
and the caller re-traces ``f`` on every call instead of trusting a cached trace.

Functions of trusted libraries (JAX, NumPy, SciPy, math, ...) are taken as constant apart from their closure
cells, which are analysed like any other (``jax.vmap(g)`` keeps ``g`` in a cell). ``numpy.random`` and Python's
``random``/``time`` modules are not trusted: they read hidden state.
"""

from __future__ import annotations

import builtins
import collections
import dis
import enum
import functools
import operator
import sys
import types
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

__all__ = ["Guard", "Ident", "Unprovable", "analyze", "is_library_name"]

_TRUSTED_TOP = frozenset({
    "jax", "jaxlib", "numpy", "scipy", "math", "cmath", "operator", "functools", "itertools", "builtins",
    "opt_einsum", "ml_dtypes", "optax", "jacx", "typing", "abc", "enum", "dataclasses", "collections", "sympy",
    "mpmath",
})
_UNTRUSTED_PREFIXES = ("numpy.random", "jax._src.random_state")
_UNSAFE_BUILTINS = frozenset({
    "globals", "vars", "locals", "eval", "exec", "compile", "__import__", "open", "input", "breakpoint",
})
_IMMUTABLE_TYPES = (type(None), bool, int, float, complex, str, bytes, type(Ellipsis), type(NotImplemented), range,
                    np.generic, np.dtype, enum.Enum, jax.ShapeDtypeStruct, type(jax.tree_util.tree_structure(0)),
                    jax.Device, jax.sharding.Mesh)  # a mesh holds its devices in a read-only array
_MUTABLE_LIBRARY_TYPES = (dict, list, set, bytearray, memoryview, np.ndarray, types.SimpleNamespace,
                          types.MappingProxyType, collections.deque, np.random.RandomState, np.random.Generator,
                          type({}.keys()), type({}.values()), type({}.items()), types.GeneratorType)
# modules whose objects are containers or iterators in general: only the types handled one by one are trusted
_GENERIC_MODULES = frozenset({"builtins", "collections", "itertools", "functools", "operator", "types", "typing", "abc",
                              "enum", "dataclasses"})
_IMMUTABLE_GENERIC = (operator.itemgetter, operator.attrgetter, operator.methodcaller)
_MAX_NODES = 4000
# special methods that change what an object computes when it is called, indexed or read
_CLASS_DUNDERS = frozenset({"__call__", "__getattr__", "__getattribute__", "__getitem__", "__get__", "__init__",
                            "__new__", "__add__", "__mul__", "__matmul__", "__radd__", "__rmul__", "__rmatmul__",
                            "__sub__", "__rsub__", "__truediv__", "__neg__", "__jax_array__", "__array__"})
_MISSING = object()


def is_library_name(module_name: str | None) -> bool:
    """True for modules of the trusted numerical libraries (their attributes are taken as constant).

    >>> is_library_name("jax.numpy"), is_library_name("numpy.random"), is_library_name("my_model")
    (True, False, False)
    """
    if not module_name:
        return False
    if module_name.startswith(_UNTRUSTED_PREFIXES):
        return False
    return module_name.split(".", 1)[0] in _TRUSTED_TOP


class Guard:
    """Reads that must all return the same objects as when the guard was made; see :func:`analyze`.

    >>> import jax.numpy as jnp
    >>> scale = jnp.array(2.0)
    >>> g = analyze(lambda x: scale * x)
    >>> g.holds()
    True
    >>> scale = jnp.array(3.0)   # rebinding the global the function reads
    >>> g.holds()
    False
    """

    __slots__ = ("getters", "expected", "slots")

    def __init__(self, getters: list[Callable[[], Any]], expected: list[Any], slots: list[bool] | None = None) -> None:
        self.getters = tuple(getters)
        self.expected = tuple(expected)  # strong references: an id cannot be reused while we hold the object
        self.slots = tuple(slots) if slots is not None else (False,) * len(self.getters)

    def holds(self) -> bool:
        try:
            for get, want in zip(self.getters, self.expected):
                if get() is not want:
                    return False
        except Exception:  # an empty cell, a deleted attribute: the function has changed
            return False
        return True

    def refreshed(self) -> Guard | None:
        """When the guard fails only because value slots now hold other immutable leaves (a rebound global array,
        a new float, a new attribute value), the guard for the new state, made without a new analysis (the
        leaves bring no further reads); otherwise ``None``.

        >>> import jax.numpy as jnp
        >>> w = jnp.ones(2)
        >>> g = analyze(lambda x: w * x)
        >>> w = jnp.zeros(2)
        >>> g.holds(), g.refreshed().holds()
        (False, True)
        """
        new = list(self.expected)
        for i, (get, want, slot) in enumerate(zip(self.getters, self.expected, self.slots)):
            try:
                now = get()
            except Exception:
                return None
            if now is want:
                continue
            if not (slot and _is_leaf(now) and _is_leaf(want)):
                return None
            new[i] = now
        return Guard(list(self.getters), new, list(self.slots))

    def values(self) -> tuple:
        """The guarded objects, for use in a cache key (compare them by identity, see :class:`Ident`)."""
        return tuple(Ident(v) for v in self.expected)


def _is_leaf(v: Any) -> bool:
    """An immutable value that reaches nothing else (so guarding it adds no further reads)."""
    if isinstance(v, jax.core.Tracer) or isinstance(v, enum.Enum):
        return False
    return isinstance(v, (jax.Array, type(None), bool, int, float, complex, str, bytes, np.generic))


class Ident:
    """Wraps an object so that a cache key compares it by identity while keeping it alive (no id reuse).

    >>> a = [1]
    >>> Ident(a) == Ident(a), Ident(a) == Ident([1])
    (True, False)
    """

    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Ident) and other.obj is self.obj

    def __hash__(self) -> int:
        return id(self.obj)

    def __repr__(self) -> str:
        return f"Ident({type(self.obj).__name__} at {id(self.obj):#x})"


class _Unprovable(Exception):
    """Raised inside the analysis with the reason a function may change behind our back."""


class _InsideTransform(_Unprovable):
    """The function closes over a value an enclosing JAX transformation is tracing: it is part of that trace."""


class Unprovable(str):
    """The reason no guard could be made (a string); ``inside_transform`` when ``f`` closes over a value being
    traced by an enclosing JAX transformation, where compiling separately cannot help anyway."""

    inside_transform = False


def _get_attr(obj: Any, name: str) -> Callable[[], Any]:
    return functools.partial(getattr, obj, name)


def _describe(obj: Any) -> str:
    return getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or type(obj).__name__


class _Analysis:
    def __init__(self) -> None:
        self.getters: list[Callable[[], Any]] = []
        self.expected: list[Any] = []
        self.slots: list[bool] = []
        self.seen: set[int] = set()
        self.globals_seen: set[tuple[int, str]] = set()
        self.keep: list[Any] = []  # so that ids in `seen` stay unique during the walk

    def guard(self, getter: Callable[[], Any], value: Any, slot: bool = True) -> None:
        """Add a read. ``slot``: the read names one value (a global, a cell, an attribute, a dict entry) that may
        be replaced by another immutable leaf without re-analysis; structural reads (sizes, code, classes) may not."""
        self.getters.append(getter)
        self.expected.append(value)
        self.slots.append(slot)

    def mapping(self, d: dict, where: str) -> None:
        """A small dict that is part of a function (keyword defaults, partial keywords): guard its entries."""
        self.guard(functools.partial(len, d), len(d), slot=False)
        for k, v in d.items():
            self.guard(functools.partial(d.get, k, _MISSING), v)
            self.value(v, f"{where}[{k!r}]")

    def value(self, v: Any, where: str) -> None:
        if id(v) in self.seen:
            return
        self.seen.add(id(v))
        self.keep.append(v)
        if len(self.seen) > _MAX_NODES:
            raise _Unprovable(f"it reaches more than {_MAX_NODES} objects")
        if isinstance(v, jax.core.Tracer):
            raise _InsideTransform(f"{where} is a value being traced by an enclosing JAX transformation")
        if type(v).__module__.startswith("sympy.") and hasattr(v, "free_symbols"):
            return  # SymPy expressions are immutable
        if isinstance(v, enum.Enum):  # a member is constant, but its class's methods and attributes are not
            self.value(type(v), f"the class of {where}")
            return
        if isinstance(v, _IMMUTABLE_TYPES) or isinstance(v, jax.Array):
            return
        if type(v) in (tuple, frozenset) or isinstance(v, tuple) and hasattr(type(v), "_fields"):
            if type(v) not in (tuple, frozenset):
                self.value(type(v), f"the class of {where}")
            for i, item in enumerate(v):
                self.value(item, f"{where}[{i}]")
            return
        if hasattr(type(v), "__next__"):
            raise _Unprovable(f"{where} is an iterator ({_describe(type(v))}), which changes as it is consumed")
        if isinstance(v, _MUTABLE_LIBRARY_TYPES):
            raise _Unprovable(f"{where} is a {type(v).__module__}.{type(v).__name__}, which can change in place")
        if isinstance(v, types.ModuleType):
            if not is_library_name(v.__name__):
                raise _Unprovable(f"{where} is the module {v.__name__}, whose attributes can be rebound")
            return
        if isinstance(v, types.FunctionType):
            self.function(v, where)
            return
        if isinstance(v, functools.partial):
            self.value(v.func, where)
            self.value(v.args, f"{where}.args")
            if v.keywords:
                self.mapping(v.keywords, f"{where}.keywords")
            return
        if isinstance(v, types.MethodType):
            self.value(v.__self__, f"{where}.__self__")
            self.value(v.__func__, where)
            return
        if isinstance(v, types.BuiltinFunctionType):
            owner = v.__self__
            if owner is None or isinstance(owner, types.ModuleType):
                if owner is not None and not is_library_name(owner.__name__):
                    raise _Unprovable(f"{where} is {_describe(v)} of module {owner.__name__}, which reads hidden state")
                return
            self.value(owner, f"{where}.__self__")
            return
        if isinstance(v, type):
            self.cls(v, where)
            return
        children = getattr(type(v), "_jacx_guard_children", None)
        if children is not None:  # jacx's own callables say what they read
            for name in children:
                self.guard(_get_attr(v, name), getattr(v, name))
                self.value(getattr(v, name), f"{where}.{name}")
            return
        if isinstance(v, (jax.custom_jvp, jax.custom_vjp)):
            for name in ("fun", "jvp", "fwd", "bwd"):
                if hasattr(v, name):
                    self.guard(_get_attr(v, name), getattr(v, name))
                    self.value(getattr(v, name), f"{where}.{name}")
            return
        module = type(v).__module__
        wrapped = getattr(v, "__wrapped__", None)
        if wrapped is not None and module.split(".", 1)[0] in ("jax", "jaxlib"):  # jax.jit(g) and friends
            self.value(wrapped, f"{where}.__wrapped__")
            return
        if module.split(".", 1)[0] in _GENERIC_MODULES and not isinstance(v, _IMMUTABLE_GENERIC):
            raise _Unprovable(f"{where} is a {module}.{_describe(type(v))}, which may change in place")
        if is_library_name(module):
            state = getattr(v, "__dict__", None)
            if isinstance(state, dict):  # e.g. jax's HashablePartial: guard and analyse each attribute
                self.guard(functools.partial(len, state), len(state), slot=False)
                for k, item in state.items():
                    self.guard(functools.partial(state.get, k, _MISSING), item)
                    if type(item) is dict:  # a library object's own small dict (keyword arguments)
                        self.mapping(item, f"{where}.{k}")
                    else:
                        self.value(item, f"{where}.{k}")
            return  # numpy ufuncs, PyTreeDefs, shardings: library objects without settable attributes
        self.instance(v, where)

    def instance(self, v: Any, where: str) -> None:
        """An object of a user's class: its class (methods, class attributes) and every attribute it holds are
        guarded; what those attributes are is analysed like any other value."""
        cls = type(v)
        self.guard(functools.partial(type, v), cls, slot=False)  # __class__ can be reassigned
        self.value(cls, f"the class of {where}")
        state = getattr(v, "__dict__", None)
        if isinstance(state, dict):
            self.guard(functools.partial(len, state), len(state), slot=False)
            for k, item in state.items():
                self.guard(functools.partial(state.get, k, _MISSING), item)
                self.value(item, f"{where}.{k}")
        elif state is not None:
            raise _Unprovable(f"{where} is a {_describe(cls)} object with an unusual __dict__")
        for k in cls.__mro__:
            slots = k.__dict__.get("__slots__", ())
            for slot in (slots,) if isinstance(slots, str) else slots:
                if slot in ("__dict__", "__weakref__"):
                    continue
                item = getattr(v, slot, _MISSING)
                self.guard(functools.partial(getattr, v, slot, _MISSING), item)
                if item is not _MISSING:
                    self.value(item, f"{where}.{slot}")

    def function(self, fn: types.FunctionType, where: str) -> None:
        name = _describe(fn)
        self.guard(_get_attr(fn, "__code__"), fn.__code__, slot=False)
        self.guard(_get_attr(fn, "__defaults__"), fn.__defaults__, slot=False)
        self.guard(_get_attr(fn, "__kwdefaults__"), fn.__kwdefaults__, slot=False)
        if fn.__defaults__:
            self.value(fn.__defaults__, f"the default arguments of {name}")
        if fn.__kwdefaults__:
            self.mapping(fn.__kwdefaults__, f"the keyword defaults of {name}")
        for var, cell in zip(fn.__code__.co_freevars, fn.__closure__ or ()):
            try:
                contents = cell.cell_contents
            except ValueError:
                raise _Unprovable(f"the variable {var} captured by {name} is not assigned yet") from None
            self.guard(_get_attr(cell, "cell_contents"), contents)
            self.value(contents, f"{var} (captured by {name})")
        state = fn.__dict__  # function attributes (f.scale = ...) are state too
        if state:
            self.mapping(state, f"the attributes of {name}")
        else:
            self.guard(functools.partial(len, state), 0, slot=False)
        defined_in = fn.__globals__.get("__name__")  # not __module__, which functools.wraps overwrites
        if is_library_name(defined_in) and not fn.__code__.co_filename.startswith("<"):
            return  # a library's globals are taken as constant (code typed at a prompt or in a doctest is not)
        self.code(fn.__code__, fn.__globals__, name)

    def cls(self, klass: type, where: str) -> None:
        """A class reached by the function (called, or the class of a member or named tuple): its attributes and
        methods, along its bases, are guarded like a function's globals."""
        for k in klass.__mro__:
            if k is object or is_library_name(k.__module__):
                continue
            space = k.__dict__
            self.guard(functools.partial(len, space), len(space), slot=False)
            for attr, item in space.items():
                if attr.startswith("__") and attr.endswith("__"):
                    if attr not in _CLASS_DUNDERS:
                        continue
                elif attr.startswith("_") and attr.endswith("_"):
                    continue  # the machinery's own tables (enum members, named tuple field defaults)
                self.guard(functools.partial(space.get, attr, _MISSING), item)
                if isinstance(item, (staticmethod, classmethod)):
                    item = item.__func__
                elif isinstance(item, property):
                    item = (item.fget, item.fset)
                self.value(item, f"{_describe(k)}.{attr}")

    def code(self, code: types.CodeType, glb: dict, name: str) -> None:
        own = frozenset(code.co_cellvars)
        module: Any = None  # the module an attribute chain is being read from (np -> np.random -> ...)
        for ins in dis.get_instructions(code):
            op = ins.opname
            if op in ("LOAD_ATTR", "LOAD_METHOD", "IMPORT_FROM") and module is not None:
                module = self.module_attribute(module, ins.argval, name)
                continue
            module = None
            if op == "LOAD_GLOBAL":
                module = self.global_name(ins.argval, glb, name)
            elif op in ("STORE_GLOBAL", "DELETE_GLOBAL"):
                raise _Unprovable(f"{name} assigns the global {ins.argval}")
            elif op in ("STORE_DEREF", "DELETE_DEREF") and ins.argval not in own:
                raise _Unprovable(f"{name} assigns the captured variable {ins.argval}")
            elif op in ("LOAD_NAME", "STORE_NAME", "LOAD_CLASSDEREF", "LOAD_FROM_DICT_OR_GLOBALS"):
                raise _Unprovable(f"{name} reads names dynamically ({op})")
            elif op == "IMPORT_NAME":
                if not is_library_name(ins.argval):
                    raise _Unprovable(f"{name} imports {ins.argval}")
                module = sys.modules.get(ins.argval)
            elif op == "LOAD_DEREF" and ins.argval not in own:
                module = None  # closure cells are analysed with the function
        for const in code.co_consts:  # nested functions, lambdas and comprehensions read the same globals
            if isinstance(const, types.CodeType):
                self.code(const, glb, name)

    def module_attribute(self, module: types.ModuleType, attr: str, name: str) -> Any:
        """``module.attr`` read by the code: a submodule continues the chain; a method bound to an object (a random
        generator's) is analysed; the library's functions and classes are constant."""
        item = getattr(module, attr, _MISSING)
        if isinstance(item, types.ModuleType):
            if not is_library_name(item.__name__):
                raise _Unprovable(f"{name} reads {module.__name__}.{attr}, which reads hidden state")
            return item
        if isinstance(item, (types.BuiltinMethodType, types.MethodType)) and not isinstance(
                item.__self__, (types.ModuleType, type(None), type)):
            self.value(item.__self__, f"{module.__name__}.{attr} (read by {name})")
        return None

    def global_name(self, gname: str, glb: dict, name: str) -> Any:
        """Guard the global ``gname``; returns its value when it is a module (for attribute chains)."""
        value = glb.get(gname, _MISSING)
        key = (id(glb), gname)
        if key in self.globals_seen:
            return value if isinstance(value, types.ModuleType) else None
        self.globals_seen.add(key)
        self.guard(functools.partial(glb.get, gname, _MISSING), value)
        if value is not _MISSING:
            self.value(value, f"the global {gname} (read by {name})")
            return value if isinstance(value, types.ModuleType) else None
        if gname in _UNSAFE_BUILTINS:
            raise _Unprovable(f"{name} calls {gname}(), which can reach any state")
        space = glb.get("__builtins__", builtins)
        space = space.__dict__ if isinstance(space, types.ModuleType) else space
        if isinstance(space, dict) and gname in space:
            self.guard(functools.partial(space.get, gname, _MISSING), space[gname])
            self.value(space[gname], f"the builtin {gname}")
        return None


def analyze(f: Any) -> Guard | Unprovable:
    """A :class:`Guard` that holds exactly while ``f`` reads the same state, or the reason (a string) why no such
    guard can be made (``f`` reads something that can change in place).

    >>> import jax.numpy as jnp
    >>> isinstance(analyze(lambda v: jnp.sin(v) * 2.0), Guard)
    True
    >>> params = {"w": jnp.ones(3)}
    >>> analyze(lambda v: params["w"] * v)
    'the global params (read by <lambda>) is a builtins.dict, which can change in place'
    """
    analysis = _Analysis()
    try:
        analysis.value(f, _describe(f))
    except _Unprovable as why:
        reason = Unprovable(str(why))
        reason.inside_transform = isinstance(why, _InsideTransform)
        return reason
    except RecursionError:
        return Unprovable("its state is nested too deeply to check")
    return Guard(analysis.getters, analysis.expected, analysis.slots)
