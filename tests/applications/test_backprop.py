"""jacx.backprop: the Jacobian chain equals jax.grad; the materialised product equals the full Jacobian."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jacx._errors import JacxUsageError
from jacx.backprop import (
    backprop_by_jacobians,
    init_mlp,
    input_output_jacobian_by_product,
    layer_jacobians,
    mlp,
    product_costs,
)


def loss(y):
    return jnp.sum(jnp.sin(y) ** 2)


_ref_grad_x = jax.jit(jax.grad(lambda p, x: loss(mlp(p, x)), argnums=1))
_ref_grad_p = jax.jit(jax.grad(lambda p, x: loss(mlp(p, x))))


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 1000), widths=st.sampled_from([(3, 5, 2), (4, 8, 8, 1), (2, 3, 3, 3, 2)]))
def test_jacobian_chain_equals_jax_grad(seed, widths):
    params = init_mlp(jax.random.PRNGKey(seed), widths)
    x = jax.random.normal(jax.random.PRNGKey(seed + 1), (widths[0],))
    gx, gp = backprop_by_jacobians(params, x, loss)
    np.testing.assert_allclose(gx, _ref_grad_x(params, x), atol=1e-5)
    ref = _ref_grad_p(params, x)
    for (gw, gb), (rw, rb) in zip(gp, ref, strict=True):
        np.testing.assert_allclose(gw, rw, atol=1e-5)
        np.testing.assert_allclose(gb, rb, atol=1e-5)


def test_layer_jacobians_closed_form():
    params = init_mlp(jax.random.PRNGKey(0), [3, 4, 2])
    x = jnp.array([0.1, -0.3, 0.7])
    J0, J1 = layer_jacobians(params, x)
    h1 = jnp.tanh(params[0][0] @ x + params[0][1])
    np.testing.assert_allclose(J0, (1 - h1**2)[:, None] * params[0][0], atol=1e-6)  # diag(tanh') W0
    np.testing.assert_allclose(J1, params[1][0], atol=1e-6)  # linear output layer


@pytest.mark.parametrize("order", ["reverse", "forward"])
def test_materialised_product_equals_full_jacobian(order):
    params = init_mlp(jax.random.PRNGKey(1), [5, 7, 6, 3])
    x = jnp.linspace(-1, 1, 5)
    np.testing.assert_allclose(input_output_jacobian_by_product(params, x, order),
                               jax.jacfwd(lambda x: mlp(params, x))(x), atol=1e-5)


def test_product_costs_by_hand():
    c = product_costs([4, 3, 2, 1])
    assert c["vjp_chain"] == 4 * 3 + 3 * 2 + 2 * 1
    assert c["jvp_chain"] == 4 * (4 * 3 + 3 * 2 + 2 * 1)
    assert c["materialise_then_apply"] == 3 * 4 + (2 * 3 * 4 + 1 * 2 * 4) + 1 * 4
    with pytest.raises(JacxUsageError):
        product_costs([3])


def test_input_of_the_wrong_width_is_a_usage_error():
    params = init_mlp(jax.random.PRNGKey(0), [3, 4, 2])
    with pytest.raises(JacxUsageError, match=r"shape \(3,\).*received shape \(4,\)"):
        layer_jacobians(params, jnp.ones(4))
    with pytest.raises(JacxUsageError, match=r"received shape \(2, 3\)"):
        backprop_by_jacobians(params, jnp.ones((2, 3)), jnp.sum)
