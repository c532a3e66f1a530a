"""Running a cut plan (:mod:`jacx._cuts`) as part of one traced program, and :func:`explain`.

Every piece of the chain becomes a function of one flat vector (the values of its input cut, concatenated) that
returns the flat vector of its output cut, plus the plain values later pieces read (weights it derived, integer
values): those carry no derivative. The pieces run once in program order, each linearized (forward pieces, with
:func:`jax.linearize`) or pulled back (reverse pieces, with :func:`jax.vjp`) at the current point; then the plan
tree is evaluated with batched seeds (``vmap`` over the columns or rows of an identity or of a smaller Jacobian)
and matrix products. The whole plan is traced inside the compiled Jacobian, so jacx's compile cache holds it with
the rest: the plan depends only on the program's structure and shapes, which are part of that cache's key.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend import core as _core

from ._api import check_function, normalise_argnums, split_args, warn_once
from ._cuts import Plan, analyse, piece_modes
from ._errors import JacxUsageError
from ._program import _run

__all__ = ["cut_jacobian", "explain"]

_UNTRACEABLE = (jax.errors.ConcretizationTypeError, jax.errors.TracerBoolConversionError,
                jax.errors.TracerIntegerConversionError, jax.errors.TracerArrayConversionError)


class _Piece(NamedTuple):  # what _program._run reads of a jaxpr
    constvars: list
    invars: list
    eqns: list
    outvars: list


def _matrix(plan: Plan, consts: Sequence[Any], leaves: Sequence[Any]) -> jax.Array:
    """The ``m x n`` Jacobian of the planned program at ``leaves``, following ``plan.tree``."""
    jaxpr = plan.closed.jaxpr
    eqns, bounds, cuts, widths = jaxpr.eqns, plan.bounds, plan.cuts, plan.widths
    p = len(widths) - 1
    dtype = jnp.dtype(plan.dtype)
    later_reads: list[set] = []  # values read by pieces after k (or returned)
    reads_after: set = {v for v in jaxpr.outvars if not isinstance(v, _core.Literal)}
    for k in range(p, 0, -1):
        later_reads.append(set(reads_after))
        for e in eqns[bounds[k - 1]:bounds[k]]:
            reads_after.update(v for v in e.invars if not isinstance(v, _core.Literal))
    later_reads.reverse()

    plain: dict = dict(zip(jaxpr.constvars, consts))  # values without derivative, known so far

    def piece_fn(k: int) -> Callable:
        ins = list(cuts[k - 1])
        outs = list(jaxpr.outvars) if k == p else list(cuts[k])
        defined = [v for e in eqns[bounds[k - 1]:bounds[k]] for v in e.outvars]
        carried = [v for v in defined if v in later_reads[k - 1] and v not in set(outs)] if k < p else []
        needed = {v for e in eqns[bounds[k - 1]:bounds[k]] for v in e.invars if not isinstance(v, _core.Literal)}
        needed |= {v for v in outs if not isinstance(v, _core.Literal)}
        fixed = [v for v in needed if v not in set(ins) and v not in set(defined)]
        fixed_values = [plain[v] for v in fixed]
        sub = _Piece([], ins + fixed, list(eqns[bounds[k - 1]:bounds[k]]), outs + carried)

        def fn(u: jax.Array) -> tuple[jax.Array, list]:
            values, off = [], 0
            for v in ins:
                size = int(np.prod(v.aval.shape, dtype=np.int64))
                values.append(u[off:off + size].reshape(v.aval.shape))
                off += size
            result = _run(sub, {}, [], [], values + fixed_values)
            flat = [jnp.ravel(jnp.asarray(r, dtype)) for r in result[:len(outs)]]
            return (jnp.concatenate(flat) if flat else jnp.zeros((0,), dtype)), result[len(outs):]

        return fn, carried

    modes = piece_modes(plan.tree)
    linear: dict[int, Callable] = {}
    u = jnp.concatenate([jnp.ravel(x).astype(dtype) for x in leaves])
    for k in range(1, p + 1):
        fn, carried = piece_fn(k)
        if modes[k] == "forward":
            u, linear[k], aux = jax.linearize(fn, u, has_aux=True)
        else:
            u, pullback, aux = jax.vjp(fn, u, has_aux=True)
            linear[k] = lambda w, pullback=pullback: pullback(w)[0]
        plain.update(zip(carried, aux))

    def push(i: int, j: int, seeds: jax.Array) -> jax.Array:  # (c_{i-1} x r) -> (c_j x r)
        def one(v: jax.Array) -> jax.Array:
            for k in range(i, j + 1):
                v = linear[k](v)
            return v
        return jax.vmap(one, in_axes=1, out_axes=1)(seeds)

    def pull(i: int, j: int, rows: jax.Array) -> jax.Array:  # (r x c_j) -> (r x c_{i-1})
        def one(w: jax.Array) -> jax.Array:
            for k in range(j, i - 1, -1):
                w = linear[k](w)
            return w
        return jax.vmap(one)(rows)

    def evaluate(tree: tuple) -> jax.Array:
        kind = tree[0]
        if kind == "forward":
            return push(tree[1], tree[2], jnp.eye(widths[tree[1] - 1], dtype=dtype))
        if kind == "reverse":
            return pull(tree[1], tree[2], jnp.eye(widths[tree[2]], dtype=dtype))
        if kind == "product":
            return jnp.matmul(evaluate(tree[2]), evaluate(tree[1]), precision=jax.lax.Precision.HIGHEST)
        if kind == "push":
            return push(tree[2][0], tree[2][1], evaluate(tree[1]))
        return pull(tree[1][0], tree[1][1], evaluate(tree[2]))

    return evaluate(plan.tree)


def cut_jacobian(g: Callable, primal: Any, in_leaves: list, out_leaves: list, in_tree: Any, out_tree: Any,
                 has_aux: bool, force: bool) -> Any:
    """The Jacobian of ``g`` at ``primal`` through a cut plan, laid out like :func:`jacx.jacobian`; ``None`` when
    ``mode="auto"`` should not use a plan (or, with ``force``, when there is none: after a one-time warning)."""

    n = sum(int(np.prod(jnp.shape(x), dtype=np.int64)) for x in in_leaves)
    m = sum(int(np.prod(y.shape, dtype=np.int64)) for y in out_leaves)
    if not force and min(n, m) < 4:  # a cut narrower than 3 entries cannot save 2x over 3 passes: skip the trace
        return None

    def flat(*xs: Any) -> Any:
        y = g(jax.tree_util.tree_unflatten(in_tree, list(xs)))
        return y[0] if has_aux else y

    try:
        plan = analyse(flat, [jax.ShapeDtypeStruct(jnp.shape(x), jnp.result_type(x)) for x in in_leaves],
                       force=force)
    except _UNTRACEABLE as err:  # Python control flow on values (jit=False): only concrete evaluation works
        plan = Plan(n=n, m=m, dtype="?", reason=f"it cannot be traced without values ({type(err).__name__})")
    if plan.tree is None or not (force or plan.use):
        if force:
            warn_once(("cut", plan.reason), f"jacx.jacobian(mode='cut'): no plan, {plan.reason}; computed as with "
                      "mode='auto' (jacx.explain(f, x) shows the analysis).")
        return None
    matrix = _matrix(plan, plan.closed.consts, in_leaves)
    blocks, row = [], 0
    for y in out_leaves:
        sy = int(np.prod(y.shape, dtype=np.int64))
        per_input, col = [], 0
        for x in in_leaves:
            sx = int(np.prod(jnp.shape(x), dtype=np.int64))
            block = matrix[row:row + sy, col:col + sx].reshape(tuple(y.shape) + tuple(jnp.shape(x)))
            per_input.append(block.astype(jnp.result_type(y.dtype, jnp.result_type(x))))
            col += sx
        blocks.append(jax.tree_util.tree_unflatten(in_tree, per_input))
        row += sy
    jac = jax.tree_util.tree_unflatten(out_tree, blocks)
    return (jac, g(primal)[1]) if has_aux else jac


def explain(f: Callable, *args: Any, argnums: int | Sequence[int] = 0, has_aux: bool = False,
            measure: bool = False, **kwargs: Any) -> Plan:
    """How jacx would accumulate the Jacobian of ``f`` at ``args``: the narrow cuts it found in the program, the
    pieces between them, each piece's mode, the order of the products, and the predicted cost of the plan against
    forward and reverse mode (``print`` the result). ``measure=True`` also times the compiled plan
    (``mode="cut"``) and jacx's forward and reverse modes here, and puts the figures in ``plan.measured``.

    >>> import jax.numpy as jnp, jacx
    >>> W1, W2 = jnp.ones((3, 50)) / 50, jnp.ones((50, 3))
    >>> plan = jacx.explain(lambda x: jnp.tanh(W2 @ jnp.tanh(W1 @ x)), jnp.ones(50))
    >>> plan.widths
    (50, 3, 50)
    >>> jacx.explain(jnp.sin, jnp.ones(3)).reason
    'no cut narrower than min(n, m) = 3'
    """
    check_function(f, "jacx.explain")
    if not args:
        raise JacxUsageError("jacx.explain(f, *args) needs the arguments to plan at; got none. Fix: "
                             "jacx.explain(f, x).")
    nums = normalise_argnums(tuple(argnums) if isinstance(argnums, list) else argnums, len(args))
    g, primal = split_args(f, nums, args, kwargs)
    leaves, in_tree = jax.tree_util.tree_flatten(primal)

    def flat(*xs: Any) -> Any:
        y = g(jax.tree_util.tree_unflatten(in_tree, list(xs)))
        return y[0] if has_aux else y

    plan = analyse(flat, leaves)
    if measure and plan.tree is not None:
        from ._dense import jacobian

        for name, mode in (("plan", "cut"), ("forward", "forward"), ("reverse", "reverse")):
            jac = jacobian(f, nums, mode=mode, has_aux=has_aux)
            jax.block_until_ready(jac(*args, **kwargs))  # compile
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                jax.block_until_ready(jac(*args, **kwargs))
                times.append(time.perf_counter() - t0)
            plan.measured[name] = min(times)
    return plan
