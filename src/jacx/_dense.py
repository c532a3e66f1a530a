"""Dense Jacobians: forward mode (one JVP per input column) and reverse mode (one VJP per output row).

The cost rule, stated correctly (some texts swap it): for F: R^n -> R^m,

* forward mode pushes one tangent per *input* direction, so it costs about ``n`` passes and wins when inputs
  are few;
* reverse mode pulls one cotangent per *output* direction, so it costs about ``m`` passes and wins when outputs
  are few (backpropagation: ``m = 1``).

``mode="auto"`` picks forward when ``n <= m`` and reverse otherwise, unless the program has a narrow cut that makes
a mixed plan at least twice as cheap (:mod:`jacx._cuts`); ``mode="cut"`` always follows the plan.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jax.sharding import Mesh

from ._api import (
    MODES,
    AutoJit,
    check_chunk_size,
    check_function,
    check_has_aux_output,
    check_input_dtypes,
    check_mode,
    function_key,
    memo_get,
    memo_put,
    normalise_argnums,
    split_args,
    warn_once,
)
from ._cut_plan import cut_jacobian
from ._errors import JacxUsageError, NonDifferentiablePointError, NotScalarOutputError
from ._memory import per_pass_bytes, plan_chunk
from ._sharding import Devices, context_mesh, mesh_size, place, resolve_mesh, sharded_apply

__all__ = ["jacobian", "jacobian_matrix", "gradient", "jvp", "vjp", "Mode"]

Mode = Literal["auto", "forward", "reverse", "cut"]

jvp = jax.jvp
vjp = jax.vjp


# --------------------------------------------------------------------------------------------------- core
def _size(x: Any) -> int:
    return math.prod(x.shape)


def _one_hot_tree(i: jax.Array, template: list, treedef: Any) -> Any:
    """The i-th standard basis vector of the flattened space, shaped like ``template`` leaves."""
    leaves, offset = [], 0
    for t in template:
        s = _size(t)
        leaves.append((jnp.arange(s) == (i - offset)).astype(t.dtype).reshape(t.shape))
        offset += s
    return jax.tree_util.tree_unflatten(treedef, leaves)


def _batched(fn: Callable, count: int, chunk_size: int | None) -> Any:
    idx = jnp.arange(count)
    if chunk_size is None or chunk_size >= count:
        return jax.vmap(fn)(idx)
    return jax.lax.map(fn, idx, batch_size=int(chunk_size))


def _jacobian_impl(
    f: Callable, argnums: Any, mode: str, has_aux: bool, chunk_size: int | None, args: tuple, kwargs: dict,
    mesh: Mesh | None = None,
) -> Any:
    argnums = normalise_argnums(argnums, len(args))
    if mesh is None:  # a mesh set with jax.set_mesh, as seen while tracing (part of jacx's compile-cache key)
        mesh = context_mesh("jacx.jacobian")
    g, primal = split_args(f, argnums, args, kwargs)
    in_leaves = check_input_dtypes(primal, "jacx.jacobian")
    in_tree = jax.tree_util.tree_structure(primal)
    out_shape, per_pass = per_pass_bytes(g, primal)
    if has_aux:
        check_has_aux_output(out_shape, "jacx.jacobian")
    y_shape = out_shape[0] if has_aux else out_shape
    out_leaves, out_tree = jax.tree_util.tree_flatten(y_shape)
    n = sum(_size(x) for x in in_leaves)
    m = sum(_size(y) for y in out_leaves)
    for y in out_leaves:
        if not jnp.issubdtype(y.dtype, jnp.floating):
            raise JacxUsageError(
                f"jacx.jacobian needs real floating-point outputs; an output has dtype {y.dtype} and shape {y.shape}."
            )
    forward = mode == "forward" or (mode in ("auto", "cut") and n <= m)
    itemsize = max(np.dtype(t.dtype).itemsize for t in (*in_leaves, *out_leaves))
    compiled = any(isinstance(leaf, jax.core.Tracer) for leaf in in_leaves)  # inside jit: fewer copies at peak
    d = mesh_size(mesh)
    seeds = n if forward else m
    # each device holds its share of the products (m x n/d forward, n x m/d reverse): planned per device
    chunk = plan_chunk(m if forward else -(-m // d), -(-n // d) if forward else n, -(-seeds // d), per_pass,
                       itemsize, chunk_size, compiled=compiled, reverse=not forward, devices=d)
    in_avals = [jax.ShapeDtypeStruct(jnp.shape(x), jnp.result_type(x)) for x in in_leaves]
    # a plan through narrow cuts of the program, planned here at trace time. Run eagerly (jit=False: no tracer
    # among the inputs) this body runs on every call, so mode="auto" does not plan: the analysis would be paid per
    # call and the plan's pieces would run op by op, costs the (compiled) cost model does not see
    if mode == "cut" or (mode == "auto" and compiled):
        if mesh is None and (chunk is None or chunk >= seeds):
            done = cut_jacobian(g, primal, in_leaves, out_leaves, in_tree, out_tree, has_aux, mode == "cut")
            if done is not None:
                return done
        elif mode == "cut":
            warn_once(("cut-off", d), "jacx.jacobian(mode='cut'): " + (
                "across devices the plan is not used (the seeds are split over the devices as with mode='auto')"
                if mesh is not None else "the Jacobian is built in chunks to fit in memory, which a plan does not "
                "do") + "; computed as with mode='auto'.")

    # one product per seed, after a preparation shared by all seeds (of one device): a JVP each, or one
    # linearization (forward, chunked) or one VJP (reverse) whose linear map every seed goes through
    if forward and (chunk is None or chunk >= seeds):
        def product(i, r):
            return jax.jvp(r[0], (r[1],), (_one_hot_tree(i, in_avals, in_tree),), has_aux=has_aux)[1]
        prepare = lambda r: r  # noqa: E731
    elif forward:
        def product(i, linear):
            return linear(_one_hot_tree(i, in_avals, in_tree))
        prepare = lambda r: jax.linearize(r[0], r[1], has_aux=has_aux)[1]  # noqa: E731
    else:
        def product(j, pullback):
            return pullback(_one_hot_tree(j, out_leaves, out_tree))[0]
        prepare = lambda r: jax.vjp(r[0], r[1], has_aux=has_aux)[1]  # noqa: E731
    aux = g(primal)[1] if has_aux else None

    def per_seed() -> Callable:
        ctx = prepare((g, primal))
        return lambda i: product(i, ctx)

    if mesh is None:
        stacked = _batched(per_seed(), seeds, chunk)
    else:  # the preparation runs on each device, inside the mapped body (what g closes over is replicated)
        stacked = sharded_apply(per_seed, jnp.arange(seeds), mesh, chunk=chunk)
    stacked = jax.tree_util.tree_leaves(stacked)  # forward: each (n, *out_shape); reverse: each (m, *in_shape)

    blocks = []
    if forward:
        for col, y in zip(stacked, out_leaves):
            per_input, off = [], 0
            for x in in_avals:
                s = _size(x)
                piece = jnp.moveaxis(col[off : off + s], 0, -1).reshape(y.shape + x.shape)
                per_input.append(piece.astype(jnp.result_type(y.dtype, x.dtype)))
                off += s
            blocks.append(jax.tree_util.tree_unflatten(in_tree, per_input))
    else:
        off = 0
        for y in out_leaves:
            s = _size(y)
            per_input = [
                r[off : off + s].reshape(y.shape + x.shape).astype(jnp.result_type(y.dtype, x.dtype))
                for r, x in zip(stacked, in_avals)
            ]
            blocks.append(jax.tree_util.tree_unflatten(in_tree, per_input))
            off += s
    if mesh is not None:  # keep the seed axes (input axes forward, output axes reverse) split over the devices
        spread = True
        for k, y in enumerate(out_leaves):
            k_out = len(y.shape)
            blocks[k], ok = place(blocks[k], mesh, lambda a, k_out=k_out: range(k_out, a.ndim) if forward
                                  else range(k_out))
            spread = spread and ok
        if not spread:
            warn_once(("unsharded", seeds, d), (
                f"jacx.jacobian: no {'input' if forward else 'output'} axis of the Jacobian divides evenly over the "
                f"{d} devices, so XLA keeps that block whole on every device (JAX shards only axes whose length "
                f"the device count divides). Use a number of devices that divides the {seeds} seeds, or pad the "
                "problem."))
    jac = jax.tree_util.tree_unflatten(out_tree, blocks)
    return (jac, aux) if has_aux else jac


def _all_finite(tree: Any) -> jax.Array:
    leaves = jax.tree_util.tree_leaves(tree)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in leaves])) if leaves else jnp.bool_(True)


def _raise_not_finite(result: Any, args: tuple, what: str) -> None:
    inputs_finite = all(
        bool(jnp.all(jnp.isfinite(a))) for a in jax.tree_util.tree_leaves(args) if jnp.issubdtype(jnp.result_type(a), jnp.inexact)
    )
    cause = (
        "the input itself contains NaN or infinity"
        if not inputs_finite
        else "the function or its derivative is not finite at this point (a non-differentiable point such as "
        "sqrt or log at 0, abs or norm at 0, or a division by zero)"
    )
    err = NonDifferentiablePointError(
        f"The {what} contains NaN or infinite entries: {cause}. Evaluate at a nearby point, rewrite the function "
        "(e.g. jnp.sqrt(x**2 + eps)), or pass check_finite=False to get the raw values."
    )
    err.result = result  # the computed values are kept for inspection
    raise err


def jacobian(
    f: Callable,
    argnums: int | Sequence[int] = 0,
    *,
    mode: Mode = "auto",
    has_aux: bool = False,
    chunk_size: int | None = None,
    jit: bool = True,
    check_finite: bool = False,
    devices: Devices = None,
) -> Callable:
    """The Jacobian of ``f`` as a function, laid out exactly like :func:`jax.jacfwd` / :func:`jax.jacrev`.

    For ``F: R^n -> R^m`` the result at ``x`` is the ``m x n`` matrix of partial derivatives ``dF_i / dx_j``; for
    array and pytree arguments each output leaf gets a block of shape ``output_shape + input_shape``.

    Args:
        f: the function to differentiate, written with ``jax.numpy``.
        argnums: which positional argument(s) to differentiate with respect to.
        mode: ``"forward"`` (one JVP per input entry, about ``n`` passes), ``"reverse"`` (one VJP per output entry,
            about ``m`` passes), ``"auto"``: forward when ``n <= m``, else reverse, unless a plan through narrow cuts
            of the program is predicted at least 2x cheaper (compiled calls only: with ``jit=False`` it plans
            nothing), or ``"cut"``: always that plan where the program allows one (see :func:`jacx.explain` and
            docs/cuts.md). Plans are not used across ``devices`` nor when the
            Jacobian must be built in chunks.
        has_aux: ``f`` returns ``(output, aux)``; the Jacobian function then returns ``(jacobian, aux)``.
        chunk_size: evaluate at most this many JVPs/VJPs at once, to bound memory. By default all at once, unless
            they would not fit in memory, in which case a chunk size that fits is chosen.
        jit: compile and cache the Jacobian per input shape (outside the user's own ``jax.jit``). The cache is
            never stale: jacx re-traces ``f`` whenever it cannot prove that what ``f`` reads is unchanged (see
            docs/dense.md, "Caching"). ``False`` runs the JAX transformation eagerly on every call.
        check_finite: raise :class:`~jacx.NonDifferentiablePointError` when the Jacobian has NaN/inf entries
            (only outside ``jit``/``vmap``, where values are concrete). Off by default, like JAX, because the check
            costs a device-to-host synchronisation on every call; the analysis functions (``linearize``,
            ``volume_change``, ``check_jacobian``) always check.
        devices: spread the JVPs/VJPs over several devices: ``"all"`` (every device of every process), a sequence
            of devices, or a ``jax.sharding.Mesh``; ``None``: one device, or the mesh set with ``jax.set_mesh`` when
            its axes are automatic. The result stays split over the devices along its input axes (forward) or
            output axes (reverse) where their length divides evenly; the memory check is per device. See
            docs/distributed.md.

    Raises:
        JacobianTooLargeError: the dense Jacobian would not fit in the available memory.

    >>> import jax.numpy as jnp, jacx
    >>> F = lambda v: jnp.array([v[0] ** 2 + v[1], v[0] * v[1]])
    >>> jacx.jacobian(F)(jnp.array([1.0, 2.0]))
    Array([[2., 1.],
           [2., 1.]], dtype=float32)
    """
    argnums = tuple(argnums) if isinstance(argnums, (list, tuple)) else argnums
    # None: one device, or the jax.set_mesh context found while tracing; a single device is today's path
    fixed = None if devices is None else resolve_mesh(devices, "jacx.jacobian")
    key = ("jacobian", function_key(f), argnums, mode, has_aux, chunk_size, jit, check_finite, fixed)
    made = memo_get(key)
    if made is not None:
        return made
    check_function(f, "jacx.jacobian")
    check_mode(mode, (*MODES, "cut"))
    check_chunk_size(chunk_size)
    return memo_put(key, _jacobian_on(f, argnums, mode, has_aux, chunk_size, jit, check_finite, fixed))


def _jacobian_on(f: Callable, argnums: Any, mode: Mode, has_aux: bool, chunk_size: int | None, jit: bool,
                 check_finite: bool, mesh: Mesh | None) -> Callable:
    """The Jacobian function of ``f`` on one device (``mesh=None``) or spread over ``mesh``."""

    def make(fun: Callable) -> Callable:
        def traceable(*args: Any, **kwargs: Any) -> Any:
            return _jacobian_impl(fun, argnums, mode, has_aux, chunk_size, args, kwargs, mesh)

        return traceable

    spec = ("jacobian", argnums, mode, has_aux, chunk_size) + (() if mesh is None else (("mesh", mesh),))
    if not check_finite:
        return AutoJit(f, spec, make, jit, "jacx.jacobian")

    def make_checked(fun: Callable) -> Callable:
        traceable = make(fun)

        def checked(*args: Any, **kwargs: Any) -> Any:
            result = traceable(*args, **kwargs)
            return result, _all_finite(result[0] if has_aux else result)

        return checked

    compiled = AutoJit(f, (*spec, "checked"), make_checked, jit, "jacx.jacobian")

    def jacobian_fn(*args: Any, **kwargs: Any) -> Any:
        result, finite = compiled(*args, **kwargs)
        if not isinstance(finite, jax.core.Tracer) and not np.asarray(finite):
            _raise_not_finite(result[0] if has_aux else result, args, "Jacobian")
        return result

    jacobian_fn.__name__ = f"jacobian({getattr(f, '__name__', 'f')})"
    jacobian_fn.__doc__ = f"Jacobian of {getattr(f, '__name__', 'f')} (mode={mode!r}, argnums={argnums!r})."
    return jacobian_fn


def jacobian_matrix(
    f: Callable, *, mode: Mode = "auto", chunk_size: int | None = None, jit: bool = True, check_finite: bool = False,
    devices: Devices = None,
) -> Callable:
    """The Jacobian of a one-argument ``f`` as a plain ``(m, n)`` matrix over the flattened output and input.

    Pytrees and arrays of any shape are flattened in ``jax.flatten_util.ravel_pytree`` order.  ``devices`` as for
    :func:`jacobian`.

    >>> import jax.numpy as jnp, jacx
    >>> jacx.jacobian_matrix(lambda X: X @ X)(jnp.eye(2)).shape
    (4, 4)
    """
    check_function(f, "jacx.jacobian_matrix")

    def flat_jacobian(x: Any) -> jax.Array:
        flat, unravel = ravel_pytree(x)
        leaves, treedef = jax.tree_util.tree_flatten(x)
        layout = (treedef, tuple((jnp.shape(v), jnp.result_type(v)) for v in leaves))
        flat_f = _FlatFunction(f, unravel, layout)
        return jacobian(flat_f, mode=mode, chunk_size=chunk_size, jit=jit, check_finite=check_finite,
                        devices=devices)(flat)

    return flat_jacobian


class _FlatFunction:
    """``f`` seen as R^n -> R^m; equal (so sharing compiled code) when it wraps the same ``f`` and input layout."""

    __slots__ = ("__wrapped__", "unravel", "layout", "__name__", "__qualname__")
    _jacx_guard_children = ("__wrapped__", "unravel")  # what it reads, for jacx's cache guards
    _jacx_key_by_value = True  # equal flat functions wrap the same f and layout: they may share cached programs

    def __init__(self, f: Callable, unravel: Callable, layout: Any) -> None:
        self.__wrapped__ = f
        self.unravel = unravel
        self.layout = layout
        self.__name__ = getattr(f, "__name__", "f")
        self.__qualname__ = getattr(f, "__qualname__", self.__name__)

    def __call__(self, flat: jax.Array) -> jax.Array:
        return ravel_pytree(self.__wrapped__(self.unravel(flat)))[0]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _FlatFunction) and (other.__wrapped__, other.layout) == (self.__wrapped__, self.layout)

    def __hash__(self) -> int:
        return hash((self.__wrapped__, self.layout))


def gradient(f: Callable, argnums: int | Sequence[int] = 0, *, has_aux: bool = False, jit: bool = True) -> Callable:
    """The gradient of a scalar-valued ``f`` (the ``m = 1`` Jacobian, shaped like the input), by reverse mode.

    Raises :class:`~jacx.NotScalarOutputError` when ``f`` does not return a scalar.

    >>> import jax.numpy as jnp, jacx
    >>> jacx.gradient(lambda v: jnp.sum(v ** 2))(jnp.array([1.0, 2.0, 3.0]))
    Array([2., 4., 6.], dtype=float32)
    """
    argnums = tuple(argnums) if isinstance(argnums, (list, tuple)) else argnums
    key = ("gradient", function_key(f), argnums, has_aux, jit)
    made = memo_get(key)
    if made is not None:
        return made
    check_function(f, "jacx.gradient")

    def make(fun: Callable) -> Callable:
        return lambda *args, **kwargs: _gradient_impl(fun, argnums, has_aux, args, kwargs)

    compiled = AutoJit(f, ("gradient", argnums, has_aux), make, jit, "jacx.gradient")

    def gradient_fn(*args: Any, **kwargs: Any) -> Any:
        return compiled(*args, **kwargs)

    gradient_fn.__name__ = f"gradient({getattr(f, '__name__', 'f')})"
    return memo_put(key, gradient_fn)


def _gradient_impl(f: Callable, argnums: Any, has_aux: bool, args: tuple, kwargs: dict) -> Any:
    nums = normalise_argnums(argnums, len(args))
    g, primal = split_args(f, nums, args, kwargs)
    check_input_dtypes(primal, "jacx.gradient")
    out = jax.eval_shape(g, primal)
    if has_aux:
        check_has_aux_output(out, "jacx.gradient")
    y = out[0] if has_aux else out
    if not (isinstance(y, jax.ShapeDtypeStruct) and y.shape == () and jnp.issubdtype(y.dtype, jnp.floating)):
        got = f"shape {y.shape}, dtype {y.dtype}" if isinstance(y, jax.ShapeDtypeStruct) else f"a {type(y).__name__}"
        raise NotScalarOutputError(
            f"jacx.gradient needs a function with one real scalar output, but it returned {got}. For vector "
            "outputs use jacx.jacobian(f); to get a scalar, reduce first (e.g. jnp.sum(f(x)))."
        )
    return jax.grad(f, argnums=nums, has_aux=has_aux)(*args, **kwargs)
