"""Every misuse gets a clear error that names the problem and the fix; misuse and jacx bugs are told apart."""

import jax.numpy as jnp
import numpy as np
import pytest

import jacx
from jacx._errors import JacxInternalError

F = lambda v: jnp.array([v[0] ** 2 + v[1], v[0] * v[1]])


def test_bad_mode_lists_choices():
    with pytest.raises(ValueError, match="'auto', 'forward', 'reverse'.*'sideways'"):
        jacx.jacobian(F, mode="sideways")


@pytest.mark.parametrize("chunk", [0, -3, 2.5, True, "4"])
def test_bad_chunk_size(chunk):
    with pytest.raises(jacx.JacxUsageError, match="chunk_size must be a positive integer"):
        jacx.jacobian(F, chunk_size=chunk)


def test_not_a_function():
    with pytest.raises(jacx.JacxUsageError, match="expects a function.*not its value"):
        jacx.jacobian(jnp.ones(3))


def test_integer_input_names_dtype_and_fix():
    with pytest.raises(jacx.JacxUsageError, match=r"integer or boolean dtype int32.*1\.0 instead of 1"):
        jacx.jacobian(F)(jnp.array([1, 2]))


def test_argnums_out_of_range():
    with pytest.raises(jacx.JacxUsageError, match="argnums=3 points past the 1 positional"):
        jacx.jacobian(F, argnums=3)(jnp.ones(2))


def test_gradient_of_vector_function():
    with pytest.raises(jacx.NotScalarOutputError, match=r"shape \(2,\).*jacx.jacobian") as info:
        jacx.gradient(F)(jnp.ones(2))
    assert isinstance(info.value, ValueError)


def test_det_of_non_square():
    G = lambda v: jnp.array([v[0], v[1], v[0] * v[1]])
    for fn in (jacx.det, jacx.slogdet, jacx.volume_change):
        with pytest.raises(jacx.NonSquareJacobianError, match="3 x 2"):
            fn(G)(jnp.ones(2))


def test_too_large_dense_jacobian(monkeypatch):
    monkeypatch.setenv("JACX_MEMORY_LIMIT_BYTES", str(10**6))
    with pytest.raises(jacx.JacobianTooLargeError, match=r"1000 x 1000 .*4\.0 MB.*jacx\.sparse\.jacobian") as info:
        jacx.jacobian(lambda x: x**2, jit=False)(jnp.ones(1000))
    assert isinstance(info.value, MemoryError)


def test_workspace_too_large_picks_a_chunk(monkeypatch):
    # the Jacobian (40 kB, 4.5 copies at the peak op by op) fits but 100 simultaneous passes do not: a chunk size
    # is chosen, result unchanged
    monkeypatch.setenv("JACX_MEMORY_LIMIT_BYTES", str(300_000))
    A = jnp.ones((100, 100)) / 100
    f = lambda x: jnp.tanh(A @ jnp.tanh(A @ x + jnp.ones(100)))
    J = jacx.jacobian(f, jit=False)(jnp.linspace(0, 1, 100))
    monkeypatch.delenv("JACX_MEMORY_LIMIT_BYTES")
    np.testing.assert_allclose(J, jacx.jacobian(f, jit=False)(jnp.linspace(0, 1, 100)), rtol=1e-6)


def test_user_chunk_too_large_suggests_smaller(monkeypatch):
    monkeypatch.setenv("JACX_MEMORY_LIMIT_BYTES", str(300_000))
    A = jnp.ones((100, 100)) / 100
    f = lambda x: jnp.tanh(A @ jnp.tanh(A @ x + jnp.ones(100)))
    with pytest.raises(jacx.JacobianTooLargeError, match=r"Use chunk_size=\d+ or smaller"):
        jacx.jacobian(f, chunk_size=100, jit=False)(jnp.ones(100))


def test_nan_at_non_differentiable_point_keeps_result():
    with pytest.raises(jacx.NonDifferentiablePointError, match="not finite at this point") as info:
        jacx.jacobian(lambda x: jnp.sqrt(x), check_finite=True)(jnp.array([0.0, 1.0]))
    assert info.value.result.shape == (2, 2)  # the computed values are not lost
    with pytest.raises(jacx.NonDifferentiablePointError, match="input itself contains NaN"):
        jacx.jacobian(lambda x: x**2, check_finite=True)(jnp.array([jnp.nan, 1.0]))
    with pytest.raises(jacx.NonDifferentiablePointError):
        jacx.linearize(lambda x: jnp.log(x), jnp.array([0.0]))
    with pytest.raises(jacx.NonDifferentiablePointError):
        jacx.volume_change(lambda x: jnp.sqrt(x))(jnp.array([0.0, 1.0]))


def test_numpy_inside_function_is_untraceable():
    with pytest.raises(jacx.UntraceableFunctionError, match="jax.numpy"):
        jacx.jacobian(lambda x: np.sin(x))(jnp.ones(2))


def test_volume_change_under_jit_is_refused():
    import jax

    with pytest.raises(jacx.JacxUsageError, match="jacx.det"):
        jax.jit(lambda x: jacx.volume_change(F)(x).det)(jnp.ones(2))


def test_internal_error_says_bug():
    err = JacxInternalError("inconsistent shapes")
    assert "bug in jacx" in str(err) and not isinstance(err, ValueError)


def test_linearize_step_shape():
    lin = jacx.linearize(F, jnp.ones(2))
    with pytest.raises(jacx.JacxUsageError, match="same structure and shapes"):
        lin(jnp.ones(3))


def test_chain_rule_errors():
    with pytest.raises(jacx.JacxUsageError, match="non-empty list"):
        jacx.chain_rule([], jnp.ones(2))
    c = jacx.chain_rule([F], jnp.ones(2))
    with pytest.raises(jacx.JacxUsageError, match="one entry per output"):
        c.backprop(jnp.ones(5))


def test_repeated_argnums_is_a_usage_error_not_a_wrong_block():
    f = lambda a, b: a * b
    with pytest.raises(jacx.JacxUsageError, match=r"argnums=\(0, 0\) names argument 0 more than once.*argnums=\(0,\)"):
        jacx.jacobian(f, argnums=(0, 0))(jnp.ones(2), jnp.ones(2))
    with pytest.raises(jacx.JacxUsageError, match="more than once"):
        jacx.gradient(lambda a, b: jnp.sum(a * b), argnums=(1, -1))(jnp.ones(2), jnp.ones(2))


@pytest.mark.parametrize("returned", [lambda x: x * 2.0, lambda x: (x, x, x)], ids=["array", "triple"])
def test_has_aux_without_a_pair_is_a_usage_error(returned):
    with pytest.raises(jacx.JacxUsageError, match=r"has_aux=True\) expects the function to return a pair"):
        jacx.jacobian(returned, has_aux=True)(jnp.ones(2))
    with pytest.raises(jacx.JacxUsageError, match="return a pair"):
        jacx.gradient(lambda x: (jnp.sum(x),) * 3, has_aux=True)(jnp.ones(2))
