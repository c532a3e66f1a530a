"""linearize, det/slogdet/volume_change, chain rule and the finite-difference check."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jacx

F = lambda v: jnp.array([v[0] ** 2 + v[1], v[0] * v[1]])
SQ = lambda v: jnp.array([v[0] ** 2 - v[1] ** 2, 2 * v[0] * v[1]])  # z -> z^2


def test_linearize_value_model_and_quadratic_error():
    x = jnp.array([1.0, 2.0])
    lin = jacx.linearize(F, x)
    np.testing.assert_allclose(lin.value, [3.0, 2.0])
    np.testing.assert_allclose(lin.jacobian, [[2.0, 1.0], [2.0, 1.0]])
    d = jnp.array([0.01, -0.02])
    np.testing.assert_allclose(lin(d), F(x) + lin.jacobian @ d, rtol=1e-6)
    # the exact remainder of this quadratic F is (dx^2, dx*dy)
    exact = np.hypot(0.01**2, 0.01 * 0.02)
    np.testing.assert_allclose(lin.error(d), exact, rtol=1e-2)
    # halving the step quarters the error (second-order remainder)
    with jax.enable_x64(True):
        x64 = jnp.array([1.0, 2.0], dtype=jnp.float64)
        lin64 = jacx.linearize(F, x64)
        e1 = lin64.error(jnp.array([0.01, -0.02]))
        e2 = lin64.error(jnp.array([0.005, -0.01]))
        np.testing.assert_allclose(e1 / e2, 4.0, rtol=1e-6)
        assert lin64.error(jnp.array([1e-3, 0.0]), relative=True) < 1e-3


def test_linearize_linear_map_is_exact():
    A = jnp.array([[2.0, -1.0], [0.5, 3.0]])
    lin = jacx.linearize(lambda v: A @ v + 1.0, jnp.array([0.3, 0.4]))
    assert lin.error(jnp.array([5.0, -7.0])) < 1e-5


def test_det_of_squaring_map_is_4r2():
    for x, y in [(1.0, 0.0), (1.0, 1.0), (-0.5, 2.0), (0.0, 0.0)]:
        np.testing.assert_allclose(jacx.det(SQ)(jnp.array([x, y])), 4 * (x * x + y * y), rtol=1e-6, atol=1e-7)
        sign, logabs = jacx.slogdet(SQ)(jnp.array([x, y]))
        if x or y:
            assert sign == 1.0
            np.testing.assert_allclose(logabs, np.log(4 * (x * x + y * y)), rtol=1e-6)


def test_slogdet_pytree_and_jit():
    f = lambda d: {"a": d["a"] * 3.0, "b": -d["b"]}
    x = {"a": jnp.ones(2), "b": jnp.ones(1)}
    sign, logabs = jax.jit(jacx.slogdet(f))(x)
    assert sign == -1.0
    np.testing.assert_allclose(logabs, np.log(9.0), rtol=1e-6)
    dets = jax.vmap(jacx.det(SQ))(jnp.array([[1.0, 0.0], [0.0, 2.0]]))
    np.testing.assert_allclose(dets, [4.0, 16.0])


@pytest.mark.parametrize(
    "f, kind, orientation",
    [
        (lambda v: 3.0 * v, "expands", "kept"),
        (lambda v: 0.5 * v, "contracts", "kept"),
        (lambda v: v[::-1], "preserves", "reversed"),  # a reflection
        (lambda v: jnp.array([jnp.cos(0.3) * v[0] - jnp.sin(0.3) * v[1], jnp.sin(0.3) * v[0] + jnp.cos(0.3) * v[1]]),
         "preserves", "kept"),  # a rotation
        (lambda v: jnp.array([-2.0 * v[0], v[1]]), "expands", "reversed"),
        (lambda v: jnp.array([v[0] + v[1], 2 * v[0] + 2 * v[1]]), "singular", None),
    ],
)
def test_volume_change_verdicts(f, kind, orientation):
    vc = jacx.volume_change(f)(jnp.array([0.3, -0.8]))
    assert vc.kind == kind
    assert vc.orientation == orientation
    assert kind in str(vc)
    if orientation:
        assert f"orientation {orientation}" in str(vc)


def test_volume_change_words_by_dimension():
    assert "length" in str(jacx.volume_change(lambda v: 2 * v)(jnp.ones(1)))
    assert "area" in str(jacx.volume_change(lambda v: 2 * v)(jnp.ones(2)))
    vc = jacx.volume_change(lambda v: 2 * v)(jnp.ones(3))
    assert "volume" in str(vc) and vc.factor == pytest.approx(8.0)


def test_chain_rule_two_layers_matches_hand_product():
    H = lambda v: jnp.array([v[0] * v[1], v[0] + v[1]])
    G = lambda u: jnp.array([jnp.sin(u[0]), u[0] * u[1], u[1] ** 2])
    x = jnp.array([0.7, -1.2])
    c = jacx.chain_rule([H, G], x)
    u = H(x)
    JH = np.array([[x[1], x[0]], [1.0, 1.0]])
    JG = np.array([[np.cos(u[0]), 0.0], [u[1], u[0]], [0.0, 2 * u[1]]])
    np.testing.assert_allclose(c.factors[0], JH, rtol=1e-6)
    np.testing.assert_allclose(c.factors[1], JG, rtol=1e-6)
    np.testing.assert_allclose(c.product, JG @ JH, rtol=1e-5)
    np.testing.assert_allclose(c.direct, JG @ JH, rtol=1e-5)
    assert c.max_abs_difference < 1e-5


def test_backprop_is_vjp_through_the_chain():
    key = jax.random.PRNGKey(0)
    Ws = [jax.random.normal(k, s) for k, s in zip(jax.random.split(key, 3), [(5, 4), (3, 5), (1, 3)])]
    layers = [lambda h, W=W: jnp.tanh(W @ h) for W in Ws]
    x = jnp.array([0.1, -0.2, 0.3, 0.4])
    c = jacx.chain_rule(layers, x)
    cots = c.backprop(jnp.ones(1))
    loss = lambda v: jacx.compose(*layers)(v)[0]
    np.testing.assert_allclose(cots[0], jax.grad(loss)(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cots[0], (jnp.ones(1) @ c.product), rtol=1e-5, atol=1e-6)
    assert [v.shape for v in cots] == [(4,), (5,), (3,), (1,)]


def test_sigmoid_layer_jacobian_formula():
    W = jnp.array([[1.0, -2.0, 0.5], [0.3, 0.0, 1.0]])
    b = jnp.array([0.1, -0.4])
    x = jnp.array([0.2, 0.5, -1.0])
    s = jax.nn.sigmoid(W @ x + b)
    expected = np.diag(s * (1 - s)) @ W
    np.testing.assert_allclose(jacx.jacobian(lambda v: jax.nn.sigmoid(W @ v + b))(x), expected, rtol=1e-6)


def test_check_jacobian_agrees_and_catches_a_wrong_rule():
    G = lambda v: jnp.array([v[0] ** 2 + v[1] * v[2], jnp.sin(v[0] * v[1]), jnp.exp(v[0] + v[2])])
    res = jacx.check_jacobian(G, jnp.array([0.5, 1.0, -0.3]))
    assert res.ok and bool(res) and res.max_abs_error < 1e-5

    @jax.custom_jvp
    def bad_sin(x):
        return jnp.sin(x)

    @bad_sin.defjvp
    def _(primals, tangents):
        (x,), (t,) = primals, tangents
        return jnp.sin(x), 1.01 * jnp.cos(x) * t  # 1% wrong

    res = jacx.check_jacobian(lambda v: bad_sin(v), jnp.array([0.2, 1.0]))
    assert not res.ok and "DISAGREE" in str(res)
    with pytest.raises(AssertionError, match="DISAGREE"):
        jacx.check_jacobian(lambda v: bad_sin(v), jnp.array([0.2, 1.0]), raise_on_mismatch=True)


def test_check_jacobian_reports_nan():
    res = jacx.check_jacobian(lambda v: jnp.sqrt(v), jnp.array([0.0, 1.0]))
    assert not res.ok and "NaN" in str(res)


def test_finite_differences_are_float64():
    fd = jacx.finite_difference_jacobian(lambda v: jnp.exp(v), jnp.array([0.1, 0.2]))
    assert fd.dtype == np.float64
    x64 = np.float32([0.1, 0.2]).astype(np.float64)  # the float32 inputs, exactly
    np.testing.assert_allclose(np.diag(fd), np.exp(x64), rtol=1e-9)
