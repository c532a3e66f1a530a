"""The core of jacx in one page: Jacobians, both modes, the linear approximation, the chain rule, volume change.

Run: python examples/dense_quickstart.py
"""

import jax
import jax.numpy as jnp

import jacx


def F(v):
    x, y = v
    return jnp.array([x**2 + y, x * y])


x = jnp.array([1.0, 2.0])
print("J_F(1, 2) =\n", jacx.jacobian(F)(x))
print("forward == reverse:", bool(jnp.allclose(jacx.jacobian(F, mode="forward")(x), jacx.jacobian(F, mode="reverse")(x))))

lin = jacx.linearize(F, x)
dx = jnp.array([0.1, -0.05])
print(f"F(x+dx) ~ F(x) + J dx = {lin(dx)}, true {F(x + dx)}, error {lin.error(dx):.2e}")

H = lambda v: jnp.array([v[0] * v[1], v[0] + v[1]])
G = lambda u: jnp.array([jnp.sin(u[0]), u[0] * u[1]])
chain = jacx.chain_rule([H, G], x)
print("J_G(H(x)) J_H(x) == J_{G o H}(x): max difference", chain.max_abs_difference)

square = lambda v: jnp.array([v[0] ** 2 - v[1] ** 2, 2 * v[0] * v[1]])
for p in ([1.0, 0.0], [0.5, 0.5], [0.0, 0.0]):
    print(f"z -> z^2 at {p}: {jacx.volume_change(square)(jnp.array(p))}")

print(jacx.check_jacobian(lambda v: jnp.tanh(jnp.outer(v, v)).ravel(), jax.random.normal(jax.random.PRNGKey(0), (4,))))
