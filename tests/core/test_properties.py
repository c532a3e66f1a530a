"""Property tests: on randomly composed functions, forward == reverse == float64 central finite differences."""

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import jacx

# smooth building blocks R^k -> R^k' (safe on the sampled domain)
UNARY = [jnp.sin, jnp.cos, jnp.tanh, jax.nn.sigmoid, lambda v: v**2, lambda v: jnp.exp(0.3 * v), jax.nn.softplus]


def _mix(seed: int, k_out: int):
    W = jnp.asarray(np.random.default_rng(seed).normal(size=(k_out, 64)) / 4.0)

    def mix(v):
        return jnp.asarray(W[:, : v.shape[0]], v.dtype) @ v

    return mix


@st.composite
def composed_functions(draw):
    n = draw(st.integers(1, 5))
    depth = draw(st.integers(1, 4))
    layers, k = [], n
    for _ in range(depth):
        # keep every intermediate size within the 64 columns a mix layer has (and the Jacobians small)
        kinds = ["unary", "mix", "reduce"] + (["outer"] if k * k <= 64 else []) + (["concat"] if 2 * k <= 64 else [])
        kind = draw(st.sampled_from(kinds))
        if kind == "unary":
            layers.append(draw(st.sampled_from(UNARY)))
        elif kind == "mix":
            k_out = draw(st.integers(1, 6))
            layers.append(_mix(draw(st.integers(0, 10_000)), k_out))
            k = k_out
        elif kind == "reduce":
            layers.append(lambda v: jnp.stack([jnp.sum(v), jnp.prod(jnp.tanh(v)), jax.nn.logsumexp(jnp.sin(v))]))
            k = 3
        elif kind == "outer":
            layers.append(lambda v: jnp.outer(v, jnp.cos(v)).ravel())
            k = k * k
        else:
            layers.append(lambda v: jnp.concatenate([v, v[::-1] * v]))
            k = 2 * k
    x = np.asarray(draw(st.lists(st.floats(-1.5, 1.5), min_size=n, max_size=n)))
    return jacx.compose(*layers), x


@settings(max_examples=20, deadline=None)
@given(composed_functions())
def test_forward_equals_reverse_equals_finite_differences(case):
    f, x = case
    with jax.enable_x64(True):
        x = jnp.asarray(x, dtype=jnp.float64)
        fwd = jacx.jacobian(f, mode="forward", jit=False)(x)
        rev = jacx.jacobian(f, mode="reverse", jit=False)(x)
        chunked = jacx.jacobian(f, mode="reverse", chunk_size=2, jit=False)(x)
        fd = jacx.finite_difference_jacobian(f, x)
    np.testing.assert_allclose(fwd, rev, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(chunked, rev, rtol=1e-10, atol=1e-12)
    scale = max(1.0, float(np.max(np.abs(fd))))
    np.testing.assert_allclose(fwd, fd, rtol=1e-6, atol=1e-6 * scale)


@settings(max_examples=15, deadline=None)
@given(composed_functions(), st.integers(1, 4))
def test_chain_rule_product_equals_direct(case, seed):
    f, x = case
    g = _mix(seed, 3)
    with jax.enable_x64(True):
        c = jacx.chain_rule([f, g], jnp.asarray(x, dtype=jnp.float64))
        np.testing.assert_allclose(c.product, c.direct, rtol=1e-10, atol=1e-12)
        v = jnp.arange(1.0, 4.0)
        np.testing.assert_allclose(c.backprop(v)[0], v @ c.direct, rtol=1e-10, atol=1e-12)


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 6), st.integers(0, 1000))
def test_slogdet_matches_determinant_of_linear_maps(n, seed):
    A = np.random.default_rng(seed).normal(size=(n, n))
    with jax.enable_x64(True):
        A_jax = jnp.asarray(A)  # float64, and immutable: the compiled map can be reused
        sign, logabs = jacx.slogdet(lambda v: A_jax @ v)(jnp.zeros(n, dtype=jnp.float64))
        d = np.linalg.det(A)
        assert float(sign) == np.sign(d)
        np.testing.assert_allclose(float(logabs), np.log(abs(d)), rtol=1e-9, atol=1e-9)
