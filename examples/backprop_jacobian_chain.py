"""Backpropagation is a product of layer Jacobians taken from the output end; materialising it costs far more.

Run: python examples/backprop_jacobian_chain.py
"""

import jax
import jax.numpy as jnp

from jacx.backprop import backprop_by_jacobians, init_mlp, layer_jacobians, mlp, product_costs

sizes = [64, 128, 128, 10]
params = init_mlp(jax.random.PRNGKey(0), sizes)
x = jax.random.normal(jax.random.PRNGKey(1), (sizes[0],))
target = jnp.eye(10)[3]


def loss(y):
    return jnp.sum((y - target) ** 2)


print("layer Jacobian shapes, input to output:", [tuple(J.shape) for J in layer_jacobians(params, x)])
gx, gw = backprop_by_jacobians(params, x, loss)
ref = jax.grad(lambda x: loss(mlp(params, x)))(x)
print("max |row vector through the Jacobians - jax.grad| =", float(jnp.abs(gx - ref).max()))
print("multiply-add counts:", product_costs(sizes))
