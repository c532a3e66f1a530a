"""Sparse Jacobians of functions of several arguments and pytrees: reduced to one flat array input.

``jacobian(f, *example_args, argnums=..., has_aux=...)`` builds ``flat_f(x, *rest)``: ``x`` holds the differentiated
arguments (ravelled with ``jax.flatten_util.ravel_pytree``, or the array itself when there is one array), ``rest``
the others.  ``flat_f`` calls ``f`` and drops ``aux``; the output pytree stays as it is, which the single-array
machinery flattens in ``ravel_pytree`` order.  The closure holds only ``f``, the unravel function, ints, tuples and
bools, so jacx's guard analysis proves it unchanged exactly when ``f`` is.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from jax.flatten_util import ravel_pytree

from jacx._api import (
    AutoJit,
    BoundedCache,
    Ident,
    check_function,
    check_has_aux_output,
    check_input_dtypes,
    function_key,
    normalise_argnums,
)
from jacx._errors import JacxUsageError

__all__ = ["Layout", "SparsePytreeJacobian", "is_leaf", "is_single_array", "prepare_flat"]

_WRAPPERS = BoundedCache("sparse pytree wrappers", maxsize=128)


def is_leaf(x: Any) -> bool:
    """True for a pytree leaf (an array or a scalar)."""
    return x is not None and jax.tree_util.treedef_is_leaf(jax.tree_util.tree_structure(x))


def _numbers(x: Any) -> bool:
    if isinstance(x, (list, tuple)) and type(x) in (list, tuple):
        return all(_numbers(v) for v in x)
    return isinstance(x, (int, float, np.number)) and not isinstance(x, bool)


def is_single_array(x: Any) -> bool:
    """True for an array or a scalar (a pytree leaf), the input of the single-array form; also for a (nested) list
    or tuple of Python numbers, which the single-array form has always read as an array."""
    if x is None:
        return False
    return jax.tree_util.treedef_is_leaf(jax.tree_util.tree_structure(x)) or (
        isinstance(x, (list, tuple)) and len(x) > 0 and _numbers(x))


def example_arguments(example_args: tuple, args: tuple, where: str, call: str) -> tuple:
    """The example arguments, with the older ``args=`` keyword merged in; one-line errors for misuse.

    >>> example_arguments((1.0,), (2.0,), "sparsity", "sparsity(f, x)")
    (1.0, 2.0)
    """
    if args:
        if len(example_args) != 1:
            raise JacxUsageError(
                f"{where}: received {len(example_args)} positional example arguments and args=; expected the extra "
                f"arguments in one place. Fix: pass them positionally, {call[:-1]}, *args)."
            )
        example_args = (example_args[0], *tuple(args))
    if not example_args:
        raise JacxUsageError(f"{where}: received no example arguments; expected f's arguments after f. "
                             f"Fix: call jacx.sparse.{call} or {call[:-2]}*args, argnums=...).")
    return example_args


def _flat_function(f: Callable, argnums: int | tuple[int, ...], nargs: int, unravel: Any, has_aux: bool) -> Callable:
    multi = isinstance(argnums, tuple)
    nums = argnums if multi else (argnums,)

    def flat_f(x: Any, *rest: Any) -> Any:
        diff = x if unravel is None else unravel(x)
        diff = diff if multi else (diff,)
        full = []
        r = 0
        for i in range(nargs):
            if i in nums:
                full.append(diff[nums.index(i)])
            else:
                full.append(rest[r])
                r += 1
        out = f(*full)
        return out[0] if has_aux else out

    name = getattr(f, "__qualname__", None) or getattr(f, "__name__", None) or type(f).__name__
    flat_f.__qualname__ = flat_f.__name__ = name
    return flat_f


def _specs(tree: Any) -> tuple:
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return treedef, tuple((tuple(np.shape(v)), str(getattr(v, "dtype", type(v).__name__))) for v in leaves)


def prepare_flat(f: Callable, example_args: tuple, argnums: Any, has_aux: bool, where: str
                 ) -> tuple[Callable, Any, tuple, Any, Any]:
    """``(flat_f, x, rest, nums, out_shape)``: the flat function, its example flat input and other arguments, the
    normalised argnums and the shape tree of ``f``'s output (without aux)."""
    check_function(f, where)
    if not example_args:
        raise JacxUsageError(f"{where}: received no example arguments; expected f's arguments after f. "
                             f"Fix: call {where}(f, x) or {where}(f, *args, argnums=...).")
    if isinstance(argnums, list):
        argnums = tuple(argnums)
    nums = normalise_argnums(argnums, len(example_args))
    diff = tuple(example_args[i] for i in nums) if isinstance(nums, tuple) else example_args[nums]
    check_input_dtypes(diff, where)
    out = jax.eval_shape(f, *example_args)
    if has_aux:
        check_has_aux_output(out, where)
        out = out[0]
    rest = tuple(a for i, a in enumerate(example_args) if i not in (nums if isinstance(nums, tuple) else (nums,)))
    single = not isinstance(nums, tuple) and is_leaf(diff)
    if single:
        x = jax.numpy.asarray(diff)
    else:
        x, _ = ravel_pytree(diff)
    key = (function_key(f), nums, len(example_args), bool(has_aux), single, _specs(diff))
    flat_f = _WRAPPERS.get(key)
    if flat_f is None:
        flat_f = _flat_function(f, nums, len(example_args), None if single else ravel_pytree(diff)[1], bool(has_aux))
        _WRAPPERS.put(key, flat_f)
    return flat_f, x, rest, nums, out


def _index(flat: int, sizes: list[int], total: int, what: str) -> tuple[int, int]:
    if isinstance(flat, bool) or not isinstance(flat, (int, np.integer)) or not -total <= flat < total:
        raise JacxUsageError(f"{what}: received {flat!r}; expected an int with 0 <= index < {total} (or a negative "
                             "index from the end). Fix: pass a row (output_index) or column (input_index) of the BCOO.")
    flat = int(flat) % total
    leaf = int(np.searchsorted(np.cumsum(sizes), flat, side="right"))
    return leaf, flat - int(sum(sizes[:leaf]))


class Layout:
    """Where each row and column of the flattened Jacobian comes from: the output leaf and the argument leaf."""

    def __init__(self, example_args: tuple, nums: Any, out: Any):
        multi = isinstance(nums, tuple)
        diff = tuple(example_args[i] for i in nums) if multi else example_args[nums]
        self.inputs = []  # (argnum, path, shape)
        for path, leaf in jax.tree_util.tree_flatten_with_path(diff)[0]:
            if multi:
                argnum, path = nums[path[0].idx], path[1:]
            else:
                argnum = nums
            self.inputs.append((argnum, jax.tree_util.keystr(tuple(path)), tuple(np.shape(leaf))))
        self.outputs = [(jax.tree_util.keystr(tuple(path)), tuple(np.shape(leaf)))
                        for path, leaf in jax.tree_util.tree_flatten_with_path(out)[0]]

    def input_index(self, j: int) -> tuple[int, str, tuple[int, ...]]:
        sizes = [math.prod(s) for _, _, s in self.inputs]
        leaf, pos = _index(j, sizes, sum(sizes), "input_index")
        argnum, path, shape = self.inputs[leaf]
        return argnum, path, tuple(int(i) for i in np.unravel_index(pos, shape))

    def output_index(self, i: int) -> tuple[str, tuple[int, ...]]:
        sizes = [math.prod(s) for _, s in self.outputs]
        leaf, pos = _index(i, sizes, sum(sizes), "output_index")
        path, shape = self.outputs[leaf]
        return path, tuple(int(k) for k in np.unravel_index(pos, shape))


class SparsePytreeJacobian:
    """A prepared sparse Jacobian of ``f(*args)`` with respect to the arguments ``argnums`` (pytrees allowed).

    Calling it with arguments of the prepared structure and shapes returns a ``BCOO`` of shape ``(m, n)``: rows
    are the output flattened in ``ravel_pytree`` order, columns the differentiated arguments flattened in
    ``ravel_pytree`` order of the argument (``argnums`` an int) or of the tuple of arguments (a tuple); with
    ``has_aux`` the pair ``(BCOO, aux)``.  ``input_index(j)`` gives ``(argnum, leaf path, index in the leaf)`` of
    column ``j``, ``output_index(i)`` ``(leaf path, index in the leaf)`` of row ``i``.  ``values(*args)`` and
    ``to_scipy(*args)`` return the Jacobian only (no aux).  ``flat`` is the :class:`SparseJacobian` of the flat
    function it evaluates; ``sparsity``, ``coloring``, ``mode``, ``n_colors``, ``layout``, ``shape`` and
    ``preparation`` are its own.

    >>> import jax.numpy as jnp, jacx.sparse
    >>> f = lambda p, x: (p["w"] * x, jnp.sum(x))            # (output, aux)
    >>> jac = jacx.sparse.jacobian(f, {"w": jnp.ones(3)}, jnp.arange(3.0), argnums=1, has_aux=True)
    >>> J, aux = jac({"w": jnp.array([1.0, 2.0, 3.0])}, jnp.ones(3))
    >>> J.todense().diagonal().tolist(), float(aux), jac.input_index(2)
    ([1.0, 2.0, 3.0], 3.0, (1, '', (2,)))
    """

    def __init__(self, f: Callable, flat: Any, example_args: tuple, nums: Any, out: Any, has_aux: bool,
                 single: bool):
        self._user_f, self.flat, self.argnums, self.has_aux = f, flat, nums, has_aux
        self._single = single
        self._nargs = len(example_args)
        self._tree, self._leaves = _specs(example_args)
        self._layout = Layout(example_args, nums, out)
        multi = isinstance(nums, tuple)
        self._diff = nums if multi else (nums,)
        self._aux = AutoJit(f, ("sparse aux", Ident(object())), lambda fun: (lambda *a: fun(*a)[1]), True,
                            "jacx.sparse.jacobian") if has_aux else None

    sparsity = property(lambda self: self.flat.sparsity)
    coloring = property(lambda self: self.flat.coloring)
    mode = property(lambda self: self.flat.mode)
    n_colors = property(lambda self: self.flat.n_colors)
    layout = property(lambda self: self.flat.layout)
    shape = property(lambda self: self.flat.shape)
    preparation = property(lambda self: self.flat.preparation)

    def input_index(self, j: int) -> tuple[int, str, tuple[int, ...]]:
        """``(argnum, leaf path, index within the leaf)`` of column ``j`` (a path like ``"['w']"``, ``""`` for an
        array argument)."""
        return self._layout.input_index(j)

    def output_index(self, i: int) -> tuple[str, tuple[int, ...]]:
        """``(leaf path, index within the leaf)`` of row ``i`` (a path like ``"[1]"``, ``""`` for an array output)."""
        return self._layout.output_index(i)

    def _split(self, args: tuple) -> tuple[Any, tuple]:
        leaves, tree = jax.tree_util.tree_flatten(args)
        if tree != self._tree or len(leaves) != len(self._leaves) or any(
                tuple(np.shape(v)) != s for v, (s, _) in zip(leaves, self._leaves)):
            if tree != self._tree:
                got, want = f"the structure {tree}", f"{self._tree}"
            else:
                paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(args)[0]]
                k = next(k for k, (v, (s, _)) in enumerate(zip(leaves, self._leaves)) if tuple(np.shape(v)) != s)
                got, want = f"args{paths[k]} of shape {tuple(np.shape(leaves[k]))}", f"shape {self._leaves[k][0]}"
            raise JacxUsageError(
                f"sparse jacobian: received {got}; expected {want}, what it was prepared for. Fix: call "
                "jacx.sparse.jacobian(f, *args) again for the new arguments."
            )
        diff = tuple(args[i] for i in self._diff)
        rest = tuple(a for i, a in enumerate(args) if i not in self._diff)
        if self._single:
            return diff[0], rest
        return ravel_pytree(diff if isinstance(self.argnums, tuple) else diff[0])[0], rest

    def __call__(self, *args: Any) -> Any:
        """The Jacobian at ``args`` as a ``BCOO`` of shape ``(m, n)`` (with ``has_aux``: ``(BCOO, aux)``)."""
        x, rest = self._split(args)
        jac = self.flat(x, *rest)
        return (jac, self._aux(*args)) if self.has_aux else jac

    def values(self, *args: Any) -> jax.Array:
        """The nonzero values at ``args``, in CSR order of ``self.sparsity``."""
        x, rest = self._split(args)
        return self.flat.values(x, *rest)

    def to_scipy(self, *args: Any) -> Any:
        """The Jacobian at ``args`` as a ``scipy.sparse.csr_array`` (float64) with exactly the pattern ``sparsity``."""
        x, rest = self._split(args)
        return self.flat.to_scipy(x, *rest)

    def __repr__(self) -> str:
        m, n = self.shape
        return (f"SparsePytreeJacobian({m}x{n}, argnums={self.argnums!r}, nnz={self.sparsity.nnz}, "
                f"mode={self.mode!r}, n_colors={self.n_colors})")
