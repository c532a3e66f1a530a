"""The prepared sparse Jacobian: detect and color once, then one jitted batch of JVPs/VJPs per call."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, final

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp
from jax.experimental import sparse as jsparse

from jacx._api import AutoJit, Devices, Guard, Ident, analyze, resolve_mesh, warn_once
from jacx._errors import JacxUsageError
from jacx.sparse._bicoloring import BiColoring, color_bidirectional, dense_splits, split_lower_bound
from jacx.sparse._coloring import color_columns, color_rows
from jacx.sparse._compress import Coloring
from jacx.sparse._detect import detect
from jacx.sparse._sharded import ShardedPlan

if TYPE_CHECKING:
    from jacx.sparse._pytree import SparsePytreeJacobian

__all__ = ["SparseJacobian", "jacobian"]

Mode = Literal["auto", "forward", "reverse", "bidirectional"]
_MODES = ("auto", "forward", "reverse", "bidirectional")
_BAKE_LIMIT = 1 << 22
_SELECT_DECOMPRESSION = True
_SELECT_MIN_NNZ = 65_536
_DIRECT_MAX_FILL = 1.5  # compressed layout while n_colors * (m or n) <= this x nnz (measured: 8 colors on 6 nonzeros per row still win)


def _natural_out(f: Callable) -> Callable:
    """``f`` with its output as one array: a single array as it is (its own shape), several leaves raveled and
    concatenated.  Products keep that shape inside the compiled program: XLA's CPU loops are much faster on an
    output in the function's own shape than on one reshaped to a vector (3x on a (2, 128, 128) stencil)."""

    def g(x: jax.Array, *args: Any) -> jax.Array:
        leaves = jax.tree_util.tree_leaves(f(x, *args))
        return jnp.concatenate([jnp.ravel(v) for v in leaves]) if len(leaves) != 1 else leaves[0]

    return g


# a vector view of a product array: with the buffer donated, XLA reuses it (no copy on CPU)
_to_vector = jax.jit(lambda a: a.reshape(-1), donate_argnums=0)


_GATHERS = {"gather", "scatter", "scatter-add", "scatter-sub", "scatter-mul", "scatter-min", "scatter-max"}
_SPLIT_GAIN = 0.8  # a bidirectional coloring is used when it needs at most this fraction of the one-sided products
_SPLIT_NNZ = 200_000  # patterns with more entries try a bidirectional split only if it promises much


def _worth_splitting(p: sp.csr_array, one_sided: int) -> bool:
    """Whether to search bidirectional colorings: there are dense rows or columns and, on large patterns (where
    each split costs two more colorings), the best split's lower bound is at most 3/4 of the one-sided count."""
    splits = dense_splits(p)
    if not splits:
        return False
    if p.nnz <= _SPLIT_NNZ:
        return True
    rows = np.repeat(np.arange(p.shape[0]), np.diff(p.indptr))
    return min(split_lower_bound(p, dense, by_rows, rows) for by_rows, dense in splits) <= 0.75 * one_sided


def _choose(
    p: sp.csr_array, mode: str, in_shape: tuple, out_shape: tuple | None, fwd_ok: bool, rev_ok: bool
) -> Any:
    """The coloring for ``mode`` (``auto``: the fewest products, forward on ties)."""
    if mode == "forward":
        return color_columns(p, shape=in_shape)
    if mode == "reverse":
        return color_rows(p, shape=out_shape)
    if mode == "bidirectional":
        return color_bidirectional(p, in_shape=in_shape, out_shape=out_shape)
    cands = []
    if fwd_ok:
        cands.append(color_columns(p, shape=in_shape))
    col_nnz = np.bincount(p.indices, minlength=p.shape[1])
    rev_lower = int(col_nnz.max()) if col_nnz.size else 0
    symmetric = p.shape[0] == p.shape[1] and (p != p.T).nnz == 0  # then rows color exactly like columns
    if not cands or (cands[0].n_colors > rev_lower and rev_ok and not symmetric):
        cands.append(color_rows(p, shape=out_shape))
    best = min(cands, key=lambda c: c.n_colors)
    if fwd_ok and rev_ok and best.n_colors > 3 and _worth_splitting(p, best.n_colors):
        bi = color_bidirectional(p, in_shape=in_shape, out_shape=out_shape)
        # a split evaluates both JVPs and VJPs and decompresses; one product fewer does not pay for that (a
        # Delaunay mesh: 16 split products ran 1.3-1.6x slower than 17 one-sided ones)
        if bi.n_colors <= _SPLIT_GAIN * best.n_colors:
            best = bi
    return best


@final
class SparseJacobian:
    """A prepared sparse Jacobian of ``f`` for inputs shaped like the ``x`` it was prepared with.

    Calling it returns a ``jax.experimental.sparse.BCOO`` of shape ``(m, n)`` (flattened output and input).
    ``values(x)`` returns just the nonzero values (in the order of ``sparsity``'s CSR entries), ``to_scipy(x)``
    a ``scipy.sparse.csr_array`` with exactly the pattern ``sparsity``.  Calls compose with ``jax.jit`` and
    ``jax.vmap``.  ``preparation`` holds the seconds spent on detection (including tracing), coloring, and in
    total.

    Layout of the BCOO: with a one-sided coloring (``mode`` ``"forward"`` or ``"reverse"``) whose compressed
    products hold at most 25 % more slots than there are nonzeros (``layout == "compressed"``), the BCOO's data
    *are* the compressed products, without any decompression: one entry per (product, output row) for JVPs, per
    (product, input column) for VJPs, in the order of the products (so in general not sorted), and the
    slots of a product that meet no nonzero are padding entries with the out-of-bounds index ``(m, n)`` (JAX's
    own convention for padding, which every BCOO operation ignores).  Otherwise (``layout == "csr"``) the
    entries are the nonzeros in CSR order.  Either way each in-bounds index appears once and is an entry of
    ``sparsity``; ``to_scipy`` drops the padding.

    >>> import jax.numpy as jnp
    >>> import jacx.sparse
    >>> jac = jacx.sparse.jacobian(lambda x: x[1:] ** 2 - x[:-1], jnp.ones(4))
    >>> jac.mode, jac.n_colors, jac.sparsity.nnz, jac.layout
    ('forward', 2, 6, 'compressed')
    >>> jac(jnp.arange(4.0)).todense()
    Array([[-1.,  2.,  0.,  0.],
           [ 0., -1.,  4.,  0.],
           [ 0.,  0., -1.,  6.]], dtype=float32)
    """

    def __init__(self, f: Callable, x: jax.Array, coloring: Coloring | BiColoring, pattern: sp.csr_array,
                 mode: Mode = "auto", *, gathers: bool = False, mesh: Any = None, gather: bool = False):
        self._user_f, self._requested_mode, self._gathers = f, mode, gathers
        self._mesh, self._gather = mesh, gather
        self._f = flat_f = _natural_out(f)
        # the pattern and coloring hold while what f reads is provably unchanged; otherwise each call re-checks
        self._guard: Guard | str = analyze(f)
        self._shape_in, self._dtype = tuple(x.shape), x.dtype
        self.sparsity = pattern
        self.coloring = coloring
        m, n = pattern.shape
        self.shape = (m, n)
        rows = np.repeat(np.arange(m, dtype=np.int32), np.diff(pattern.indptr))
        cols = pattern.indices.astype(np.int32)
        if isinstance(coloring, BiColoring):
            self.mode = "bidirectional" if coloring.reverse.n_colors and coloring.forward.n_colors else (
                "forward" if coloring.forward.n_colors else "reverse")
            fwd, rev, from_fwd = coloring.forward, coloring.reverse, coloring.from_forward
        elif coloring.kind == "column":
            self.mode, fwd, rev, from_fwd = "forward", coloring, None, np.ones(len(rows), bool)
        else:
            self.mode, fwd, rev, from_fwd = "reverse", None, coloring, np.zeros(len(rows), bool)
        self.n_colors = int(coloring.n_colors)
        self._kf = 0 if fwd is None else int(fwd.n_colors)
        self._kr = 0 if rev is None else int(rev.n_colors)
        self.devices = 1 if mesh is None else int(mesh.size)
        if mesh is not None:
            self._init_sharded(x, fwd, rev, from_fwd)
            return
        idx = np.int32 if max(self._kf * m, self._kr * n, 1) < 2**31 - 1 else np.int64
        # index data travels as jit arguments (not baked-in constants): compiling stays fast at any size
        data = {}
        # small seed matrices are baked into the compiled program (XLA can then fold the linear parts of f);
        # large ones travel as arguments
        self._const = {}
        if self._kf and self._kf * n <= _BAKE_LIMIT:
            self._const["fseeds"] = fwd.seeds().T.astype(x.dtype)
        if self._kr and self._kr * m <= _BAKE_LIMIT:
            self._const["rseeds"] = rev.seeds().T.astype(x.dtype)
        if self._kf:
            data["fcolors"] = fwd.colors.astype(idx)
            data["fslot"] = (np.maximum(fwd.colors[cols], 0).astype(idx) * m + rows).astype(idx)
        if self._kr:
            data["rcolors"] = rev.colors.astype(idx)
            data["rslot"] = (np.maximum(rev.colors[rows], 0).astype(idx) * n + cols).astype(idx)
        if self._kf and self._kr:
            data["from_fwd"] = np.asarray(from_fwd, dtype=bool)
        # large stencils (rows of equal length): decompress with K selects over an (m, w) array instead of a
        # gather, which is slow per element on CPU; small problems keep the gather (lower latency)
        row_len = np.diff(pattern.indptr)
        w = int(row_len.max()) if m else 0
        self._uniform = bool(
            _SELECT_DECOMPRESSION and self._kf and not self._kr and m and w and (row_len == w).all()
            and self._kf * w <= 128 and pattern.nnz >= _SELECT_MIN_NNZ
        )
        if self._uniform:
            data["fslot2d"] = np.maximum(fwd.colors[cols], 0).reshape(m, w).astype(idx)
        # the BCOO's layout: the compressed products themselves when they are not much larger than nnz
        nse = self._kf * m if not self._kr else self._kr * n if not self._kf else 0
        self.layout = "compressed" if nse and nse <= _DIRECT_MAX_FILL * pattern.nnz else "csr"
        # JVPs of a function that gathers or scatters (a mesh, a permuted numbering) run faster with the products
        # side by side in the last axis (each index moves K contiguous numbers); stencils of slices and rolls
        # faster with the products in the first axis
        self._minor = bool(self.layout == "compressed" and self._kf and gathers)
        if self.layout == "compressed":
            if self._minor:
                slot = rows.astype(np.int64) * self._kf + np.maximum(fwd.colors[cols], 0)
            else:
                slot = data["fslot"] if self._kf else data["rslot"]
            indices = np.empty((nse, 2), np.int32)
            indices[:, 0], indices[:, 1] = m, n  # padding: out of bounds
            indices[slot, 0], indices[slot, 1] = rows, cols
            key = indices[:, 0].astype(np.int64) * (n + 1) + indices[:, 1]
            is_sorted = bool((np.diff(key) > 0).all())
        else:
            indices, is_sorted = np.stack([rows, cols], axis=1), True
        # constants compiled in from the first call: a prepared Jacobian is for one function, and XLA folds f's
        # constant weights with the constant seeds (a convolution's products ran 2-6x faster baked)
        self._programs({k: jax.device_put(v) for k, v in data.items()}, jax.device_put(indices), is_sorted,
                       self._compute, None if self.layout == "csr" else self._products, x.dtype, bake_after=1)

    def _init_sharded(self, x: jax.Array, fwd: Any, rev: Any, from_fwd: np.ndarray) -> None:
        """Colors split across the devices of ``self._mesh`` (see :mod:`jacx.sparse._sharded`)."""
        plan = ShardedPlan(self.sparsity, fwd, rev, from_fwd, self._mesh, self._gather, _DIRECT_MAX_FILL)
        self.layout = plan.layout
        self._programs(plan.data, plan.indices, plan.indices_sorted, plan.values, plan.products, x.dtype)

    def _programs(self, data: dict, indices: jax.Array, is_sorted: bool, values: Callable,
                  products: Callable | None, dtype: Any, bake_after: int | None = None) -> None:
        """The BCOO's structure and the compiled programs of the nonzeros in CSR order (``values``) and of the
        BCOO's data (``products``; ``None``: the same), each ``compute(data, x, *args, f=...)``.

        They come from jacx's sound compile cache (jacx._autojit): f is re-traced whenever what it reads may have
        changed.  The index data travel as separate array arguments (plain arrays take AutoJit's fast path; baked-in
        constants would make compiling slow at any size).  The BCOO is assembled outside the program from a prepared
        tree structure (a template without entries: returning the constant indices from the program would copy
        them on every call).
        """
        template = jsparse.BCOO((np.zeros(0, dtype), np.zeros((0, 2), np.int32)), shape=self.shape,
                                indices_sorted=is_sorted, unique_indices=True)
        self._treedef = jax.tree_util.tree_structure(template)
        self._indices = indices
        names = tuple(sorted(data))
        self._data_leaves = tuple(data[k] for k in names)
        nd, flat_f = len(names), self._f

        def traced_f(*flat: Any) -> jax.Array:  # (*index data, x, *args)
            return flat_f(*flat[nd:])

        def program(compute: Callable) -> Callable:
            def make(fun: Callable) -> Callable:
                # the products are flattened anyway: a final reshape of f's output can be left out (see
                # jacx._program.evaluator), which XLA's CPU loops run much faster without
                inner = getattr(fun, "unreshaped", fun)

                def run(*flat: Any) -> jax.Array:
                    return compute(dict(zip(names, flat[:nd])), *flat[nd:],
                                   f=lambda _data, z, *a: inner(*flat[:nd], z, *a))
                return run
            return make

        token = Ident(object())  # programs are specific to this preparation's coloring and layout
        opts = {} if bake_after is None else {"bake_after": bake_after}
        self._auto = AutoJit(traced_f, ("sparse values", token), program(values), True, "jacx.sparse.jacobian",
                             **opts)
        self._auto_data = self._auto if products is None else AutoJit(
            traced_f, ("sparse data", token), program(products), True, "jacx.sparse.jacobian", **opts)

    @staticmethod
    def _seeds(colors: jax.Array, k: int, dtype: Any) -> jax.Array:
        return (colors[None, :] == jnp.arange(k, dtype=colors.dtype)[:, None]).astype(dtype)

    def _jvps(self, data: dict, x: jax.Array, *args: Any, f: Callable, out_axes: int = 0,
              natural: bool = False) -> jax.Array:
        """The compressed JVPs: (n_colors, m), or (m, n_colors) with ``out_axes=1``; with ``natural``,
        (n_colors, *output shape), or (*output shape, n_colors) in the ``_minor`` layout.  ``f(data, x, *args)``."""
        seeds = self._const.get("fseeds")
        seeds = self._seeds(data["fcolors"], self._kf, x.dtype) if seeds is None else seeds
        shape = self._shape_in
        shaped = (lambda y: y) if natural else jnp.ravel

        def one(s: jax.Array) -> jax.Array:
            return shaped(jax.jvp(lambda z: f(data, z, *args), (x,), (s.reshape(shape),))[1])

        if natural and self._minor:
            return jax.vmap(one, in_axes=1, out_axes=-1)(seeds.T)
        return jax.vmap(one, out_axes=out_axes)(seeds)

    def _vjps(self, data: dict, x: jax.Array, *args: Any, f: Callable, natural: bool = False) -> jax.Array:
        """The compressed VJPs: (n_colors, n), or (n_colors, *input shape) with ``natural``."""
        y, pull = jax.vjp(lambda z: f(data, z, *args), x)
        seeds = self._const.get("rseeds")
        seeds = self._seeds(data["rcolors"], self._kr, x.dtype) if seeds is None else seeds
        out = jax.vmap(lambda s: pull(s.reshape(y.shape))[0])(seeds)
        return out if natural else out.reshape(self._kr, -1)

    def _products(self, data: dict, x: jax.Array, *args: Any, f: Callable) -> jax.Array:
        """The BCOO data of the compressed layout: the products in their own shape (the caller makes them a
        vector outside the program, see ``_natural_out``)."""
        if self._kf:
            return self._jvps(data, x, *args, f=f, natural=True)
        return self._vjps(data, x, *args, f=f, natural=True)

    def _compute(self, data: dict, x: jax.Array, *args: Any, f: Callable) -> jax.Array:
        """The nonzeros in CSR order: products, then decompression."""
        parts = []
        if self._kf:
            if self._uniform:
                y = self._jvps(data, x, *args, f=f, out_axes=1)  # (m, K)
                slots = data["fslot2d"]
                vals = jnp.zeros(slots.shape, y.dtype)
                for k in range(self._kf):
                    vals = jnp.where(slots == k, y[:, k:k + 1], vals)
                return vals.ravel()
            parts.append(self._jvps(data, x, *args, f=f).ravel()[data["fslot"]])
        if self._kr:
            parts.append(self._vjps(data, x, *args, f=f).ravel()[data["rslot"]])
        if len(parts) == 2:
            return jnp.where(data["from_fwd"], parts[0], parts[1])
        if parts:
            return parts[0]
        return jnp.zeros(self.sparsity.nnz, dtype=x.dtype)

    def _check(self, x: Any, args: tuple) -> jax.Array:
        if not isinstance(x, jax.Array) or x.dtype != self._dtype:
            x = jnp.asarray(x, dtype=self._dtype)
        if x.shape != self._shape_in:
            raise JacxUsageError(
                f"sparse jacobian: received an input of shape {tuple(x.shape)}; expected {self._shape_in}, the "
                "shape it was prepared for. Fix: call jacx.sparse.jacobian(f, x) again for the new shape."
            )
        guard = self._guard
        if not (isinstance(guard, Guard) and guard.holds()):
            self._recheck_pattern(args)
        return x

    def _recheck_pattern(self, args: tuple) -> None:
        """What f reads may have changed since preparation: detect its pattern again; new nonzeros (which the
        coloring would miss) mean preparing again."""
        if isinstance(self._guard, str):
            name = getattr(self._user_f, "__qualname__", "f")
            warn_once(("sparse state", self._user_f), f"jacx.sparse.jacobian: {name} reads "
                      f"state that can change between calls ({self._guard}), so jacx detects its sparsity pattern "
                      "again on every call to stay correct. Pass that state in `args` to avoid this.")
        template = jnp.zeros(self._shape_in, self._dtype)
        found = detect(self._user_f, template, args)
        new = found.pattern
        extra = new.astype(bool).astype(np.int8) - new.multiply(self.sparsity).astype(bool).astype(np.int8)
        extra.eliminate_zeros()
        if extra.nnz:
            warn_once(("repattern", self._user_f), "jacx.sparse.jacobian: the sparsity pattern of "
                      f"{getattr(self._user_f, '__qualname__', 'f')} gained {extra.nnz} nonzeros since it was "
                      "prepared (what it reads changed), so jacx prepared it again.")
            pattern = (new + self.sparsity).astype(bool).astype(np.int8).tocsr()
            pattern.eliminate_zeros()
            fwd_ok = not found.primitives & {"custom_vjp_call", "custom_vjp_call_jaxpr"}
            coloring = _choose(pattern, self._requested_mode, self._shape_in,
                               found.out_shapes[0] if len(found.out_shapes) == 1 else None,
                               fwd_ok, "while" not in found.primitives)
            preparation = getattr(self, "preparation", None)
            self.__init__(self._user_f, template, coloring, pattern, self._requested_mode,
                          gathers=bool(found.primitives & _GATHERS), mesh=self._mesh, gather=self._gather)
            if preparation is not None:
                self.preparation = preparation
        elif isinstance(self._guard, Guard) or self._guard is None:
            self._guard = analyze(self._user_f)

    def values(self, x: Any, *args: Any) -> jax.Array:
        """The nonzero values at ``x``, in CSR order of ``self.sparsity``."""
        x = self._check(x, args)
        return self._auto(*self._data_leaves, x, *args)

    def __call__(self, x: Any, *args: Any) -> jsparse.BCOO:
        """The Jacobian at ``x`` as a ``BCOO`` of shape ``(m, n)``, in the layout ``self.layout``."""
        x = self._check(x, args)
        data = self._auto_data(*self._data_leaves, x, *args)
        if self.layout == "compressed" and self._mesh is None:
            data = _to_vector(data)
        return self._treedef.unflatten((data, self._indices))

    def to_scipy(self, x: Any, *args: Any) -> sp.csr_array:
        """The Jacobian at ``x`` as a ``scipy.sparse.csr_array`` (float64) with exactly the pattern ``sparsity``."""
        vals = np.asarray(self.values(x, *args), dtype=np.float64)
        p = self.sparsity
        return sp.csr_array((vals, p.indices.copy(), p.indptr.copy()), shape=p.shape)

    def _index_layout(self) -> Any:
        from jacx.sparse._pytree import Layout

        layout = getattr(self, "_layout_cache", None)
        if layout is None:
            example = getattr(self, "_example", None) or (jax.ShapeDtypeStruct(self._shape_in, self._dtype),)
            out = jax.eval_shape(self._user_f, *example)
            layout = self._layout_cache = Layout(example, 0, out)
        return layout

    def input_index(self, j: int) -> tuple[int, str, tuple[int, ...]]:
        """``(0, "", index within x)`` of column ``j`` (as for :class:`SparsePytreeJacobian`, whose argument 0
        is ``x``)."""
        return self._index_layout().input_index(j)

    def output_index(self, i: int) -> tuple[str, tuple[int, ...]]:
        """``(leaf path, index within the leaf)`` of row ``i`` (the path is ``""`` for an array output)."""
        return self._index_layout().output_index(i)

    def __repr__(self) -> str:
        m, n = self.shape
        return f"SparseJacobian({m}x{n}, nnz={self.sparsity.nnz}, mode={self.mode!r}, n_colors={self.n_colors})"


def _check_mode(mode: Any) -> None:
    if mode not in _MODES:
        raise JacxUsageError(
            f"sparse jacobian: received mode={mode!r}; expected one of {', '.join(map(repr, _MODES))}. "
            "Fix: pass one of those (\"auto\" picks the fewest products)."
        )


def jacobian(f: Callable, *example_args: Any, argnums: int | tuple[int, ...] = 0, has_aux: bool = False,
             mode: Mode = "auto", args: tuple = (), devices: Devices = None,
             gather: bool = False) -> SparseJacobian | SparsePytreeJacobian:
    """Prepare the sparse Jacobian of ``f`` for inputs shaped like the example arguments.

    Preparation traces ``f``, detects its sparsity and colors it, once.  ``mode`` is ``"forward"`` (JVPs),
    ``"reverse"`` (VJPs), ``"bidirectional"`` (both) or ``"auto"`` (the fewest products).

    With one array ``x`` (``jacobian(f, x)``) the result is a :class:`SparseJacobian`.  With ``args`` (example
    extra arguments, not differentiated) ``f`` is called as ``f(x, *args)`` and the prepared callable as
    ``jac(x, *args)``; the pattern holds for all values of ``args``.

    In general ``jacobian(f, *example_args, argnums=0, has_aux=False)`` differentiates ``f(*example_args)`` with
    respect to the arguments ``argnums`` (an int or a tuple of ints), which may be pytrees of float arrays; the
    other arguments are traced but not differentiated (the pattern holds for all their values).  The result, a
    :class:`SparsePytreeJacobian`, is called with arguments of the same structure and shapes and returns a BCOO
    over the output flattened in ``ravel_pytree`` order and the differentiated arguments flattened in
    ``ravel_pytree`` order (of the tuple of them when ``argnums`` is a tuple); with ``has_aux=True`` (``f``
    returns ``(output, aux)``) it returns ``(BCOO, aux)``.  ``jac.input_index(j)`` and ``jac.output_index(i)`` map
    a column (row) back to its argument, leaf path and index within the leaf.

    ``devices`` (``"all"``, a sequence of devices or a ``jax.sharding.Mesh``; ``None``: one device) splits the
    colors across devices: each computes the products of its own colors and picks its own nonzeros out of them,
    and the BCOO comes back with its entries split evenly over the devices (``layout`` ``"compressed"`` or
    ``"local"``, see :mod:`jacx.sparse._sharded`), or copied onto every device with ``gather=True``.

    >>> import jax.numpy as jnp
    >>> import jacx.sparse
    >>> jac = jacx.sparse.jacobian(lambda x: jnp.sin(x) * x[0], jnp.ones(5))
    >>> jac.n_colors, jac.mode
    (2, 'forward')
    >>> jac(jnp.ones(5)).todense().shape
    (5, 5)

    Pytrees and several arguments:

    >>> def f(params, x):
    ...     return {"y": params["w"] * x, "s": jnp.sum(params["b"] ** 2)}
    >>> params = {"b": jnp.ones(2), "w": jnp.ones(3)}
    >>> jac = jacx.sparse.jacobian(f, params, jnp.arange(3.0))      # argnums=0: params
    >>> jac(params, jnp.arange(3.0)).todense()
    Array([[2., 2., 0., 0., 0.],
           [0., 0., 0., 0., 0.],
           [0., 0., 0., 1., 0.],
           [0., 0., 0., 0., 2.]], dtype=float32)
    >>> jac.input_index(3), jac.output_index(3)
    ((0, "['w']", (1,)), ("['y']", (2,)))
    """
    from jacx.sparse._pytree import example_arguments, is_single_array

    example_args = example_arguments(example_args, args, "sparse jacobian", "jacobian(f, x)")
    legacy = (type(argnums) is int and argnums == 0 and not has_aux and is_single_array(example_args[0]))
    mesh = resolve_mesh(devices, "jacx.sparse.jacobian")
    if not isinstance(gather, bool):
        raise JacxUsageError(f"sparse jacobian: received gather={gather!r}; expected True or False.")
    if not legacy:
        return _jacobian_pytree(f, example_args, argnums, has_aux, mode, mesh, gather)
    x, args = example_args[0], tuple(example_args[1:])
    _check_mode(mode)
    t0 = time.perf_counter()
    x = jnp.asarray(x)
    found = detect(f, x, args)
    pattern = found.pattern.copy()
    out_shape = found.out_shapes[0] if len(found.out_shapes) == 1 else None
    # JAX cannot push tangents through custom_vjp, nor pull cotangents through a while_loop
    fwd_ok = not found.primitives & {"custom_vjp_call", "custom_vjp_call_jaxpr"}
    rev_ok = "while" not in found.primitives
    if mode == "forward" and not fwd_ok:
        raise JacxUsageError(
            "sparse jacobian: received mode='forward' for a function JAX cannot differentiate forward (it uses "
            "custom_vjp); expected a forward-differentiable function. Fix: use mode='reverse' or 'auto'."
        )
    t1 = time.perf_counter()
    coloring = _choose(pattern, mode, tuple(x.shape), out_shape, fwd_ok, rev_ok)
    t2 = time.perf_counter()
    jac = SparseJacobian(f, x, coloring, pattern, mode, gathers=bool(found.primitives & _GATHERS), mesh=mesh,
                         gather=gather)
    jac._example = (jax.ShapeDtypeStruct(x.shape, x.dtype), *jax.tree_util.tree_map(
        lambda a: jax.ShapeDtypeStruct(jnp.shape(a), jnp.result_type(a)), args))  # for the index helpers
    jac.preparation = {"detection": t1 - t0, "coloring": t2 - t1, "total": time.perf_counter() - t0}
    return jac


def _jacobian_pytree(f: Callable, example_args: tuple, argnums: Any, has_aux: bool, mode: Mode, mesh: Any,
                     gather: bool) -> SparsePytreeJacobian:
    from jacx.sparse._pytree import SparsePytreeJacobian, is_leaf, prepare_flat

    _check_mode(mode)
    t0 = time.perf_counter()
    flat_f, x, rest, nums, out = prepare_flat(f, example_args, argnums, has_aux, "jacx.sparse.jacobian")
    flat = jacobian(flat_f, x, mode=mode, args=rest, devices=mesh, gather=gather)
    flat.preparation = dict(flat.preparation, total=time.perf_counter() - t0)
    single = not isinstance(nums, tuple) and is_leaf(example_args[nums])
    return SparsePytreeJacobian(f, flat, example_args, nums, out, has_aux, single)
