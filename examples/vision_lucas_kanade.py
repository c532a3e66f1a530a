"""Lucas-Kanade (inverse compositional) recovers a known affine warp of a real photograph to sub-pixel accuracy.

Run: python examples/vision_lucas_kanade.py [OUTDIR]   (needs scikit-image; writes the steepest-descent picture)
"""

import sys

import jax.numpy as jnp
import matplotlib
import numpy as np

from jacx.vision import Affine, align, plot_steepest_descent, sample_image, warp_image

matplotlib.use("Agg")
template = sample_image(smooth=1.5)
p_true = np.array([0.03, -0.02, 0.025, -0.015, 2.3, -1.7])
image = warp_image(template, "affine", p_true)
box = (180, 150, 160, 160)
res = align(image, template, box, "affine")
corners = np.array([[180, 150], [340, 150], [180, 310], [340, 310]], float)
err = np.abs(np.asarray(Affine().apply(res.p, corners)) - np.asarray(Affine().apply(jnp.asarray(p_true), corners)))
print("true p     ", p_true)
print("recovered p", np.round(np.asarray(res.p), 4), f"after {res.iterations} iterations")
print(f"max corner error {err.max():.4f} px (sub-pixel: {err.max() < 0.05})")
outdir = sys.argv[1] if len(sys.argv) > 1 else "."
plot_steepest_descent(template, (200, 180, 120, 120), "affine", path=f"{outdir}/steepest_descent_affine.png")
print(f"steepest-descent images: {outdir}/steepest_descent_affine.png")
