"""Normalizing flows on jacx: bijectors whose log-determinants are checked against the exact Jacobian,
a flow distribution, 2-D toy data and training with optax.

>>> import jax, jax.numpy as jnp
>>> from jacx.flows import realnvp
>>> flow = realnvp(jax.random.key(0), 2, num_layers=2, hidden=(8,))
>>> flow.log_prob(jnp.zeros((3, 2))).shape
(3,)
"""

from ._base import Bijector, NotInvertibleError
from ._chain import Chain
from ._coupling import AffineCoupling, MaskedAutoregressive
from ._data import checkerboard, make_dataset, rings, two_moons
from ._distributions import Flow, StandardNormal
from ._elementwise import Affine, LeakyReLU, Sigmoid, Tanh
from ._linear import Conv1x1, LULinear, Permute
from ._nets import MADE, MLP
from ._planar import Planar, Radial
from ._plot import plot_density, plot_losses
from ._residual import Residual
from ._train import TrainResult, grid_integral, maf, realnvp, train

__all__ = [
    "Bijector",
    "NotInvertibleError",
    "Affine",
    "Tanh",
    "Sigmoid",
    "LeakyReLU",
    "LULinear",
    "Conv1x1",
    "Permute",
    "Planar",
    "Radial",
    "AffineCoupling",
    "MaskedAutoregressive",
    "Residual",
    "Chain",
    "MLP",
    "MADE",
    "StandardNormal",
    "Flow",
    "realnvp",
    "maf",
    "train",
    "TrainResult",
    "grid_integral",
    "plot_density",
    "plot_losses",
    "two_moons",
    "rings",
    "checkerboard",
    "make_dataset",
]
