"""Log-determinants of Jacobians: exact (chunked) and structure-aware."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, final

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from .. import _api, _dense
from ._fused import primal_and_compressed, primal_and_products
from ._structure import JacobianStructure, find_structure
from ._util import freeze_pattern, pytree_dataclass, square_flat_function, static_field, thaw_pattern

__all__ = ["LogDet", "slogdet", "logdet", "measure_blocks"]

_BAKE_AFTER = 8  # calls of ld.logdet(f) in one state of f before its arrays are compiled in as constants


@final
@pytree_dataclass
class LogDet:
    """``sign * exp(logabsdet)`` is ``det J``; ``path`` says how it was computed.

    A pytree (``sign`` and ``logabsdet`` are leaves, ``path`` and ``num_jvps`` static), so it can be returned
    from ``jax.jit`` and ``jax.vmap``.

    >>> import jax.numpy as jnp
    >>> r = logdet(lambda v: 2.0 * v, structure=jnp.eye(3, dtype=bool))(jnp.ones(3))
    >>> float(r.sign), round(float(r.logabsdet), 4), r.path
    (1.0, 2.0794, 'diagonal (1 JVP, pattern given)')
    """

    sign: jax.Array
    logabsdet: jax.Array
    path: str = static_field(default="")
    num_jvps: int = static_field(default=0)

    @property
    def det(self) -> jax.Array:
        """The determinant itself (may overflow where ``logabsdet`` does not)."""
        return self.sign * jnp.exp(self.logabsdet)


def slogdet(f: Callable[[Any], Any], *, chunk_size: int | None = None,
            devices: _api.Devices = None) -> Callable[[Any], LogDet]:
    """Exact ``(sign, log|det J_f(x)|)`` from the dense Jacobian, built ``chunk_size`` JVPs at a time.

    The Jacobian of the flattened map is built by :func:`jacx.jacobian_matrix` in forward mode (n JVPs, at most
    ``chunk_size`` at once to bound memory) and factorised by :func:`jax.numpy.linalg.slogdet`: O(n^3) work.
    ``devices`` (``"all"``, a sequence of devices or a ``jax.sharding.Mesh``) splits the JVPs across devices.

    >>> import jax.numpy as jnp
    >>> r = slogdet(lambda v: jnp.array([v[1], v[0]]))(jnp.ones(2))   # a swap reverses orientation
    >>> float(r.sign), float(r.logabsdet)
    (-1.0, 0.0)
    """
    _api.check_function(f, "jacx.logdet.slogdet")
    _api.check_chunk_size(chunk_size)
    fixed = None if devices is None else _api.resolve_mesh(devices, "jacx.logdet.slogdet")

    def compute(x: Any) -> LogDet:
        mesh = fixed if fixed is not None else _api.context_mesh("jacx.logdet.slogdet")
        _, v = square_flat_function(f, x, "slogdet")
        if mesh is None:
            jac = _dense.jacobian_matrix(f, mode="forward", chunk_size=chunk_size, jit=False, check_finite=False)(x)
        else:  # the columns of J split over the devices; the factorisation needs them all
            g, _ = square_flat_function(f, x, "slogdet")
            jac = _api.sharded_apply(lambda: jax.linearize(g, v)[1], jnp.eye(v.shape[0], dtype=v.dtype), mesh, 1)
        sign, logabs = jnp.linalg.slogdet(jac)
        return LogDet(sign, logabs, path=f"dense ({v.shape[0]} JVPs + LU)", num_jvps=int(v.shape[0]))

    return _api.compiled(compute, ("slogdet", f, chunk_size, fixed), "jacx.logdet.slogdet")



def measure_blocks(g: Callable[[jax.Array], jax.Array], v: jax.Array, s: JacobianStructure,
                   mesh: Any = None) -> tuple[jax.Array, ...]:
    """Measure the diagonal blocks of ``J_g(v)`` with ``s.num_jvps`` JVPs; one ``(k, b, b)`` array per block size.

    With a ``mesh`` (from :func:`jacx._api.resolve_mesh`) the JVPs are split across its devices.

    >>> import jax.numpy as jnp
    >>> from jacx.logdet import analyze_pattern
    >>> s = analyze_pattern([[True, False], [True, True]])
    >>> [b.ravel().tolist() for b in measure_blocks(lambda v: jnp.array([2 * v[0], v[0] + 3 * v[1]]), jnp.ones(2), s)]
    [[2.0, 3.0]]
    """
    seeds = jnp.asarray(s.seeds, dtype=v.dtype)
    linear = lambda: jax.linearize(g, v)[1]  # noqa: E731 - on each device, when spread over several
    if mesh is None:
        compressed = jax.vmap(linear(), in_axes=1, out_axes=1)(seeds)  # (n, num_colors)
    else:
        compressed = _api.sharded_apply(linear, seeds, mesh, axis=1)
    return _blocks(compressed, s)


def _blocks(compressed: jax.Array, s: JacobianStructure) -> tuple[jax.Array, ...]:
    colors = jnp.asarray(s.colors)
    out = []
    for idx, mask in s.groups:
        rows = jnp.asarray(idx)  # (k, b)
        block = compressed[rows[:, :, None], colors[rows][:, None, :]]
        out.append(jnp.where(jnp.asarray(mask), block, 0.0))
    return tuple(out)


def _wanted(s: JacobianStructure) -> np.ndarray:
    """Which entries of each probe column the diagonal blocks read: ``(num_colors, n)``."""
    wanted = np.zeros((s.num_jvps, s.n), bool)
    for idx, _ in s.groups:
        if idx.shape[1] == 1:
            wanted[s.colors[idx[:, 0]], idx[:, 0]] = True
            continue
        for block in idx:
            for c in np.unique(s.colors[block]):
                wanted[c, block] = True
    return wanted


def _structured(g: Callable[[jax.Array], jax.Array], v: jax.Array, s: JacobianStructure,
                mesh: Any = None) -> tuple[jax.Array, jax.Array, jax.Array | None]:
    """``(sign, log|det|, g(v) or None)`` from the diagonal blocks; on one device the blocks are measured in the
    same pass as ``g(v)`` (:mod:`._fused`), which also returns ``g(v)`` for the next layer of a chain."""
    y = None
    if mesh is None:
        if all(idx.shape[1] == 1 for idx, _ in s.groups) and s.num_jvps <= 16:
            y, columns = primal_and_products(g, v, s.seeds, _wanted(s))
            # (permuted) triangular: the diagonal, entry i from the column of i's color, by selects (no gather)
            d = jnp.zeros(v.shape, v.dtype)
            for c, col in enumerate(columns):
                if col is not None:
                    d = jnp.where(jnp.asarray(s.colors == c), col, d)
            order = np.concatenate([idx[:, 0] for idx, _ in s.groups])
            mask = np.zeros(s.n, bool)
            mask[order] = np.concatenate([m.reshape(-1) for _, m in s.groups])
            if not mask.all():
                d = jnp.where(jnp.asarray(mask), d, 0.0)
            blocks = (d[:, None, None],)
            groups = ((np.arange(s.n)[:, None], None),)
        else:
            y, compressed = primal_and_compressed(g, v, s.seeds, _wanted(s))
            blocks, groups = _blocks(compressed, s), s.groups
    else:
        blocks, groups = measure_blocks(g, v, s, mesh), s.groups
    sign = jnp.ones((), v.dtype)
    logabs = jnp.zeros((), v.dtype)
    for (idx, _), b in zip(groups, blocks):
        if idx.shape[1] == 1:
            d = b[:, 0, 0]
            sign = sign * jnp.prod(jnp.sign(d))
            logabs = logabs + jnp.sum(jnp.log(jnp.abs(d)))
        else:
            sgn, la = jnp.linalg.slogdet(b)
            sign = sign * jnp.prod(sgn)
            logabs = logabs + jnp.sum(la)
    return sign, logabs, y


def logdet(
    f: Callable[[Any], Any], *, structure: Any = "auto", chunk_size: int | None = None, devices: _api.Devices = None
) -> Callable[[Any], LogDet]:
    """Structure-aware ``log|det J_f(x)|``: cheap when the Jacobian is diagonal, triangular or block-triangular.

    The structure comes from ``structure``: ``"auto"`` uses a pattern the function declares (``f.jacobian_pattern``,
    as jacx bijectors do), else :func:`jacx.sparse.sparsity` when available, else the exact dense path;
    ``"dense"`` forces the exact path; a boolean ``(n, n)`` pattern is used as given.  Compositions that list
    their layers in ``f.jacx_layers`` (such as :class:`jacx.flows.Chain`) are handled layer by layer, since the
    log-determinant of a composition is the sum over its layers.

    With a pattern, only the diagonal blocks of the block-triangular form are measured, with one JVP per probe
    color, and only those blocks are factorised.  The result's ``path`` says which route was taken.  ``devices``
    (``"all"``, a sequence of devices or a ``jax.sharding.Mesh``) splits the JVPs of either route across devices.

    >>> import jax.numpy as jnp
    >>> lower = jnp.tril(jnp.ones((3, 3), dtype=bool))
    >>> f = lambda v: jnp.array([2 * v[0], v[0] + 3 * v[1], v[1] ** 2 + 0.5 * v[2]])
    >>> r = logdet(f, structure=lower)(jnp.ones(3))
    >>> round(float(r.logabsdet), 4), r.path                # log(2 * 3 * 0.5)
    (1.0986, 'triangular (3 JVPs, pattern given)')
    """
    _api.check_function(f, "jacx.logdet.logdet")
    _api.check_chunk_size(chunk_size)
    fixed = None if devices is None else _api.resolve_mesh(devices, "jacx.logdet.logdet")
    frozen = freeze_pattern(structure)  # a given pattern as it is now (a copy jacx's cache can trust)

    def compute(x: Any) -> LogDet:
        mesh = fixed if fixed is not None else _api.context_mesh("jacx.logdet.logdet")
        structure = thaw_pattern(frozen)
        layers = getattr(f, "jacx_layers", None) if isinstance(structure, str) and structure == "auto" else None
        if layers is not None:
            return _chain(layers, x, chunk_size, mesh)
        return _one(f, x, structure, chunk_size, mesh)[0]

    declared = frozen if isinstance(frozen, (str, tuple)) else _api.Ident(frozen)
    # a flow's weights folded in as constants run up to 2.5x faster than passed as arguments: worth one more
    # compile once the same function has been called a few times in the same state (a new flow object per
    # training step never gets there, so it never pays for it)
    return _api.compiled(compute, ("logdet", f, declared, chunk_size, fixed), "jacx.logdet.logdet",
                         bake_after=_BAKE_AFTER)


def _one(f: Callable[[Any], Any], x: Any, structure: Any, chunk_size: int | None,
         mesh: Any) -> tuple[LogDet, jax.Array | None]:
    """The log-det of one map at ``x`` and, when the structured pass computed it anyway, ``f(x)`` in its own layout
    (found by the trace that checks the shapes, rather than by tracing ``f`` once more)."""
    layouts: list = []

    def recorded(u: Any) -> Any:
        out = f(u)
        layouts.append(jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(jnp.shape(a), jnp.result_type(a)), out))
        return out

    g, v = square_flat_function(recorded, x, "logdet")
    # found while tracing, from f as it is now (sparsity detection is cached while f's state is unchanged)
    s = find_structure(f, x, v.shape[0], structure)
    if s.source in ("none", "declared dense"):
        r = slogdet(f, chunk_size=chunk_size, devices=mesh)(x)
        reason = "no pattern" if s.source == "none" else "declared dense"
        return LogDet(r.sign, r.logabsdet, path=f"dense ({s.n} JVPs + LU, {reason})", num_jvps=s.n), None
    sign, logabs, y = _structured(g, v, s, mesh)
    if y is not None:
        y = _same_layout(y, layouts[0] if layouts else jax.eval_shape(f, x))
    return LogDet(sign, logabs, path=s.describe(), num_jvps=s.num_jvps), y


def _chain(layers: Any, x: Any, chunk_size: int | None, mesh: Any) -> LogDet:
    sign, logabs, paths, jvps = 1.0, 0.0, [], 0
    for layer in layers:
        layered = getattr(layer, "jacx_layers", None)
        if layered is not None:  # a chain inside a chain: its own layers, in order
            r, y = _chain(layered, x, chunk_size, mesh), None
        else:
            r, y = _one(layer, x, "auto", chunk_size, mesh)
        sign, logabs = sign * r.sign, logabs + r.logabsdet
        paths.append(r.path)
        jvps += r.num_jvps
        x = y if y is not None else layer(x)
    return LogDet(jnp.asarray(sign), jnp.asarray(logabs), path="chain[" + "; ".join(paths) + "]", num_jvps=jvps)


def _same_layout(y: jax.Array, out: Any) -> Any:
    """The flat output ``y`` in the layout ``out`` (a pytree of ``jax.ShapeDtypeStruct``)."""
    if isinstance(out, jax.ShapeDtypeStruct):
        return y.reshape(out.shape).astype(out.dtype)
    return ravel_pytree(jax.tree_util.tree_map(lambda a: jnp.zeros(a.shape, a.dtype), out))[1](y)
