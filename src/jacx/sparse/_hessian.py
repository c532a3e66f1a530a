"""Sparse Hessians: detect the symmetric pattern once, color it (star or acyclic), then one jitted batch of
forward-over-reverse Hessian-vector products and a symmetric recovery per call."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Literal, final

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp
from jax.experimental import sparse as jsparse
from jax.flatten_util import ravel_pytree

from jacx._api import CONCRETE_ARRAY, AutoJit, Guard, Ident, analyze, warn_once
from jacx._errors import JacxUsageError
from jacx.sparse._detect import detect
from jacx.sparse._symmetric import SymmetricColoring, recover_with, symmetric_coloring, symmetric_pattern


__all__ = ["SparseHessian", "hessian", "hessian_sparsity"]

Method = Literal["auto", "star", "acyclic"]
_METHODS = ("auto", "star", "acyclic")
HvpMode = Literal["auto", "forward-over-reverse", "reverse-over-reverse"]
_HVP_MODES = ("auto", "forward-over-reverse", "reverse-over-reverse")
# Primitives whose derivative in one direction is a scatter-add: a gather's transpose (in the gradient) is a
# scatter-add, and its JVP then batches that scatter over the seeds, which XLA:CPU runs element by element; the
# VJP of the gradient turns it back into a gather.  Measured on a mesh energy (n = 10^4, 12 products): 650 us
# forward-over-reverse, 265 us reverse-over-reverse; elsewhere the two tie within noise.
_SCATTERING = frozenset({"gather", "scatter", "scatter-add", "scatter-sub", "scatter-mul", "scatter-min",
                         "scatter-max"})  # as JAX names them
_BAKE_LIMIT = 1 << 22  # seed matrices up to this many entries are compiled in as constants


def _flatten(f: Callable, example_args: tuple, argnums: Any, where: str) -> tuple[Callable, jax.Array, tuple, Any]:
    """``f`` as a function of one flat vector (argument ``argnums`` raveled) and the other arguments."""
    if not callable(f):
        raise JacxUsageError(f"{where}: received {type(f).__name__} as the function; expected a callable f(x) that "
                             "returns a scalar. Fix: pass the function itself.")
    if not example_args:
        raise JacxUsageError(f"{where}: received no example arguments; expected f's arguments after f. "
                             f"Fix: call {where}(f, x).")
    if type(argnums) is not int or not -len(example_args) <= argnums < len(example_args):
        raise JacxUsageError(f"{where}: received argnums={argnums!r}; expected one int indexing the "
                             f"{len(example_args)} example arguments. Fix: pass the position of the variable.")
    argnums = argnums % len(example_args)
    leaves = jax.tree_util.tree_leaves(example_args[argnums])
    if not leaves or not all(jnp.issubdtype(jnp.result_type(a), jnp.floating) for a in leaves):
        raise JacxUsageError(f"{where}: received a differentiated argument with leaves of dtypes "
                             f"{[str(jnp.result_type(a)) for a in leaves]}; expected floating-point arrays. "
                             "Fix: pass x as a float array (e.g. jnp.asarray(x, float)).")
    x, unravel = ravel_pytree(example_args[argnums])
    rest = tuple(a for i, a in enumerate(example_args) if i != argnums)

    def flat_f(z: jax.Array, *others: Any) -> jax.Array:
        full = list(others)
        full.insert(argnums, unravel(z))
        out = f(*full)
        if not (isinstance(out, jax.Array | np.ndarray | float | int) and jnp.size(out) == 1):
            raise JacxUsageError(
                f"{where}: received a function whose output has shape {jnp.shape(out)} "
                f"({type(out).__name__}); expected a scalar. Fix: return a scalar (e.g. jnp.sum(...)); for a "
                "vector function use jacx.sparse.jacobian."
            )
        return jnp.reshape(out, ())

    try:
        jax.eval_shape(flat_f, x, *rest)
    except JacxUsageError:
        raise
    except Exception:  # a tracing error surfaces with its own message in detection
        pass
    return flat_f, x, rest, argnums


def _detect_hessian(flat_f: Callable, x: jax.Array, rest: tuple) -> Any:
    def grad_f(z: jax.Array, *others: Any) -> jax.Array:
        return jax.grad(flat_f)(z, *others)

    return detect(grad_f, x, rest)


def _choose_hvp(primitives: frozenset[str]) -> str:
    """``"reverse-over-reverse"`` when the gradient program gathers or scatters on the input's path (``primitives``:
    what pattern detection met, see ``_SCATTERING``), else the usual ``"forward-over-reverse"``."""
    return "reverse-over-reverse" if primitives & _SCATTERING else "forward-over-reverse"


def hessian_sparsity(f: Callable, *example_args: Any, argnums: int = 0, args: tuple = ()) -> sp.csr_array:
    """The symmetric sparsity pattern of the Hessian of the scalar function ``f`` (diagonal included), as a
    boolean ``scipy.sparse.csr_array`` of shape ``(n, n)`` over argument ``argnums`` flattened (a pytree in
    ``ravel_pytree`` order).

    It is the Jacobian pattern of ``jax.grad(f)`` detected from the program (so it holds for every input of that
    shape and dtype and is conservative), made symmetric, with the whole diagonal.

    >>> import jax.numpy as jnp
    >>> import jacx.sparse
    >>> f = lambda x: jnp.sum((x[1:] - x[:-1] ** 2) ** 2)
    >>> jacx.sparse.hessian_sparsity(f, jnp.ones(4)).toarray().astype(int)
    array([[1, 1, 0, 0],
           [1, 1, 1, 0],
           [0, 1, 1, 1],
           [0, 0, 1, 1]])
    """
    example_args = tuple(example_args) + tuple(args)
    flat_f, x, rest, _ = _flatten(f, example_args, argnums, "hessian_sparsity")
    return symmetric_pattern(_detect_hessian(flat_f, x, rest).pattern, "hessian_sparsity")


@final
class SparseHessian:
    """A prepared sparse Hessian of a scalar ``f`` for inputs shaped like the example it was prepared with.

    ``hess(*args)`` (the same arguments as ``f``) returns a ``jax.experimental.sparse.BCOO`` of shape ``(n, n)``
    holding every nonzero of the symmetric pattern ``sparsity`` (both triangles, CSR order); ``values(*args)``
    the nonzeros alone; ``to_scipy(*args)`` a ``scipy.sparse.csr_array`` (float64).  ``coloring`` is the
    :class:`~jacx.sparse.SymmetricColoring` used, ``method`` ``"star"`` or ``"acyclic"`` and ``n_colors`` the
    number of Hessian-vector products per call, ``hvp`` how they are computed (``"forward-over-reverse"`` or
    ``"reverse-over-reverse"``).  ``preparation`` holds the seconds spent on detection, coloring and in total.
    Called with another floating dtype than the example's (float64 after preparing with float32), it computes in
    that dtype with the same pattern and coloring.

    >>> import jax.numpy as jnp
    >>> import jacx.sparse
    >>> f = lambda x: jnp.sum(x ** 3) + jnp.sum(x[1:] * x[:-1])
    >>> hess = jacx.sparse.hessian(f, jnp.ones(5))
    >>> hess.method, hess.n_colors
    ('star', 3)
    >>> hess(jnp.arange(5.0)).todense()
    Array([[ 0.,  1.,  0.,  0.,  0.],
           [ 1.,  6.,  1.,  0.,  0.],
           [ 0.,  1., 12.,  1.,  0.],
           [ 0.,  0.,  1., 18.,  1.],
           [ 0.,  0.,  0.,  1., 24.]], dtype=float32)
    """

    def __init__(self, f: Callable, example_args: tuple, argnums: int, method: Method = "auto",
                 hvp: HvpMode = "auto") -> None:
        t0 = time.perf_counter()
        self._user_f, self._argnums, self._requested_method = f, argnums, method
        flat_f, x, rest, argnums = _flatten(f, example_args, argnums, "jacx.sparse.hessian")
        self._flat_f, self._argnums = flat_f, argnums
        self._structure = jax.tree_util.tree_structure(example_args[argnums])
        self._example_leaves = [(jnp.shape(a), jnp.result_type(a)) for a in
                                jax.tree_util.tree_leaves(example_args[argnums])]
        self._nargs = len(example_args)
        self._dtype, self._n = x.dtype, int(x.size)
        self._guard: Guard | str = analyze(f)
        one_flat = (len(example_args) == 1 and len(self._example_leaves) == 1
                    and self._example_leaves[0] == ((self._n,), x.dtype) and isinstance(self._guard, Guard))
        # hess(x) with x like this skips the general argument handling (a few microseconds a call)
        self._flat_aval = jax.typeof(x) if one_flat else None
        found = _detect_hessian(flat_f, x, rest)
        pattern = symmetric_pattern(found.pattern, "jacx.sparse.hessian")
        self.hvp = _choose_hvp(found.primitives) if hvp == "auto" else hvp  # no second trace of f
        t1 = time.perf_counter()
        coloring = symmetric_coloring(pattern, method)
        t2 = time.perf_counter()
        self._build(pattern, coloring)
        self.preparation = {"detection": t1 - t0, "coloring": t2 - t1, "total": time.perf_counter() - t0}

    def _build(self, pattern: sp.csr_array, coloring: SymmetricColoring) -> None:
        self.sparsity, self.coloring = pattern, coloring
        self.method, self.n_colors = coloring.method, int(coloring.n_colors)
        n, k, dtype = self._n, self.n_colors, self._dtype
        self.shape = (n, n)
        arrays = coloring.recovery_arrays(transposed=True)
        small = k * n <= _BAKE_LIMIT and sum(a.size for a in arrays.values()) <= _BAKE_LIMIT
        # Small index data and seeds are compiled into the program as constants: XLA then knows the gather's
        # indices (measured ~15 us per call faster at n = 10^4 than passing them as arguments).
        seeds_const = coloring.seeds().T.astype(dtype) if small else None
        baked = arrays if small else None
        if not small:
            arrays = dict(arrays, colors=coloring.colors.astype(np.int32))
        names = tuple(sorted(arrays)) if baked is None else ()
        self._data_leaves = tuple(jax.device_put(arrays[name]) for name in names)
        nd = len(names)
        rows = np.repeat(np.arange(n, dtype=np.int32), np.diff(pattern.indptr))
        self._indices = jax.device_put(np.stack([rows, pattern.indices.astype(np.int32)], axis=1))
        template = jsparse.BCOO((np.zeros(0, dtype), np.zeros((0, 2), np.int32)), shape=self.shape,
                                indices_sorted=True, unique_indices=True)
        self._treedef = jax.tree_util.tree_structure(template)
        flat_f, method, reverse = self._flat_f, self.method, self.hvp == "reverse-over-reverse"

        def traced_f(*flat: Any) -> jax.Array:  # (*index data, x, *rest)
            return flat_f(*flat[nd:])

        def make(fun: Callable) -> Callable:
            def run(*flat: Any) -> jax.Array:
                data = baked if baked is not None else dict(zip(names, flat[:nd]))
                z, others = flat[nd], flat[nd + 1:]
                if k == 0:
                    return jnp.zeros(pattern.nnz, z.dtype)

                def grad(v: jax.Array) -> jax.Array:
                    return jax.grad(lambda u: fun(*flat[:nd], u, *others))(v)

                if seeds_const is not None:
                    seeds = jnp.asarray(seeds_const, dtype=z.dtype)
                else:
                    seeds = (data["colors"][None, :] == jnp.arange(k, dtype=jnp.int32)[:, None]).astype(z.dtype)
                if reverse:  # H is symmetric: a VJP of the gradient is also H @ seed
                    _, pullback = jax.vjp(grad, z)
                    products = jax.vmap(lambda s: pullback(s)[0])(seeds)
                else:
                    products = jax.vmap(lambda s: jax.jvp(grad, (z,), (s,))[1])(seeds)  # (k, n): (H @ seeds).T
                return recover_with(method, data, products.ravel(), jnp)

            return run

        token = Ident(object())  # the program belongs to this preparation's coloring
        self._auto = AutoJit(traced_f, ("sparse hessian", token), make, True, "jacx.sparse.hessian", bake_after=1)

    # ---------------------------------------------------------------------------------------------- calling
    def _split(self, call_args: tuple) -> tuple[jax.Array, tuple]:
        if len(call_args) != self._nargs:
            raise JacxUsageError(
                f"sparse hessian: received {len(call_args)} arguments; expected {self._nargs}, as in the example "
                "it was prepared with. Fix: call hess(*args) with f's arguments."
            )
        target = call_args[self._argnums]
        leaves, structure = jax.tree_util.tree_flatten(target)
        shapes = [jnp.shape(a) for a in leaves]
        if structure != self._structure or shapes != [s for s, _ in self._example_leaves]:
            raise JacxUsageError(
                f"sparse hessian: received an argument {self._argnums} with structure {structure} and shapes "
                f"{shapes}; expected {self._structure} with shapes {[s for s, _ in self._example_leaves]}, as "
                "prepared. Fix: call jacx.sparse.hessian(f, ...) again for the new shapes."
            )
        # the caller's floating dtype is kept (a float64 x gives a float64 Hessian, as jax.hessian does, with the
        # same pattern and coloring); anything else is taken as the prepared dtype
        given = jnp.result_type(*leaves)
        dtype = given if jnp.issubdtype(given, jnp.floating) else self._dtype
        if len(leaves) == 1 and isinstance(leaves[0], jax.Array) and leaves[0].ndim == 1 \
                and leaves[0].dtype == dtype:
            z = leaves[0]  # a flat vector already: no eager reshape (a dispatch per call)
        elif len(leaves) == 1:
            z = jnp.ravel(jnp.asarray(leaves[0], dtype))
        else:
            z = jnp.concatenate([jnp.ravel(jnp.asarray(a, dtype)) for a in leaves])
        rest = tuple(a for i, a in enumerate(call_args) if i != self._argnums)
        guard = self._guard
        if not (isinstance(guard, Guard) and guard.holds()):
            self._recheck(z, rest)
        return z, rest

    def _recheck(self, z: jax.Array, rest: tuple) -> None:
        """What f reads may have changed since preparation: detect again; new nonzeros mean coloring again."""
        if isinstance(self._guard, str):
            name = getattr(self._user_f, "__qualname__", "f")
            warn_once(("sparse hessian state", self._user_f), f"jacx.sparse.hessian: {name} reads state that can "
                      f"change between calls ({self._guard}), so jacx detects its Hessian pattern again on every "
                      "call to stay correct. Pass that state as an argument to avoid this.")
        found = _detect_hessian(self._flat_f, jnp.zeros(self._n, self._dtype), rest)
        new = symmetric_pattern(found.pattern, "jacx.sparse.hessian")
        extra = (new.astype(np.int8) - new.multiply(self.sparsity).astype(np.int8))
        extra.eliminate_zeros()
        if extra.nnz:
            warn_once(("hessian repattern", self._user_f), "jacx.sparse.hessian: the Hessian pattern of "
                      f"{getattr(self._user_f, '__qualname__', 'f')} gained {extra.nnz} nonzeros since it was "
                      "prepared (what it reads changed), so jacx colored it again.")
            pattern = symmetric_pattern(new + self.sparsity)
            self._build(pattern, symmetric_coloring(pattern, self._requested_method))
        if not isinstance(self._guard, str):
            self._guard = analyze(self._user_f)

    def values(self, *args: Any) -> jax.Array:
        """The nonzero values at ``args`` (``f``'s arguments), in CSR order of ``sparsity``."""
        if len(args) == 1 and self._flat_aval is not None:  # the common call hess(x): a flat vector, as prepared
            z, guard = args[0], self._guard
            if type(z) is CONCRETE_ARRAY and z.aval == self._flat_aval and type(guard) is Guard and guard.holds():
                return self._auto(*self._data_leaves, z)
        z, rest = self._split(args)
        return self._auto(*self._data_leaves, z, *rest)

    def __call__(self, *args: Any) -> jsparse.BCOO:
        """The Hessian at ``args`` (``f``'s arguments) as a symmetric ``BCOO`` of shape ``(n, n)``."""
        return self._treedef.unflatten((self.values(*args), self._indices))

    def to_scipy(self, *args: Any) -> sp.csr_array:
        """The Hessian as a ``scipy.sparse.csr_array`` (float64) with exactly the pattern ``sparsity``."""
        vals = np.asarray(self.values(*args), dtype=np.float64)
        p = self.sparsity
        return sp.csr_array((vals, p.indices.copy(), p.indptr.copy()), shape=p.shape)

    def __repr__(self) -> str:
        n = self.shape[0]
        return (f"SparseHessian({n}x{n}, nnz={self.sparsity.nnz}, method={self.method!r}, "
                f"n_colors={self.n_colors}, hvp={self.hvp!r})")


def hessian(f: Callable, *example_args: Any, argnums: int = 0, method: Method = "auto",
            hvp: HvpMode = "auto", args: tuple = ()) -> SparseHessian:
    """Prepare the sparse Hessian of the scalar function ``f`` for arguments shaped like ``example_args``.

    Preparation traces ``f`` once, detects the symmetric Hessian pattern (:func:`hessian_sparsity`) and colors
    it: ``method="star"`` (every nonzero read directly from one product), ``"acyclic"`` (fewer products, nonzeros
    recovered by substitution along two-colored trees) or ``"auto"`` (whichever is predicted to evaluate faster,
    :func:`jacx.sparse.symmetric_coloring`: acyclic's recovery costs about as much as one or two products per
    nonzero per row, so it is chosen only when it saves more products than that).  Each call then evaluates
    ``n_colors`` Hessian-vector products in one batch and recovers the nonzeros, in one compiled program.  The
    products are JVPs of the gradient (``hvp="forward-over-reverse"``) or, since ``H`` is symmetric, VJPs of it
    (``"reverse-over-reverse"``, more memory); ``"auto"`` takes the second when ``f`` gathers or scatters
    (indexing with index arrays, e.g. over a mesh's edges), where the first runs a batched scatter-add that is
    several times slower on CPU.  ``hess.hvp`` says which was used.  Argument ``argnums`` (an array or a pytree of arrays,
    flattened in ``ravel_pytree`` order) is differentiated; the others (and ``args``, appended to
    ``example_args``) are passed through and the pattern holds for all their values.

    >>> import jax.numpy as jnp
    >>> import jacx.sparse
    >>> rosen = lambda x: jnp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    >>> hess = jacx.sparse.hessian(rosen, jnp.zeros(1000))
    >>> hess.n_colors, hess.method, hess.sparsity.nnz
    (3, 'star', 2998)
    >>> H = hess(jnp.ones(1000))
    >>> H.shape, float(H.todense()[0, 0]), float(H.todense()[0, 1])
    ((1000, 1000), 802.0, -400.0)
    """
    if method not in _METHODS:
        raise JacxUsageError(
            f"sparse hessian: received method={method!r}; expected one of {', '.join(map(repr, _METHODS))}. "
            "Fix: pass one of those (\"auto\" picks the faster one)."
        )
    if hvp not in _HVP_MODES:
        raise JacxUsageError(
            f"sparse hessian: received hvp={hvp!r}; expected one of {', '.join(map(repr, _HVP_MODES))}. "
            "Fix: pass one of those (\"auto\" picks by what f computes)."
        )
    return SparseHessian(f, tuple(example_args) + tuple(args), argnums, method, hvp)
