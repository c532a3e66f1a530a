"""A deep-equilibrium layer z* = tanh(W z* + U x + b), trained through its fixed point by implicit differentiation.

Run: python examples/implicit_deq.py
"""

import jax
import jax.numpy as jnp

from jacx.implicit import fixed_point

n_in, n_hidden = 4, 16
k1, k2, k3, k4 = jax.random.split(jax.random.PRNGKey(0), 4)
params = {
    "W": 0.3 * jax.random.normal(k1, (n_hidden, n_hidden)) / jnp.sqrt(n_hidden),
    "U": jax.random.normal(k2, (n_hidden, n_in)) / jnp.sqrt(n_in),
    "b": jnp.zeros(n_hidden),
    "out": jax.random.normal(k3, (n_hidden,)) / jnp.sqrt(n_hidden),
}
xs = jax.random.normal(k4, (64, n_in))
ys = jnp.sin(xs[:, 0]) + 0.5 * xs[:, 1]


def cell(z, theta):  # everything the layer depends on goes in theta, so the rule can differentiate it
    p, x = theta
    return jnp.tanh(p["W"] @ z + p["U"] @ x + p["b"])


def deq(p, x):
    return p["out"] @ fixed_point(cell, jnp.zeros(n_hidden), (p, x), tol=1e-6)


def loss(p):
    return jnp.mean((jax.vmap(lambda x: deq(p, x))(xs) - ys) ** 2)


step = jax.jit(lambda p: jax.tree_util.tree_map(lambda w, g: w - 0.1 * g, p, jax.grad(loss)(p)))
print(f"initial loss {float(loss(params)):.4f}")
for _ in range(200):
    params = step(params)
print(f"loss after 200 gradient steps through the fixed point {float(loss(params)):.4f}")


def unrolled(p):  # the same network, differentiated through 100 explicit iterations
    def one(x):
        z = jax.lax.fori_loop(0, 100, lambda _, z: jnp.tanh(p["W"] @ z + p["U"] @ x + p["b"]), jnp.zeros(n_hidden))
        return p["out"] @ z
    return jnp.mean((jax.vmap(one)(xs) - ys) ** 2)


g_imp, g_unr = jax.grad(loss)(params), jax.grad(unrolled)(params)
print("max |implicit grad - unrolled grad| =", max(float(jnp.abs(g_imp[k] - g_unr[k]).max()) for k in g_imp))
