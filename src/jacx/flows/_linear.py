"""Linear bijectors: LU-parametrised dense maps (Glow-style), 1x1 convolutions and permutations."""

from __future__ import annotations

from typing import Any, final

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import solve_triangular

from .._errors import JacxUsageError
from ..logdet._util import pytree_dataclass, static_field
from ._base import Bijector, check_vector

__all__ = ["LULinear", "Conv1x1", "Permute"]


def _check_perm(perm: tuple[int, ...], n: int | None = None) -> None:
    if sorted(perm) != list(range(len(perm))) or (n is not None and len(perm) != n):
        raise JacxUsageError(
            f"received perm={perm!r}; expected a permutation of 0..{(n or len(perm)) - 1} (each index once)."
        )


class _LUMatrix(Bijector):
    """Shared parametrisation ``W = P L U``: ``L`` unit lower, ``U`` upper with diagonal ``signs * exp(log_diag)``."""

    lower: jax.Array
    upper: jax.Array
    log_diag: jax.Array
    bias: jax.Array
    perm: tuple[int, ...]
    signs: tuple[float, ...]

    def _factors(self) -> tuple[jax.Array, jax.Array]:
        n = self.log_diag.shape[0]
        eye = jnp.eye(n, dtype=self.lower.dtype)
        lower = jnp.tril(self.lower, -1) + eye
        diag = jnp.asarray(self.signs, self.log_diag.dtype) * jnp.exp(self.log_diag)
        upper = jnp.triu(self.upper, 1) + jnp.diag(diag)
        return lower, upper

    def weight(self) -> jax.Array:
        """The ``(n, n)`` matrix ``W``."""
        lower, upper = self._factors()
        return (lower @ upper)[jnp.asarray(self.perm)]

    def _apply(self, x: jax.Array) -> jax.Array:  # x (..., n) -> W x + b on the last axis
        return x @ self.weight().T + self.bias

    def _solve(self, y: jax.Array) -> jax.Array:  # the inverse on the last axis, by two triangular solves
        lower, upper = self._factors()
        z = (y - self.bias).reshape(-1, y.shape[-1]).T
        u = jnp.zeros_like(z).at[jnp.asarray(self.perm)].set(z)
        w = solve_triangular(lower, u, lower=True, unit_diagonal=True)
        return solve_triangular(upper, w, lower=False).T.reshape(y.shape)

    def __post_init__(self) -> None:
        n = len(self.perm)  # validate static fields only: data leaves may be placeholders during unflattening
        _check_perm(tuple(self.perm), n)
        if len(self.signs) != n or any(s not in (1, -1, 1.0, -1.0) for s in self.signs):
            raise JacxUsageError(f"received signs={self.signs!r}; expected {n} entries, each +1 or -1.")


def _lu_init(key: jax.Array, n: int, dtype: Any) -> dict[str, Any]:
    k1, k2, k3 = jax.random.split(key, 3)
    perm = tuple(int(i) for i in np.asarray(jax.random.permutation(k1, n)))
    return dict(
        lower=0.1 * jax.random.normal(k2, (n, n), dtype),
        upper=0.1 * jax.random.normal(k3, (n, n), dtype),
        log_diag=jnp.zeros(n, dtype),
        bias=jnp.zeros(n, dtype),
        perm=perm,
        signs=(1.0,) * n,
    )


@final
@pytree_dataclass
class LULinear(_LUMatrix):
    """``y = W x + b`` with ``W = P L U`` (``P`` a fixed permutation, ``L`` unit lower triangular, ``U`` upper
    triangular with diagonal ``signs * exp(log_diag)``), so ``log|det W| = sum(log_diag)`` costs O(n) and the
    inverse is two triangular solves.  ``signs`` (static, +-1) fix the orientation.

    >>> import jax, jax.numpy as jnp
    >>> b = LULinear.init(jax.random.key(0), 3)
    >>> x = jnp.array([0.5, -1.0, 2.0])
    >>> bool(jnp.allclose(b.inverse(b.forward(x)), x, atol=1e-5))
    True
    """

    lower: jax.Array
    upper: jax.Array
    log_diag: jax.Array
    bias: jax.Array
    perm: tuple[int, ...] = static_field()
    signs: tuple[float, ...] = static_field()

    @classmethod
    def init(cls, key: jax.Array, n: int, dtype: Any = jnp.float32) -> LULinear:
        """A near-identity map of size ``n`` with a random fixed permutation."""
        return cls(**_lu_init(key, n, dtype))

    def jacobian_pattern(self, x: Any) -> str:
        return "dense"

    def forward_and_log_det(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        check_vector(x, "LULinear")
        return self._apply(x), jnp.sum(self.log_diag)

    def inverse_and_log_det(self, y: jax.Array) -> tuple[jax.Array, jax.Array]:
        check_vector(y, "LULinear")
        return self._solve(y), -jnp.sum(self.log_diag)


@final
@pytree_dataclass
class Conv1x1(_LUMatrix):
    """Invertible 1x1 convolution (Glow): the same LU-parametrised ``C x C`` matrix applied to the channels of
    every pixel of an ``(H, W, C)`` event, so ``log|det J| = H * W * sum(log_diag)``.

    >>> import jax, jax.numpy as jnp
    >>> b = Conv1x1.init(jax.random.key(0), 3)
    >>> img = jnp.ones((4, 5, 3))
    >>> b.forward(img).shape, float(b.forward_log_det_jacobian(img))
    ((4, 5, 3), 0.0)
    """

    lower: jax.Array
    upper: jax.Array
    log_diag: jax.Array
    bias: jax.Array
    perm: tuple[int, ...] = static_field()
    signs: tuple[float, ...] = static_field()

    @classmethod
    def init(cls, key: jax.Array, channels: int, dtype: Any = jnp.float32) -> Conv1x1:
        """A near-identity channel mixer for ``channels`` channels."""
        return cls(**_lu_init(key, channels, dtype))

    def _pixels(self, x: jax.Array) -> int:
        if np.ndim(x) != 3 or np.shape(x)[-1] != self.log_diag.shape[0]:
            raise JacxUsageError(
                f"Conv1x1 acts on one (H, W, C) image with C = {self.log_diag.shape[0]}; received shape "
                f"{np.shape(x)}. Fix: pass a single image (use jax.vmap for a batch)."
            )
        return int(np.shape(x)[0] * np.shape(x)[1])

    def forward_and_log_det(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        return self._apply(x), self._pixels(x) * jnp.sum(self.log_diag)

    def inverse_and_log_det(self, y: jax.Array) -> tuple[jax.Array, jax.Array]:
        return self._solve(y), -self._pixels(y) * jnp.sum(self.log_diag)

    def jacobian_pattern(self, x: Any) -> np.ndarray:
        h, w, c = np.shape(x)
        return np.kron(np.eye(h * w, dtype=bool), np.ones((c, c), dtype=bool))


@final
@pytree_dataclass
class Permute(Bijector):
    """``y = x[perm]``: reorders the entries of a vector; volume preserving (``log|det J| = 0``).

    >>> import jax.numpy as jnp
    >>> Permute((2, 0, 1)).forward(jnp.array([10.0, 20.0, 30.0]))
    Array([30., 10., 20.], dtype=float32)
    """

    perm: tuple[int, ...] = static_field()

    def __post_init__(self) -> None:
        _check_perm(tuple(self.perm))

    def forward_and_log_det(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        check_vector(x, "Permute")
        return x[jnp.asarray(self.perm)], jnp.zeros((), x.dtype)

    def inverse_and_log_det(self, y: jax.Array) -> tuple[jax.Array, jax.Array]:
        check_vector(y, "Permute")
        return y[jnp.asarray(np.argsort(self.perm))], jnp.zeros((), y.dtype)

    def jacobian_pattern(self, x: Any) -> np.ndarray:
        n = len(self.perm)
        p = np.zeros((n, n), dtype=bool)
        p[np.arange(n), np.asarray(self.perm)] = True
        return p
