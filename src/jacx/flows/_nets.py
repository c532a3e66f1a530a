"""Small neural networks used as conditioners: a plain MLP and MADE (masked autoencoder for distributions)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, final

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import JacxUsageError
from ..logdet._util import pytree_dataclass, static_field

__all__ = ["MLP", "MADE"]

_ACTIVATIONS = {"tanh": jnp.tanh, "relu": jax.nn.relu, "gelu": jax.nn.gelu, "elu": jax.nn.elu}


def _check_activation(name: str) -> None:
    if name not in _ACTIVATIONS:
        raise JacxUsageError(f"received activation={name!r}; expected one of {sorted(_ACTIVATIONS)}.")


def _dense_init(key: jax.Array, sizes: Sequence[int], zero_last: bool, dtype: Any) -> tuple[tuple, tuple]:
    keys = jax.random.split(key, len(sizes) - 1)
    weights, biases = [], []
    for i, (k, a, b) in enumerate(zip(keys, sizes[:-1], sizes[1:])):
        last = i == len(sizes) - 2
        w = jnp.zeros((b, a), dtype) if (last and zero_last) else jax.random.normal(k, (b, a), dtype) / np.sqrt(a)
        weights.append(w)
        biases.append(jnp.zeros(b, dtype))
    return tuple(weights), tuple(biases)


@final
@pytree_dataclass
class MLP:
    """A multilayer perceptron ``x -> W_L s(... s(W_1 x + b_1) ...) + b_L`` (no activation after the last layer).

    >>> import jax, jax.numpy as jnp
    >>> net = MLP.init(jax.random.key(0), [2, 16, 3], zero_last=False)
    >>> net(jnp.ones(2)).shape
    (3,)
    """

    weights: tuple[jax.Array, ...]
    biases: tuple[jax.Array, ...]
    activation: str = static_field(default="tanh")

    def __post_init__(self) -> None:
        _check_activation(self.activation)

    @classmethod
    def init(
        cls,
        key: jax.Array,
        sizes: Sequence[int],
        *,
        activation: str = "tanh",
        zero_last: bool = True,
        dtype: Any = jnp.float32,
    ) -> MLP:
        """Random weights (scaled by ``1/sqrt(fan_in)``); ``zero_last`` makes the output 0 (identity flows)."""
        if len(sizes) < 2:
            raise JacxUsageError(f"received sizes={list(sizes)!r}; expected at least [inputs, outputs].")
        w, b = _dense_init(key, sizes, zero_last, dtype)
        return cls(w, b, activation)

    def __call__(self, x: jax.Array) -> jax.Array:
        act = _ACTIVATIONS[self.activation]
        # x @ w.T rather than w @ x: under vmap the batch stays the leading axis of every product (no transposes)
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            x = act(x @ w.T + b)
        return x @ self.weights[-1].T + self.biases[-1]


def _made_masks(n: int, hidden: tuple[int, ...], outputs_per_input: int) -> list[np.ndarray]:
    """Masks such that output ``i`` (of each of the ``outputs_per_input`` heads) sees only inputs ``< i``."""
    degrees = [np.arange(1, n + 1)]
    for h in hidden:
        degrees.append(np.arange(h) % max(n - 1, 1) + 1)
    masks = [(d_out[:, None] >= d_in[None, :]) for d_in, d_out in zip(degrees[:-1], degrees[1:])]
    out_deg = np.tile(np.arange(1, n + 1), outputs_per_input)
    masks.append(out_deg[:, None] > degrees[-1][None, :])
    return masks


@final
@pytree_dataclass
class MADE:
    """Masked MLP (Germain et al., 2015) with ``outputs_per_input`` heads: head ``k``, entry ``i`` depends only on
    inputs ``0 .. i-1``, so an autoregressive flow built on it has a triangular Jacobian.  The masks are rebuilt
    from the static sizes at trace time (they are not parameters).

    >>> import jax, jax.numpy as jnp
    >>> net = MADE.init(jax.random.key(0), 3, (8,), zero_last=False)
    >>> J = jax.jacfwd(net)(jnp.ones(3))        # (6, 3): two heads, strictly lower triangular each
    >>> bool(jnp.all(jnp.triu(J[:3]) == 0)) and bool(jnp.all(jnp.triu(J[3:]) == 0))
    True
    """

    weights: tuple[jax.Array, ...]
    biases: tuple[jax.Array, ...]
    num_inputs: int = static_field()
    hidden: tuple[int, ...] = static_field()
    outputs_per_input: int = static_field(default=2)
    activation: str = static_field(default="tanh")

    def __post_init__(self) -> None:
        _check_activation(self.activation)

    @classmethod
    def init(
        cls,
        key: jax.Array,
        num_inputs: int,
        hidden: Sequence[int] = (64, 64),
        *,
        outputs_per_input: int = 2,
        activation: str = "tanh",
        zero_last: bool = True,
        dtype: Any = jnp.float32,
    ) -> MADE:
        """Random masked network for ``num_inputs`` inputs."""
        hidden = tuple(int(h) for h in hidden)
        sizes = [num_inputs, *hidden, outputs_per_input * num_inputs]
        w, b = _dense_init(key, sizes, zero_last, dtype)
        return cls(w, b, int(num_inputs), hidden, int(outputs_per_input), activation)

    def masked_transposed(self) -> tuple[jax.Array, ...]:
        """The weights with their masks applied, transposed (``x @ w`` per layer): compute them once outside a
        loop that evaluates the network many times (as a MAF inverse does), then call :meth:`apply`."""
        masks = _made_masks(self.num_inputs, self.hidden, self.outputs_per_input)
        return tuple((w * m).T for w, m in zip(self.weights, masks))

    def apply(self, masked: tuple[jax.Array, ...], x: jax.Array) -> jax.Array:
        """The network on ``x`` with weights from :meth:`masked_transposed`."""
        act = _ACTIVATIONS[self.activation]
        for w, b in zip(masked[:-1], self.biases[:-1]):
            x = act(x @ w + b)
        return x @ masked[-1] + self.biases[-1]

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.apply(self.masked_transposed(), x)

    def solve(self, masked: tuple[jax.Array, ...],
              entry: Callable[[jax.Array, jax.Array], tuple[jax.Array, jax.Array]]) -> tuple[jax.Array, jax.Array]:
        """Fill ``x`` one entry at a time: ``x[i], term_i = entry(i, out_i)``, where ``out_i`` holds entry ``i`` of
        each head of the network at the ``x`` built so far (it sees only ``x[:i]``); returns ``x`` and the sum of
        the ``term_i``.  This is how a MAF is inverted.  Step ``i`` updates the first layer's pre-activations by
        one row (``x[i] * w[i]``) and computes only the ``outputs_per_input`` outputs it needs, so only the middle
        layers run in full: about half the work of a whole network pass per step on a 16 -> 64 -> 64 -> 32 MADE.
        Needs at least one hidden layer.

        >>> import jax, jax.numpy as jnp
        >>> net = MADE.init(jax.random.key(0), 3, (8,), zero_last=False)
        >>> x, total = net.solve(net.masked_transposed(), lambda i, out: (out[0] + 1.0, out[1]))
        >>> out = net(x).reshape(2, 3)
        >>> bool(jnp.allclose(out[0] + 1.0, x, atol=1e-6)), bool(jnp.allclose(out[1].sum(), total, atol=1e-6))
        (True, True)
        """
        if not self.hidden:
            raise JacxUsageError("MADE.solve needs a hidden layer; this network has none. Fix: give it one.")
        n, k = self.num_inputs, self.outputs_per_input
        act = _ACTIVATIONS[self.activation]
        first = masked[0]  # (n, h): row i is what x[i] adds to the first pre-activations
        last = jnp.transpose(masked[-1].reshape(masked[-1].shape[0], k, n), (2, 0, 1))  # (n, h, k): entry i's columns
        b_last = self.biases[-1].reshape(k, n).T  # (n, k)

        def step(i: jax.Array, carry: tuple) -> tuple:
            x, pre, total = carry
            h = act(pre)
            for w, b in zip(masked[1:-1], self.biases[1:-1]):
                h = act(h @ w + b)
            row = functools.partial(jax.lax.dynamic_index_in_dim, index=i, axis=0, keepdims=False)
            out = h @ row(last) + row(b_last)
            xi, term = entry(i, out)
            return jax.lax.dynamic_update_index_in_dim(x, xi, i, 0), pre + xi * row(first), total + term

        dtype = jnp.result_type(first, b_last)
        init = (jnp.zeros(n, dtype), jnp.asarray(self.biases[0], dtype), jnp.zeros((), dtype))
        x, _, total = jax.lax.fori_loop(0, n, step, init)
        return x, total
