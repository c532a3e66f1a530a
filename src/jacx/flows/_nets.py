"""Small neural networks used as conditioners: a plain MLP and MADE (masked autoencoder for distributions)."""

from __future__ import annotations

from collections.abc import Sequence
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
