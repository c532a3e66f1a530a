"""How maps change volume: pictures of det J, log-determinants that use structure, and traces by sampling.

Run: python examples/volume_maps.py [output_folder]
"""

import os
import sys

import jax
import jax.numpy as jnp

import jacx.logdet as ld

out = sys.argv[1] if len(sys.argv) > 1 else "volume_output"
os.makedirs(out, exist_ok=True)


# 1. Pictures: z -> z^2 expands everywhere outside |z| = 1/2; the fold (x^3 - 3x + y, ...) reverses orientation
#    in a band where det J < 0.
def square(p):
    return jnp.array([p[0] ** 2 - p[1] ** 2, 2 * p[0] * p[1]])


def fold(p):
    return jnp.array([p[0] ** 3 - 3 * p[0] + p[1], p[1] + 0.5 * jnp.sin(p[0])])


for name, f in (("square", square), ("fold", fold)):
    print(f"{name}: {ld.volume_map(f).summary()}")
    ld.plot_map(f, title=name).savefig(os.path.join(out, f"volume_{name}.png"), dpi=110)

# 2. A log-determinant that uses structure: an autoregressive map has a triangular Jacobian, found by
#    jacx.sparse.sparsity, so only the diagonal is measured (no LU of the full matrix).


def autoregressive(v):
    prev = jnp.concatenate([jnp.zeros(1), jnp.cumsum(v)[:-1]])  # entry i sees x_0 .. x_{i-1}
    return v * jnp.exp(0.1 * jnp.tanh(prev)) + jnp.sin(prev)


x = jnp.linspace(-1.0, 1.0, 200)
r = ld.logdet(autoregressive)(x)
print(f"autoregressive, n = 200: log|det J| = {float(r.logabsdet):.5f} via {r.path}")
print(f"exact dense slogdet      : {float(ld.slogdet(autoregressive)(x).logabsdet):.5f}")


# 3. Traces: the divergence exactly (colored JVPs) and by Hutchinson / Hutch++ with standard errors.
#    Hutch++ pays off when the spectrum decays (see docs/benchmarks-logdet.md); this Jacobian's does not, so here
#    it is no better than Hutchinson.
def field(v):
    return jnp.tanh(v) * jnp.roll(v, 1)


x = jax.random.normal(jax.random.key(0), (500,))
exact = ld.trace(field)(x)
print(f"divergence, exact: {float(exact.value):.3f} ({int(exact.num_matvecs)} JVPs, {exact.method})")
op = ld.jacobian_operator(field, x)
for name, e in (
    ("Hutchinson", ld.hutchinson(op, jax.random.key(1), 60)),
    ("Hutch++", ld.hutchpp(op, jax.random.key(1), 60)),
):
    print(f"{name:10s} with 60 JVPs: {float(e.value):.3f} +- {float(e.stderr):.3f}")
