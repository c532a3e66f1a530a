"""Image warps, their Jacobians, and Lucas-Kanade image alignment on jacx.

>>> from jacx.vision import Affine
>>> import jax.numpy as jnp
>>> Affine().jacobian_params(jnp.zeros(6), jnp.zeros((5, 5, 2))).shape
(5, 5, 2, 6)
"""

from jacx.vision._lk import (
    AlignResult,
    MissingDependencyError,
    align,
    plot_steepest_descent,
    sample,
    sample_image,
    steepest_descent_images,
    warp_image,
)
from jacx.vision._warps import Affine, Homography, Translation, Warp, warp_by_name

__all__ = [
    "Warp",
    "Translation",
    "Affine",
    "Homography",
    "warp_by_name",
    "AlignResult",
    "MissingDependencyError",
    "align",
    "sample",
    "sample_image",
    "warp_image",
    "steepest_descent_images",
    "plot_steepest_descent",
]
