"""Global sparsity detection by abstract interpretation of a jaxpr.

Every jaxpr value carries a :class:`Val`: a boolean CSR pattern (rows = its flattened elements, columns = the
flattened input) and, when the value does not depend on the input, its constant value.  Constants let rules be
precise (a gather with constant indices is an exact index map; a product with a constant zero has no dependence).
Each primitive is one vectorised sparse operation, registered in ``RULES`` by the ``_rules_*`` modules.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp
from jax.extend import core as jcore

from jacx._api import BoundedCache, Ident, function_key, state_key
from jacx._errors import JacxUsageError, JacxWarning, UntraceableFunctionError
from jacx.sparse import _pattern as pt

__all__ = ["RULES", "Context", "Detection", "SparsityWarning", "Val", "bind", "detect", "eval_jaxpr", "register", "sparsity"]

_CONST_FOLD_LIMIT = 1 << 22


class SparsityWarning(JacxWarning):
    """Detection fell back to a conservative (dense) pattern for part of the function."""


@dataclass(frozen=True)
class Val:
    """Abstract value: the dependence pattern (``None`` = none) and the constant value when it is known."""

    pat: sp.csr_array | None
    const: np.ndarray | None = None


@dataclass
class Context:
    """Detection state shared by the rules: the number of input columns, the warnings already given and the
    primitives met on paths that depend on the input."""

    n: int
    warned: set[str]
    seen: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Detection:
    """What detection learns about ``f``: its pattern, output shapes and the primitives its derivative meets."""

    pattern: sp.csr_array
    out_shapes: tuple[tuple[int, ...], ...]
    primitives: frozenset[str]


Rule = Callable[[Context, Any, list[Val]], list[Val]]
RULES: dict[str, Rule] = {}


def register(*names: str) -> Callable[[Rule], Rule]:
    """Register a rule for the primitives called ``names``."""

    def deco(rule: Rule) -> Rule:
        for name in names:
            RULES[name] = rule
        return rule

    return deco


def size_of(aval: Any) -> int:
    return int(math.prod(aval.shape))


def is_float(aval: Any) -> bool:
    return bool(jnp.issubdtype(aval.dtype, jnp.inexact))


def dense_fallback(ctx: Context, eqn: Any, ins: list[Val], reason: str | None = None) -> list[Val]:
    """Conservative rule: every output element depends on everything any operand depends on."""
    name = eqn.primitive.name
    if name not in ctx.warned:
        ctx.warned.add(name)
        why = reason or "jacx has no sparsity rule for it"
        warnings.warn(
            f"sparsity: primitive '{name}' treated as dense for its outputs ({why}); the pattern stays correct "
            "but may have more entries than needed.",
            SparsityWarning,
            stacklevel=4,
        )
    pats = [pt.row_union(v.pat) for v in ins if v.pat is not None]
    row = pt.union(*pats)
    outs = []
    for o in eqn.outvars:
        if row is None or not is_float(o.aval):
            outs.append(Val(None))
        else:
            outs.append(Val(pt.broadcast_row(row, size_of(o.aval))))
    return outs


def bind(eqn: Any, args: Sequence[Any]) -> Any:
    """Apply the primitive of ``eqn`` to concrete ``args`` (what ``jax.core.eval_jaxpr`` does for one equation)."""
    params = eqn.primitive.get_bind_params(eqn.params)
    if isinstance(params, tuple):  # older JAX: (subfuns, params)
        subfuns, params = params
        return eqn.primitive.bind(*subfuns, *args, **params)
    return eqn.primitive.bind(*args, **params)


def _read(env: dict, v: Any) -> Val:
    if isinstance(v, jcore.Literal):
        return Val(None, np.asarray(v.val))
    return env[v]


def _fold(eqn: Any, ins: list[Val]) -> list[Val] | None:
    if any(size_of(o.aval) > _CONST_FOLD_LIMIT for o in eqn.outvars):
        return None
    try:
        with jax.ensure_compile_time_eval():
            res = bind(eqn, [v.const for v in ins])
    except Exception:  # noqa: BLE001 - folding is an optimisation only; fall back to the rule
        return None
    res = res if eqn.primitive.multiple_results else [res]
    return [Val(None, np.asarray(r)) for r in res]


def eval_jaxpr(ctx: Context, jaxpr: Any, consts: Sequence[Any], args: Sequence[Val]) -> list[Val]:
    """Propagate abstract values through ``jaxpr`` (a core Jaxpr) and return those of its outputs."""
    env: dict = {}
    for v, c in zip(jaxpr.constvars, consts):
        env[v] = Val(None, np.asarray(c))
    for v, a in zip(jaxpr.invars, args):
        env[v] = a
    for eqn in jaxpr.eqns:
        ins = [_read(env, v) for v in eqn.invars]
        outs = None
        if all(v.const is not None for v in ins) and not eqn.effects:
            outs = _fold(eqn, ins)
        if outs is None:
            if all(v.pat is None for v in ins) or not any(is_float(o.aval) for o in eqn.outvars):
                outs = [Val(None) for _ in eqn.outvars]
            else:
                ctx.seen.add(eqn.primitive.name)
                rule = RULES.get(eqn.primitive.name)
                outs = dense_fallback(ctx, eqn, ins) if rule is None else rule(ctx, eqn, ins)
                outs = [o if is_float(v.aval) else Val(None, o.const) for o, v in zip(outs, eqn.outvars)]
        for v, o in zip(eqn.outvars, outs):
            if not isinstance(v, jcore.DropVar):
                env[v] = o
    return [_read(env, v) for v in jaxpr.outvars]


def eval_closed(ctx: Context, closed: Any, args: Sequence[Val]) -> list[Val]:
    """:func:`eval_jaxpr` for a ClosedJaxpr (or a plain Jaxpr without constants)."""
    if hasattr(closed, "consts"):
        return eval_jaxpr(ctx, closed.jaxpr, closed.consts, args)
    return eval_jaxpr(ctx, closed, [], args)


def stack_outputs(ctx: Context, vals: Sequence[Val], avals: Sequence[Any]) -> sp.csr_array:
    """Stack the output patterns (flattened, in order) into one (m, n) matrix."""
    blocks = [v.pat if v.pat is not None else pt.empty(size_of(a), ctx.n) for v, a in zip(vals, avals)]
    if not blocks:
        return pt.empty(0, ctx.n)
    out = sp.csr_array(sp.vstack(blocks, format="csr"))
    out.sort_indices()
    return out


_CACHE = BoundedCache("sparsity patterns", maxsize=128)


def _load_rules() -> None:
    from jacx.sparse import (  # noqa: F401  (imported for their registrations)
        _rules_control,
        _rules_elementwise,
        _rules_linalg,
        _rules_structural,
    )


def detect_flat(f: Callable, x: Any, args: tuple = ()) -> Detection:
    """Pattern of ``f(x, *args)`` with respect to ``x`` (an array), uncached; ``args`` may take any value."""
    _load_rules()
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.inexact):
        raise JacxUsageError(
            f"sparsity: received an input of dtype {x.dtype}; expected a floating-point array. "
            "Fix: pass x as floats, e.g. jnp.asarray(x, dtype=float)."
        )
    specs = jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(jnp.shape(a), jnp.result_type(a)), args)
    try:
        # a fresh wrapper each time: JAX caches traces per function object, which would keep old constants
        closed = jax.make_jaxpr(lambda *a: f(*a))(jax.ShapeDtypeStruct(x.shape, x.dtype), *specs)
    except Exception as err:
        raise UntraceableFunctionError(
            f"sparsity: could not trace the function with an input of shape {x.shape} and dtype {x.dtype} "
            f"({type(err).__name__}: {err}). Expected a function written with jax.numpy / jax.lax. "
            "Fix: replace NumPy calls on the input by their jax.numpy equivalents."
        ) from err
    n = int(x.size)
    ctx = Context(n=n, warned=set())
    n_extra = len(closed.jaxpr.invars) - 1
    outs = eval_closed(ctx, closed, [Val(pt.identity(n))] + [Val(None)] * n_extra)
    out_avals = [v.aval for v in closed.jaxpr.outvars]
    pattern = stack_outputs(ctx, outs, out_avals)
    return Detection(pattern, tuple(tuple(a.shape) for a in out_avals), frozenset(ctx.seen))


def _key(x: jax.Array, args: tuple) -> tuple:
    leaves, tree = jax.tree_util.tree_flatten(args)
    return (tuple(x.shape), str(x.dtype), tree, tuple((jnp.shape(a), str(jnp.result_type(a))) for a in leaves))


def sparsity(f: Callable, *example_args: Any, argnums: int | tuple[int, ...] = 0, has_aux: bool = False,
             args: tuple = ()) -> sp.csr_array:
    """Global sparsity pattern of the Jacobian of ``f`` at inputs shaped like the example arguments.

    Returns a boolean ``scipy.sparse.csr_array`` of shape ``(m, n)`` over the flattened output and input.  It is
    detected from the jaxpr of ``f``, so it holds for every input of that shape and dtype, and it is conservative:
    an entry that can be nonzero for some input is never missing.  Extra arguments ``args`` (not differentiated)
    are called as ``f(x, *args)`` and the pattern holds for all their values.  Results are cached per function,
    input shape/dtype and the identities of what the function reads (closure cells, named globals).

    >>> import jax.numpy as jnp
    >>> import jacx.sparse
    >>> f = lambda x: x[1:] * x[:-1]
    >>> jacx.sparse.sparsity(f, jnp.ones(4)).toarray().astype(int)
    array([[1, 1, 0, 0],
           [0, 1, 1, 0],
           [0, 0, 1, 1]])

    Like :func:`jacx.sparse.jacobian`, ``sparsity(f, *example_args, argnums=0, has_aux=False)`` takes several
    arguments and pytrees: rows are the output flattened in ``ravel_pytree`` order, columns the differentiated
    arguments flattened in ``ravel_pytree`` order (of the tuple of them when ``argnums`` is a tuple); the other
    arguments are not differentiated and the pattern holds for all their values.

    >>> g = lambda a, t, b: (a["u"] * t, b[::-1])
    >>> a = {"u": jnp.ones(2)}
    >>> jacx.sparse.sparsity(g, a, 2.0, jnp.ones(2), argnums=(0, 2)).toarray().astype(int)
    array([[1, 0, 0, 0],
           [0, 1, 0, 0],
           [0, 0, 0, 1],
           [0, 0, 1, 0]])
    """
    from jacx.sparse._pytree import example_arguments, is_single_array, prepare_flat

    example_args = example_arguments(example_args, args, "sparsity", "sparsity(f, x)")
    if not (type(argnums) is int and argnums == 0 and not has_aux and is_single_array(example_args[0])):
        flat_f, x, rest, _, _ = prepare_flat(f, example_args, argnums, has_aux, "jacx.sparse.sparsity")
        return detect(flat_f, x, rest).pattern.copy()
    x, args = example_args[0], tuple(example_args[1:])
    return detect(f, x, args).pattern.copy()


def detect(f: Callable, x: Any, args: tuple = ()) -> Detection:
    """:func:`detect_flat`, cached per function, input shape/dtype and the identities of what ``f`` reads."""
    if not callable(f):
        raise JacxUsageError(
            f"sparsity: received {type(f).__name__} as the function; expected a callable f(x). "
            "Fix: pass the function itself, not its value."
        )
    x = jnp.asarray(x)
    # what f reads besides x is part of the key (see jacx._guards): a rebound constant with other zeros must not
    # reuse a pattern that could miss entries; when that state cannot be proven unchanged, detect afresh
    state = state_key(f)
    if isinstance(state, Ident):
        return detect_flat(f, x, args)
    key = (function_key(f), _key(x, args), state)
    found = _CACHE.get(key)
    if found is None:
        found = detect_flat(f, x, args)
        _CACHE.put(key, found)
    return found
