"""Building and training 2-D flows: RealNVP / MAF stacks, maximum-likelihood training with optax, and the
grid check that a learned density integrates to one."""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, final

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import JacxUsageError
from ._chain import Chain
from ._coupling import AffineCoupling, MaskedAutoregressive
from ._distributions import Flow, StandardNormal
from ._linear import LULinear, Permute

__all__ = ["realnvp", "maf", "train", "TrainResult", "grid_integral"]


def _check_num_layers(num_layers: Any) -> None:
    if isinstance(num_layers, bool) or not isinstance(num_layers, (int, np.integer)) or num_layers < 1:
        raise JacxUsageError(f"received num_layers={num_layers!r}; expected a positive integer (e.g. 8).")


def realnvp(
    key: jax.Array, n: int = 2, num_layers: int = 8, hidden: Sequence[int] = (64, 64), *, mixing: bool = False
) -> Flow:
    """A RealNVP flow on ``n``-vectors: ``num_layers`` affine couplings with alternating masks, standard normal base.

    With ``mixing`` a trainable :class:`LULinear` map sits between consecutive couplings, so that the couplings are
    not tied to the coordinate axes.  Starts as (``mixing=False``) or close to (``mixing=True``) the identity map:
    the last conditioner layers are zero.

    >>> flow = realnvp(jax.random.key(0), 2, num_layers=2, hidden=(8,))
    >>> round(float(flow.log_prob(jnp.zeros(2))), 4)
    -1.8379
    """
    if n < 2:
        raise JacxUsageError(f"received n={n}; a coupling flow needs at least 2 dimensions.")
    _check_num_layers(num_layers)
    keys = jax.random.split(key, 2 * num_layers)
    layers: list[Any] = []
    for i in range(num_layers):
        if mixing and i:
            layers.append(LULinear.init(keys[2 * i + 1], n))
        mask = tuple(bool((j + i) % 2) for j in range(n))
        layers.append(AffineCoupling.init(keys[2 * i], mask, hidden))
    return Flow(Chain(tuple(layers)), StandardNormal((n,)))


def maf(key: jax.Array, n: int = 2, num_layers: int = 5, hidden: Sequence[int] = (64, 64)) -> Flow:
    """A masked autoregressive flow: ``num_layers`` MAF layers with order reversals in between.

    >>> flow = maf(jax.random.key(0), 3, num_layers=2, hidden=(8,))
    >>> flow.sample(jax.random.key(1), 4).shape
    (4, 3)
    """
    _check_num_layers(num_layers)
    keys = jax.random.split(key, num_layers)
    layers: list[Any] = []
    for i, k in enumerate(keys):
        if i:
            layers.append(Permute(tuple(range(n - 1, -1, -1))))
        layers.append(MaskedAutoregressive.init(k, n, hidden))
    return Flow(Chain(tuple(layers)), StandardNormal((n,)))


@final
@dataclasses.dataclass(frozen=True)
class TrainResult:
    """The trained flow, the loss (mean negative log-likelihood) after each step, and the wall time in seconds.

    >>> import numpy as np
    >>> TrainResult(flow=None, losses=np.array([2.0, 1.5]), seconds=0.1).losses.min()
    np.float64(1.5)
    """

    flow: Flow
    losses: np.ndarray
    seconds: float


class _Progress:
    """tqdm when installed, else a one-line text bar on stderr."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.enabled, self.total, self.done, self.bar = enabled, total, 0, None
        if enabled:
            try:
                from tqdm.auto import tqdm

                self.bar = tqdm(total=total, desc="training", unit="step", file=sys.stderr)
            except ImportError:
                self.bar = None

    def update(self, k: int, loss: float) -> None:
        self.done += k
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(k)
            self.bar.set_postfix(nll=f"{loss:.3f}")
        else:
            width = 30
            filled = int(width * self.done / self.total)
            bar = "#" * filled + "." * (width - filled)
            sys.stderr.write(f"\rtraining [{bar}] {self.done}/{self.total} nll={loss:.3f}")
            sys.stderr.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.enabled:
            sys.stderr.write("\n")


def train(
    flow: Flow,
    data: Any,
    *,
    key: jax.Array,
    steps: int = 2000,
    batch_size: int = 256,
    learning_rate: float = 2e-3,
    progress: bool = True,
    chunk: int = 50,
) -> TrainResult:
    """Fit ``flow`` to ``data`` (shape ``(N, *event_shape)``) by maximum likelihood with optax's Adam.

    The learning rate follows a cosine decay to 0 over ``steps``; gradients are clipped to global norm 5.
    ``chunk`` steps run inside one compiled ``lax.scan`` between progress-bar updates.

    >>> import jax
    >>> from jacx.flows import realnvp, two_moons
    >>> data = two_moons(jax.random.key(0), 256)
    >>> res = train(realnvp(jax.random.key(1), 2, 2, (16,)), data, key=jax.random.key(2), steps=20, progress=False)
    >>> res.losses.shape, bool(res.losses[-1] < res.losses[0])
    ((20,), True)
    """
    import optax  # training needs optax; the rest of jacx.flows does not

    data = jnp.asarray(data)
    if data.ndim < 1 or data.shape[0] < 1:
        raise JacxUsageError(f"received data of shape {data.shape}; expected (N, *event_shape) with N >= 1.")
    if steps < 1 or batch_size < 1:
        raise JacxUsageError(f"received steps={steps}, batch_size={batch_size}; expected positive integers.")
    schedule = optax.cosine_decay_schedule(learning_rate, steps)
    opt = optax.chain(optax.clip_by_global_norm(5.0), optax.adam(schedule))
    state = opt.init(flow)

    def loss_fn(f: Flow, batch: jax.Array) -> jax.Array:
        return -jnp.mean(f.log_prob(batch))

    def one_step(carry: tuple[Flow, Any], k: jax.Array) -> tuple[tuple[Flow, Any], jax.Array]:
        f, s = carry
        idx = jax.random.randint(k, (batch_size,), 0, data.shape[0])
        loss, grads = jax.value_and_grad(loss_fn)(f, data[idx])
        updates, s = opt.update(grads, s, f)
        return (optax.apply_updates(f, updates), s), loss

    @jax.jit
    def run_chunk(f: Flow, s: Any, keys: jax.Array) -> tuple[Flow, Any, jax.Array]:
        (f, s), losses = jax.lax.scan(one_step, (f, s), keys)
        return f, s, losses

    keys = jax.random.split(key, steps)
    losses = []
    bar = _Progress(steps, progress)
    start = time.perf_counter()
    try:
        for i in range(0, steps, chunk):
            flow, state, chunk_losses = run_chunk(flow, state, keys[i : i + chunk])
            chunk_losses = np.asarray(chunk_losses)
            losses.append(chunk_losses)
            bar.update(len(chunk_losses), float(chunk_losses[-1]))
    finally:
        bar.close()
    return TrainResult(flow, np.concatenate(losses), time.perf_counter() - start)


def grid_integral(
    density: Flow | Callable[[jax.Array], jax.Array],
    bounds: tuple[tuple[float, float], tuple[float, float]] = ((-5.0, 5.0), (-5.0, 5.0)),
    resolution: int = 400,
) -> float:
    """Integral of a 2-D density over a box by the trapezoidal rule on a ``resolution x resolution`` grid.

    ``density`` is a :class:`Flow` or a function from points ``(k, 2)`` to log-densities ``(k,)``.  A correct
    flow gives 1 up to the mass outside the box and the quadrature error; a wrong log-determinant does not.

    >>> import jax, jax.numpy as jnp
    >>> from jacx.flows import Affine, Flow, StandardNormal
    >>> flow = Flow(Affine(jnp.array([2.0, 0.5]), jnp.array([0.3, -0.1])), StandardNormal((2,)))
    >>> round(grid_integral(flow, ((-10.0, 10.0), (-10.0, 10.0)), 200), 3)
    1.0
    """
    log_prob = density.log_prob if isinstance(density, Flow) else density
    (x0, x1), (y0, y1) = bounds
    xs, ys = np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution)
    gx, gy = np.meshgrid(xs, ys)
    pts = jnp.asarray(np.stack([gx.ravel(), gy.ravel()], axis=1), dtype=jnp.float32)
    lp = jax.jit(log_prob)(pts)
    p = np.exp(np.asarray(lp, dtype=np.float64)).reshape(resolution, resolution)
    return float(np.trapezoid(np.trapezoid(p, xs, axis=1), ys))
