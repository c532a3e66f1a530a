"""The input-output Jacobian of a classifier: norms, the worst direction, and Jacobian regularisation in training.

Run: python examples/robustness_jacobian_regularization.py
(`jacx demo robustness` runs the full comparison: plain vs regularised training, accuracy under attack.)
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax.example_libraries import optimizers

from jacx.backprop import init_mlp, mlp
from jacx.robustness import (
    frobenius_estimate,
    frobenius_norm,
    io_jacobian,
    jacobian_regularizer,
    local_lipschitz,
    spectral_norm,
    top_singular_perturbation,
)

key = jax.random.PRNGKey(0)
params = init_mlp(key, [8, 32, 32, 3])
x = jnp.linspace(-1.0, 1.0, 8)


def model(x):
    return mlp(params, x)


J = np.asarray(io_jacobian(model, x))
print("Jacobian shape", J.shape)
print(f"||J||_F exact {float(frobenius_norm(model, x)):.4f}, "
      f"random-projection estimate {float(jnp.sqrt(frobenius_estimate(model, x, key, n_proj=2000))):.4f}")
sn = spectral_norm(model, x, key)
print(f"||J||_2 power iteration {float(sn.sigma):.5f}, SVD {np.linalg.svd(J, compute_uv=False)[0]:.5f}")
print(f"local Lipschitz estimate on the ball of radius 0.5: {float(local_lipschitz(model, x, 0.5, key)):.4f}")
dx = top_singular_perturbation(model, x, 0.1, key, label=0)
print(f"perturbation of length 0.1 along the top singular vector moves the logits by "
      f"{float(jnp.linalg.norm(model(x + dx) - model(x))):.4f} (first order: {0.1 * float(sn.sigma):.4f})")

# training with the regulariser: cross-entropy + lambda * mean ||J||_F^2 on random 2-class data
xs = jax.random.normal(jax.random.PRNGKey(1), (256, 8))
ys = (xs[:, 0] + xs[:, 1] ** 2 > 1.0).astype(int)
init, update, get = optimizers.adam(3e-3)


def loss(p, key, lam):
    logits = jax.vmap(lambda x: mlp(p, x))(xs)
    ce = -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), ys[:, None], axis=1))
    return ce + lam * jacobian_regularizer(lambda x: mlp(p, x), xs, key)


for lam in (0.0, 0.1):
    step = jax.jit(lambda i, s, k, lam=lam: update(i, jax.grad(loss)(get(s), k, lam), s))
    state = init(init_mlp(key, [8, 32, 32, 2]))
    for i in range(300):
        state = step(i, state, jax.random.fold_in(key, i))
    p = get(state)
    mean_fro = float(jnp.mean(jax.vmap(lambda x, p=p: frobenius_norm(lambda z: mlp(p, z), x))(xs)))
    acc = float(jnp.mean(jnp.argmax(jax.vmap(lambda x, p=p: mlp(p, x))(xs), axis=1) == ys))
    print(f"lambda={lam}: train accuracy {acc:.3f}, mean ||J||_F {mean_fro:.3f}")
