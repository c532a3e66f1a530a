"""Every bijector: log-det against the exact Jacobian, inverse(forward(x)) == x, and the declared structure."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jacx
import jacx.logdet as ld
from jacx.flows import Affine, AffineCoupling, Bijector, Chain, Flow, NotInvertibleError, Planar, StandardNormal

from .conftest import BIJECTORS, make_case


def _exact_slogdet(f, x):
    """Independent reference: slogdet of jax.jacfwd of the flattened map."""
    shape = x.shape
    jac = jax.jacfwd(lambda v: f(v.reshape(shape)).ravel())(x.ravel())
    return jnp.linalg.slogdet(jac)


@functools.lru_cache(maxsize=None)
def _evaluate(name, seed):
    """Everything the round-trip tests need, computed in one compiled float64 call per bijector."""
    with jax.enable_x64(True):
        b, x = make_case(name, seed)

        @jax.jit
        def run(b, x):
            y, logdet = b.forward_and_log_det(x)
            x_back, inv_logdet = b.inverse_and_log_det(y)
            return dict(
                x=x,
                y=y,
                logdet=logdet,
                ref=_exact_slogdet(b.forward, x),
                x_back=x_back,
                inv_logdet=inv_logdet,
                inv_ref=_exact_slogdet(b.inverse, y)[1],
                y_again=b.forward(b.inverse(y)),
                jacx=jacx.slogdet(b.forward)(x)[1],  # jacx's own exact determinant, traced into the same jit
                structured=ld.logdet(b)(x),
            )

        return jax.tree_util.tree_map(np.asarray, run(b, x))


@pytest.mark.parametrize("name", BIJECTORS)
def test_log_det_matches_exact_jacobian(name):
    r = _evaluate(name, 0)
    sign, ref = r["ref"]
    assert sign != 0
    np.testing.assert_allclose(r["logdet"], ref, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(r["jacx"], ref, rtol=1e-9, atol=1e-9)  # and jacx's own exact determinant


@pytest.mark.parametrize("name", BIJECTORS)
def test_inverse_undoes_forward(name):
    r = _evaluate(name, 0)
    np.testing.assert_allclose(r["x_back"], r["x"], rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(r["inv_logdet"], -r["logdet"], rtol=1e-7, atol=1e-8)
    # the inverse's log-det is that of the inverse map's own Jacobian
    np.testing.assert_allclose(r["inv_logdet"], r["inv_ref"], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(r["y_again"], r["y"], rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("name", BIJECTORS)
def test_declared_pattern_covers_the_jacobian(name, x64):
    b, x = make_case(name, 0)
    pattern = b.jacobian_pattern(x)
    if pattern is None:  # a chain declares nothing: jacx.logdet treats its layers one by one
        assert name.startswith("chain")
        return
    if isinstance(pattern, str):
        assert pattern == "dense"
        return
    jac = np.asarray(jax.jit(jax.jacfwd(lambda v: b.forward(v.reshape(x.shape)).ravel()))(x.ravel()))
    assert pattern.shape == jac.shape
    assert np.all(jac[~pattern] == 0.0)
    assert np.all(jac[np.diag_indices_from(jac)][np.diag(pattern)] != 0.0) or name == "permute"


@pytest.mark.parametrize("name", BIJECTORS)
def test_structured_logdet_agrees(name, x64):
    r = _evaluate(name, 0)["structured"]
    sign, ref = _evaluate(name, 0)["ref"]
    np.testing.assert_allclose(r.logabsdet, ref, rtol=1e-9, atol=1e-9)
    assert r.sign == sign
    assert r.path


def test_paths_are_reported():
    assert _evaluate("coupling", 0)["structured"].path == "triangular (2 JVPs, pattern declared)"
    assert _evaluate("affine", 0)["structured"].path.startswith("diagonal (1 JVP,")
    assert _evaluate("chain", 0)["structured"].path.startswith("chain[triangular (2 JVPs")
    assert _evaluate("maf", 0)["structured"].path == "triangular (5 JVPs, pattern declared)"
    assert _evaluate("planar", 0)["structured"].path == "dense (5 JVPs + LU, declared dense)"


def test_orientation_sign(x64):
    b, x = make_case("affine")  # two negative scales: orientation kept
    assert ld.logdet(b)(x).sign == 1
    flip = Affine(jnp.array([-1.0, 1.0, 1.0, 1.0, 1.0]), jnp.zeros(5))
    assert ld.logdet(flip)(x).sign == -1
    assert float(flip.forward_log_det_jacobian(x)) == 0.0


@jax.jit
def _roundtrip(b, x):
    y, logdet = b.forward_and_log_det(x)
    return b.inverse(y), logdet, _exact_slogdet(b.forward, x)[1]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(-3, 3), min_size=5, max_size=5))
def test_coupling_property(values):
    with jax.enable_x64(True):
        b, _ = make_case("coupling", seed=4)
        x = jnp.asarray(values, jnp.float64)
        x_back, logdet, ref = _roundtrip(b, x)
        np.testing.assert_allclose(x_back, x, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(logdet, ref, rtol=1e-9, atol=1e-9)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(-4, 4), min_size=5, max_size=5), st.sampled_from(["planar", "radial", "maf"]))
def test_planar_radial_maf_property(values, name):
    with jax.enable_x64(True):
        x = jnp.asarray(values, jnp.float64)
        b, _ = make_case(name, seed=5)
        x_back, logdet, ref = _roundtrip(b, x)
        np.testing.assert_allclose(x_back, x, rtol=1e-8, atol=1e-8)
        np.testing.assert_allclose(logdet, ref, rtol=1e-8, atol=1e-8)


def test_planar_u_hat_keeps_invertibility():
    b = Planar(w=jnp.array([1.0, 0.0]), u=jnp.array([-5.0, 0.0]), b=jnp.array(0.0))  # raw w.u = -5 < -1
    assert float(jnp.dot(b.w, b.u_hat())) > -1.0


def test_residual_is_contractive_and_estimate_matches(x64):
    b, x = make_case("residual")
    jac_g = jax.jacfwd(b.branch)(x)
    assert float(jnp.linalg.norm(jac_g, 2)) < 0.8 + 1e-9
    est = b.log_det_estimate(x, jax.random.key(0), num_probes=2000, num_terms=30)
    exact = b.forward_log_det_jacobian(x)
    assert abs(float(est.value) - float(exact)) < 4 * float(est.stderr) + 1e-6


def test_float32_default_precision():
    b = AffineCoupling.init(jax.random.key(0), (True, False, True, False), (16,), zero_last=False)
    x = jnp.array([0.3, -1.0, 2.0, 0.5], jnp.float32)
    logdet, ref = jax.jit(lambda b, x: (b.forward_log_det_jacobian(x), _exact_slogdet(b.forward, x)[1]))(b, x)
    assert logdet.dtype == jnp.float32
    np.testing.assert_allclose(logdet, ref, rtol=1e-5, atol=1e-5)


def test_errors_are_usage_errors():
    class NoInverse(Bijector):
        def forward_and_log_det(self, x):
            return x, jnp.zeros(())

    with pytest.raises(NotInvertibleError, match="no inverse"):
        NoInverse().inverse(jnp.ones(2))
    with pytest.raises(jacx.JacxUsageError, match="at least one entry"):
        AffineCoupling.init(jax.random.key(0), (True, True))
    with pytest.raises(jacx.JacxUsageError, match="tuple of bijectors"):
        Chain([Affine(jnp.array(1.0), jnp.array(0.0))])
    with pytest.raises(jacx.JacxUsageError, match="1-D event"):
        AffineCoupling.init(jax.random.key(0), (True, False)).forward(jnp.ones((3, 2)))
    with pytest.raises(jacx.NonSquareJacobianError):
        ld.logdet(lambda v: v[:2])(jnp.ones(3))


def test_affine_and_sample_shape_errors():
    b = Affine(jnp.array([2.0, -1.0]), jnp.array([0.0, 1.0]))
    with pytest.raises(jacx.JacxUsageError, match=r"scale has shape \(2,\).*event shape \(3,\)"):
        b.forward(jnp.ones(3))
    with pytest.raises(jacx.JacxUsageError, match=r"n=\(3,\)"):
        Flow(b, StandardNormal((2,))).sample(jax.random.key(0), (3,))


def test_flow_builders_reject_a_bad_layer_count():
    from jacx.flows import maf, realnvp

    for build in (realnvp, maf):
        with pytest.raises(jacx.JacxUsageError, match="num_layers=0"):
            build(jax.random.key(0), 2, num_layers=0)


@pytest.mark.parametrize("hidden", [(), (8,), (16, 16), (12, 12, 12)])
def test_maf_inverse_entry_by_entry_round_trips_in_float64(x64, hidden):
    from jacx.flows import MaskedAutoregressive

    b = MaskedAutoregressive.init(jax.random.key(1), 7, hidden, zero_last=False, dtype=jnp.float64)
    leaves, tree = jax.tree_util.tree_flatten(b)
    keys = jax.random.split(jax.random.key(2), len(leaves))  # weights far from zero: every entry depends on the rest
    b = jax.tree_util.tree_unflatten(tree, [a + 0.5 * jax.random.normal(k, a.shape, a.dtype)
                                            for a, k in zip(leaves, keys)])
    x = jax.random.normal(jax.random.key(3), (5, 7), jnp.float64)
    y, fwd_ld = jax.vmap(b.forward_and_log_det)(x)
    back, inv_ld = jax.vmap(b.inverse_and_log_det)(y)
    np.testing.assert_allclose(np.asarray(back), np.asarray(x), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(np.asarray(inv_ld), -np.asarray(fwd_ld), rtol=1e-10, atol=1e-10)
    for yi, ld_i in zip(y, inv_ld):  # against slogdet of the inverse's own Jacobian
        np.testing.assert_allclose(float(ld_i), float(_exact_slogdet(b.inverse, yi)[1]), rtol=1e-9, atol=1e-9)
    if not hidden:
        with pytest.raises(jacx.JacxUsageError, match="hidden layer"):
            b.made.solve(b.made.masked_transposed(), lambda i, out: (out[0], out[1]))


def test_maf_inverse_for_few_events_takes_whole_passes_with_the_same_result(x64):
    from jacx.flows import MaskedAutoregressive, StandardNormal
    from jacx.flows._base import batch_hint

    b = MaskedAutoregressive.init(jax.random.key(4), 6, (16, 16), zero_last=False, dtype=jnp.float64)
    y = jax.random.normal(jax.random.key(5), (3, 6), jnp.float64)
    many = jax.vmap(b.inverse_and_log_det)(y)
    with batch_hint(3):
        few = jax.vmap(b.inverse_and_log_det)(y)
        few_program = str(jax.make_jaxpr(jax.vmap(b.inverse_and_log_det))(y))
    assert few_program != str(jax.make_jaxpr(jax.vmap(b.inverse_and_log_det))(y))  # another algorithm ...
    for a, c in zip(many, few):  # ... the same function
        np.testing.assert_allclose(np.asarray(a), np.asarray(c), rtol=1e-10, atol=1e-10)
    flow = Flow(b, StandardNormal((6,)))
    for n in (1, 40):  # Flow.sample says how many: whole passes for 1, entry by entry for 40
        z = flow.base.sample(jax.random.key(6), n)  # the events Flow.sample draws (float32)
        x = flow.sample(jax.random.key(6), n)
        assert x.dtype == jnp.float64
        np.testing.assert_allclose(np.asarray(x), np.asarray(jax.vmap(b.inverse)(z)), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(np.asarray(jax.vmap(b.forward)(x)), np.asarray(z), rtol=1e-9, atol=1e-9)
