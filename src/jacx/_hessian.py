"""Dense Hessians and Hessian-vector products.

The Hessian of a scalar ``f: R^n -> R`` is the Jacobian of its gradient. :func:`hessian` builds it exactly that
way: a gradient function (the *inner* derivative) handed to :func:`jacx.jacobian` (the *outer* one), so it gets
the Jacobian's memory check, chunking, compile cache and devices for free, and the layout of
:func:`jax.hessian` (one block ``x_i.shape + x_j.shape`` per pair of input leaves).

The cheapest composition is forward-over-reverse: one reverse pass gives the gradient, and each column of the
Hessian is one JVP of that gradient (a Hessian-vector product), about ``n`` passes of roughly 4 evaluations of
``f`` each. Reverse-over-reverse costs the same number of passes but keeps a tape per pass (more memory);
the compositions with a forward-mode inner derivative pay ``n`` passes for every gradient and exist only for
checking.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal, overload

import jax
import jax.numpy as jnp

from ._api import (check_chunk_size, check_function, check_has_aux_output, check_input_dtypes, compiled, function_key, memo_get, memo_put,
                   normalise_argnums)
from ._dense import jacobian
from ._errors import JacobianTooLargeError, JacxUsageError, NotScalarOutputError
from ._sharding import Devices

__all__ = ["hessian", "hvp", "HessianMode"]

HessianMode = Literal["auto", "forward-over-reverse", "reverse-over-reverse", "reverse-over-forward",
                      "forward-over-forward"]
_MODES: dict[str, tuple[str, str]] = {  # mode -> (outer, inner)
    "auto": ("forward", "reverse"),
    "forward-over-reverse": ("forward", "reverse"),
    "reverse-over-reverse": ("reverse", "reverse"),
    "reverse-over-forward": ("reverse", "forward"),
    "forward-over-forward": ("forward", "forward"),
}


def _check_scalar(out: Any, has_aux: bool, where: str) -> None:
    if has_aux:
        check_has_aux_output(out, where)
        out = out[0]
    if not (isinstance(out, jax.ShapeDtypeStruct) and out.shape == () and jnp.issubdtype(out.dtype, jnp.floating)):
        got = f"shape {out.shape}, dtype {out.dtype}" if isinstance(out, jax.ShapeDtypeStruct) else \
            f"a {type(out).__name__}"
        raise NotScalarOutputError(
            f"{where} needs a function with one real scalar output, but it returned {got}. For a vector-valued "
            "function use jacx.jacobian(f) (or the Hessian of each output); to get a scalar, reduce first "
            "(e.g. jnp.sum(f(x)))."
        )


class _GradientOf:
    """The gradient of ``f`` with respect to ``argnums`` (by reverse or forward mode), as a function of all of
    ``f``'s arguments. Equal instances wrap the same ``f`` and options, so they share jacx's compiled programs."""

    __slots__ = ("__wrapped__", "argnums", "inner", "has_aux", "__name__", "__qualname__")
    _jacx_guard_children = ("__wrapped__",)  # what it reads, for jacx's cache guards
    _jacx_key_by_value = True

    def __init__(self, f: Callable, argnums: int | tuple[int, ...], inner: str, has_aux: bool) -> None:
        self.__wrapped__ = f
        self.argnums = argnums
        self.inner = inner
        self.has_aux = has_aux
        self.__name__ = f"gradient({getattr(f, '__name__', 'f')})"
        self.__qualname__ = self.__name__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        f, has_aux = self.__wrapped__, self.has_aux
        nums = normalise_argnums(self.argnums, len(args))
        check_input_dtypes(tuple(args[i] for i in nums) if isinstance(nums, tuple) else args[nums], "jacx.hessian")
        _check_scalar(jax.eval_shape(lambda *a: f(*a, **kwargs), *args), has_aux, "jacx.hessian")
        if self.inner == "reverse":
            return jax.grad(f, argnums=nums, has_aux=has_aux)(*args, **kwargs)
        # forward mode: jax.jacfwd of a scalar function is its gradient, shaped like the input
        return jax.jacfwd(f, argnums=nums, has_aux=has_aux)(*args, **kwargs)

    def _key(self) -> tuple:
        return (self.__wrapped__, self.argnums, self.inner, self.has_aux)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _GradientOf) and other._key() == self._key()

    def __hash__(self) -> int:
        return hash(self._key())


def hessian(
    f: Callable,
    argnums: int | Sequence[int] = 0,
    *,
    mode: HessianMode = "auto",
    chunk_size: int | None = None,
    has_aux: bool = False,
    jit: bool = True,
    check_finite: bool = False,
    devices: Devices = None,
) -> Callable:
    """The Hessian of a scalar-valued ``f`` as a function, laid out exactly like :func:`jax.hessian`.

    For ``f: R^n -> R`` the result at ``x`` is the symmetric ``n x n`` matrix ``d^2 f / dx_i dx_j``. For array
    and pytree arguments the block for input leaves ``a`` and ``b`` has shape ``a.shape + b.shape``; with a tuple
    ``argnums`` the result is a tuple of tuples (``H[i][j]`` differentiates by argument ``argnums[i]``, then by
    ``argnums[j]``).

    It is built as the Jacobian of the gradient with :func:`jacx.jacobian`, so the memory check, chunking,
    compile cache and ``devices`` work as they do there.

    Args:
        f: a function with one real scalar output, written with ``jax.numpy``.
        argnums: which positional argument(s) to differentiate with respect to.
        mode: ``"auto"`` or ``"forward-over-reverse"`` (the default and the cheapest: one JVP of the gradient per
            input entry, each a Hessian-vector product); ``"reverse-over-reverse"`` (one VJP of the gradient per
            entry: same count, more memory); ``"reverse-over-forward"`` and ``"forward-over-forward"`` (gradient by
            forward mode, ``n`` passes each time: only for cross-checking).
        chunk_size: evaluate at most this many Hessian-vector products at once. By default all at once unless they
            would not fit in memory, in which case a chunk size that fits is chosen.
        has_aux: ``f`` returns ``(value, aux)``; the Hessian function then returns ``(hessian, aux)``.
        jit, check_finite, devices: as for :func:`jacx.jacobian`.

    Raises:
        NotScalarOutputError: ``f`` does not return a real scalar.
        JacobianTooLargeError: the dense Hessian would not fit in memory (use ``jacx.sparse.hessian`` or
            :func:`hvp`).

    >>> import jax.numpy as jnp, jacx
    >>> f = lambda v: v[0] ** 2 * v[1] + jnp.sin(v[1])
    >>> jacx.hessian(f)(jnp.array([1.0, 0.0]))
    Array([[0., 2.],
           [2., 0.]], dtype=float32)
    >>> H = jacx.hessian(lambda w, b: jnp.sum((w * b) ** 2), argnums=(0, 1))(jnp.ones(2), jnp.ones(2))
    >>> [[blk.shape for blk in row] for row in H]
    [[(2, 2), (2, 2)], [(2, 2), (2, 2)]]
    """
    argnums = tuple(argnums) if isinstance(argnums, (list, tuple)) else argnums
    key = ("hessian", function_key(f), argnums, mode, chunk_size, has_aux, jit, check_finite, devices)
    try:
        made = memo_get(key)
    except TypeError:  # an unhashable devices= (a list of devices): not memoised
        key, made = None, None
    if made is not None:
        return made
    check_function(f, "jacx.hessian")
    if mode not in _MODES:
        raise JacxUsageError(f"jacx.hessian: mode must be one of {', '.join(map(repr, _MODES))}; got {mode!r}.")
    check_chunk_size(chunk_size)
    outer, inner = _MODES[mode]
    jac = jacobian(_GradientOf(f, argnums, inner, has_aux), argnums, mode=outer, has_aux=has_aux,
                   chunk_size=chunk_size, jit=jit, check_finite=check_finite, devices=devices)

    def hessian_fn(*args: Any, **kwargs: Any) -> Any:
        try:
            return jac(*args, **kwargs)
        except JacobianTooLargeError as err:
            raise JacobianTooLargeError(_hessian_message(str(err))) from None

    hessian_fn.__name__ = f"hessian({getattr(f, '__name__', 'f')})"
    hessian_fn.__doc__ = f"Hessian of {getattr(f, '__name__', 'f')} (mode={mode!r}, argnums={argnums!r})."
    return hessian_fn if key is None else memo_put(key, hessian_fn)


def _hessian_message(text: str) -> str:
    """The Jacobian's memory message, said of the Hessian, with the options that fit a Hessian."""
    text = text.replace("dense Jacobian", "dense Hessian").replace(" Jacobian", " Hessian")
    for cut in (" Options:", " Use jacx.sparse.jacobian"):
        if cut in text:
            text = text.split(cut)[0] + (" Options:" if cut == " Options:" else "")
            return (f"jacx.hessian: {text} jacx.sparse.hessian(f, x) when most entries are zero, or jacx.hvp(f, x, v) "
                    "for Hessian-vector products (any n).")
    return f"jacx.hessian: {text}"


def _hvp_impl(f: Callable, x: Any, v: Any, args: tuple) -> Any:
    return jax.jvp(lambda p: jax.grad(f)(p, *args), (x,), (v,))[1]


def _check_hvp_args(f: Callable, x: Any, args: Any) -> tuple:
    check_function(f, "jacx.hvp")
    if not isinstance(args, (tuple, list)):
        raise JacxUsageError(f"jacx.hvp: args must be a tuple of f's further arguments; got a {type(args).__name__}. "
                             "Fix: pass args=(a,) for one extra argument.")
    check_input_dtypes(x, "jacx.hvp")
    return tuple(args)


def _check_v(x: Any, v: Any) -> None:
    xs, vs = jax.tree_util.tree_structure(x), jax.tree_util.tree_structure(v)
    if xs != vs:
        raise JacxUsageError(f"jacx.hvp: v must have the structure of x ({xs}); got {vs}. Pass v shaped like x.")
    for a, b in zip(jax.tree_util.tree_leaves(x), jax.tree_util.tree_leaves(v)):
        if jnp.shape(a) != jnp.shape(b):
            raise JacxUsageError(
                f"jacx.hvp: v must have x's shapes; a leaf of x has shape {jnp.shape(a)} and v's {jnp.shape(b)}."
            )


@overload
def hvp(f: Callable, x: Any, v: Any, *, args: tuple = ()) -> Any: ...
@overload
def hvp(f: Callable, x: Any, v: None = None, *, args: tuple = ()) -> Callable[[Any], Any]: ...


def hvp(f: Callable, x: Any, v: Any = None, *, args: tuple = ()) -> Any:
    """The Hessian-vector product ``H(x) v`` of a scalar ``f(x, *args)``, without forming ``H``.

    One JVP of the reverse-mode gradient (forward-over-reverse): about four evaluations of ``f`` and memory of
    one gradient, at any ``n``. ``x`` and ``v`` may be pytrees of the same structure; the result is shaped like
    ``x``. Compiled and cached like :func:`jacx.jacobian`.

    With ``v`` omitted, returns the prepared linear map ``v -> H(x) v``: the gradient is linearized at ``x`` once
    (its residuals kept), so each product then costs about two evaluations, e.g. for conjugate gradients.

    >>> import jax.numpy as jnp, jacx
    >>> f = lambda x: jnp.sum(x ** 3)                       # H = diag(6 x)
    >>> jacx.hvp(f, jnp.array([1.0, 2.0]), jnp.array([1.0, 1.0]))
    Array([ 6., 12.], dtype=float32)
    >>> Hv = jacx.hvp(f, jnp.array([1.0, 2.0]))            # prepared once
    >>> Hv(jnp.array([0.0, 1.0]))
    Array([ 0., 12.], dtype=float32)
    """
    args = _check_hvp_args(f, x, args)
    if v is not None:
        _check_v(x, v)
    _check_scalar(jax.eval_shape(lambda p: f(p, *args), x), False, "jacx.hvp")
    if v is not None:
        return _compiled_hvp(f)(x, v, args)
    _, linear = jax.linearize(lambda p: jax.grad(f)(p, *args), x)
    jitted = jax.jit(linear)

    def prepared_hvp(u: Any) -> Any:
        try:
            return jitted(u)
        except (TypeError, ValueError):
            _check_v(x, u)  # a v unlike x: say so plainly; anything else: JAX's own error
            raise

    return prepared_hvp


class _HvpOf:
    """``(x, v, args) -> H(x) v`` for one ``f``; equal instances share compiled programs."""

    __slots__ = ("__wrapped__", "__name__", "__qualname__")
    _jacx_guard_children = ("__wrapped__",)
    _jacx_key_by_value = True

    def __init__(self, f: Callable) -> None:
        self.__wrapped__ = f
        self.__name__ = self.__qualname__ = f"hvp({getattr(f, '__name__', 'f')})"

    def __call__(self, x: Any, v: Any, args: tuple) -> Any:
        return _hvp_impl(self.__wrapped__, x, v, args)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _HvpOf) and other.__wrapped__ == self.__wrapped__

    def __hash__(self) -> int:
        return hash(self.__wrapped__)


def _compiled_hvp(f: Callable) -> Callable:
    return compiled(_HvpOf(f), ("hvp", f), "jacx.hvp")
