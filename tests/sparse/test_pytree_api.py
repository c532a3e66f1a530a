"""jacx.sparse.jacobian / sparsity with several arguments, pytrees, argnums and has_aux, against dense AD."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import jacx
import jacx.sparse as js
from jacx._api import Guard, analyze


def dense_flat(f, args, argnums=0, has_aux=False):
    """The dense Jacobian of f over the flattened output and flattened differentiated arguments."""
    nums = argnums if isinstance(argnums, tuple) else (argnums,)
    diff = tuple(args[i] for i in nums) if isinstance(argnums, tuple) else args[argnums]
    flat, unravel = ravel_pytree(diff)

    def g(z):
        d = unravel(z)
        d = d if isinstance(argnums, tuple) else (d,)
        full = list(args)
        for i, v in zip(nums, d):
            full[i] = v
        out = f(*full)
        return ravel_pytree(out[0] if has_aux else out)[0]

    return np.asarray(jax.jacfwd(g)(flat))


def model(params, x, t):
    """A dict of parameters, an input and a non-differentiated scalar; a pytree output of two leaves."""
    h = jnp.tanh(params["w"] * x + params["b"])
    return {"h": h * t, "d": (jnp.diff(h), jnp.sum(params["b"] ** 2))}


PARAMS = {"w": jnp.linspace(0.5, 1.5, 4), "b": jnp.array([0.1, -0.2, 0.3, 0.4])}
X = jnp.array([1.0, -2.0, 0.5, 3.0])
T = jnp.array(0.7)
MODES = ["auto", "forward", "reverse"]


@pytest.mark.parametrize("mode", MODES)
def test_dict_of_parameters(mode):
    jac = js.jacobian(model, PARAMS, X, T, mode=mode)
    assert isinstance(jac, js.SparsePytreeJacobian)
    ref = dense_flat(model, (PARAMS, X, T))
    assert jac.shape == ref.shape == (4 + 3 + 1, 8)
    np.testing.assert_allclose(jac(PARAMS, X, T).todense(), ref, rtol=1e-6, atol=1e-6)
    # other values, same structure and shapes: the pattern holds, the values follow
    p2 = {"w": -PARAMS["w"], "b": PARAMS["b"] * 2.0}
    np.testing.assert_allclose(jac(p2, 2 * X, 1.3).todense(), dense_flat(model, (p2, 2 * X, 1.3)), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(jac.to_scipy(PARAMS, X, T).toarray(), ref, rtol=1e-6, atol=1e-6)
    # sparsity: diagonal blocks for the per-element parameters, not dense
    assert jac.sparsity.nnz < ref.size
    assert not (np.asarray(ref != 0) & ~jac.sparsity.toarray().astype(bool)).any()


def test_argnums_one():
    jac = js.jacobian(model, PARAMS, X, T, argnums=1)
    np.testing.assert_allclose(jac(PARAMS, X, T).todense(), dense_flat(model, (PARAMS, X, T), 1), rtol=1e-6,
                               atol=1e-6)
    assert jac.input_index(2) == (1, "", (2,))
    # one array argument keeps its shape: the pattern is that of x alone
    assert jac.shape == (8, 4)


def test_argnums_tuple():
    jac = js.jacobian(model, PARAMS, X, T, argnums=(0, 2))
    ref = dense_flat(model, (PARAMS, X, T), (0, 2))
    assert jac.shape == ref.shape == (8, 9)
    np.testing.assert_allclose(jac(PARAMS, X, T).todense(), ref, rtol=1e-6, atol=1e-6)
    assert jac.input_index(0) == (0, "['b']", (0,))
    assert jac.input_index(5) == (0, "['w']", (1,))
    assert jac.input_index(8) == (2, "", ())
    assert jac.input_index(-1) == (2, "", ())
    # negative argnums and lists, as in the dense API
    jac2 = js.jacobian(model, PARAMS, X, T, argnums=[0, -1])
    np.testing.assert_allclose(jac2(PARAMS, X, T).todense(), ref, rtol=1e-6, atol=1e-6)


def test_pytree_output_of_several_shapes():
    def f(a, b):
        return (a[1:] * a[:-1], jnp.outer(a, b), jnp.sum(b))

    a, b = jnp.arange(1.0, 5.0), jnp.array([2.0, -1.0, 0.5])
    jac = js.jacobian(f, a, b, argnums=(0, 1))
    ref = dense_flat(f, (a, b), (0, 1))
    assert jac.shape == (3 + 12 + 1, 7)
    np.testing.assert_allclose(jac(a, b).todense(), ref, rtol=1e-6)
    assert jac.output_index(0) == ("[0]", (0,))
    assert jac.output_index(3) == ("[1]", (0, 0))
    assert jac.output_index(3 + 5) == ("[1]", (1, 2))
    assert jac.output_index(15) == ("[2]", ())
    # the forward and reverse colorings give the same matrix
    for mode in ("forward", "reverse", "bidirectional"):
        np.testing.assert_allclose(js.jacobian(f, a, b, argnums=(0, 1), mode=mode)(a, b).todense(), ref, rtol=1e-6)


def test_index_helpers_match_the_dense_layout():
    jac = js.jacobian(model, PARAMS, X, T, argnums=(0, 2))
    J = np.asarray(jac(PARAMS, X, T).todense())
    full = jax.jacfwd(model, argnums=(0, 2))(PARAMS, X, T)  # full[out...][k][in...]
    out_leaves = dict((jax.tree_util.keystr(p), v) for p, v in jax.tree_util.tree_flatten_with_path(full)[0])
    rows, cols = J.shape
    for i in range(rows):
        for j in range(cols):
            opath, oidx = jac.output_index(i)
            argnum, ipath, iidx = jac.input_index(j)
            k = (0, 2).index(argnum)
            key = f"{opath}[{k}]{ipath}"
            assert np.isclose(J[i, j], out_leaves[key][oidx + iidx], rtol=1e-6, atol=1e-7), (i, j, key)
    with pytest.raises(jacx.JacxUsageError, match="input_index: received 9"):
        jac.input_index(9)
    with pytest.raises(jacx.JacxUsageError, match="output_index"):
        jac.output_index(1.5)


def test_has_aux_returns_aux_unchanged():
    def f(p, x):
        y = p["w"] * jnp.sin(x)
        return y, {"norm": jnp.linalg.norm(y), "tag": x.shape[0]}

    p = {"w": jnp.array([1.0, 2.0, 3.0])}
    x = jnp.array([0.1, 0.2, 0.3])
    jac = js.jacobian(f, p, x, argnums=(0, 1), has_aux=True)
    J, aux = jac(p, x)
    np.testing.assert_allclose(J.todense(), dense_flat(f, (p, x), (0, 1), has_aux=True), rtol=1e-6)
    np.testing.assert_allclose(aux["norm"], jnp.linalg.norm(p["w"] * jnp.sin(x)), rtol=1e-6)
    assert aux["tag"] == 3
    # has_aux with the single-array form
    J1, aux1 = js.jacobian(lambda v: (v**2, v.sum()), x, has_aux=True)(x)
    np.testing.assert_allclose(J1.todense(), np.diag(2 * np.asarray(x)), rtol=1e-6)
    np.testing.assert_allclose(aux1, x.sum(), rtol=1e-6)
    pat = js.sparsity(f, p, x, argnums=(0, 1), has_aux=True).toarray()
    np.testing.assert_array_equal(pat, np.hstack([np.eye(3), np.eye(3)]).astype(bool))


def test_float64(x64):
    params = jax.tree_util.tree_map(lambda v: jnp.asarray(v, jnp.float64), PARAMS)
    x = jnp.asarray(X, jnp.float64)
    jac = js.jacobian(model, params, x, 0.7, argnums=(0, 1))
    J = jac(params, x, 0.7)
    assert J.dtype == jnp.float64
    np.testing.assert_allclose(J.todense(), dense_flat(model, (params, x, 0.7), (0, 1)), rtol=1e-13, atol=1e-14)


def test_sparsity_pytree_form():
    pat = js.sparsity(model, PARAMS, X, T)
    jac = js.jacobian(model, PARAMS, X, T)
    assert (pat != jac.sparsity).nnz == 0
    assert pat.shape == (8, 8)
    ref = dense_flat(model, (PARAMS, X, T), (0, 2))
    got = js.sparsity(model, PARAMS, X, T, argnums=(0, 2)).toarray()
    assert not (np.asarray(ref != 0) & ~got).any()
    assert got[:, 8].any() and got.sum() < got.size


def test_single_array_form_unchanged():
    f = lambda x, t: t * x[1:] * x[:-1]
    x = jnp.arange(1.0, 5.0)
    old = js.jacobian(f, x, args=(2.0,))
    new = js.jacobian(f, x, 2.0)
    assert type(old) is type(new) is js.SparseJacobian
    np.testing.assert_array_equal(old(x, 2.0).todense(), new(x, 2.0).todense())
    assert (js.sparsity(f, x, args=(2.0,)) != js.sparsity(f, x, 2.0)).nnz == 0
    with pytest.raises(jacx.JacxUsageError, match="args="):
        js.jacobian(f, x, 2.0, args=(2.0,))


def test_wrapper_keeps_the_fast_path():
    # the flat function jacx builds must stay provably unchanged (AutoJitWarning is an error in the tests)
    from jacx.sparse._pytree import prepare_flat

    w = jnp.array(3.0)
    f = lambda p, x: w * p["a"] * x
    flat_f, *_ = prepare_flat(f, ({"a": jnp.ones(2)}, jnp.ones(2)), 0, False, "test")
    assert isinstance(analyze(flat_f), Guard)
    jac = js.jacobian(f, {"a": jnp.ones(2)}, jnp.ones(2))
    for k in range(3):
        np.testing.assert_allclose(jac({"a": jnp.ones(2) * k}, jnp.arange(2.0)).todense(), 3 * np.diag([0.0, 1.0]))
    # the wrapper is reused, so the detection cache is too
    flat_g, *_ = prepare_flat(f, ({"a": jnp.zeros(2)}, jnp.ones(2)), 0, False, "test")
    assert flat_g is flat_f


def test_jit_and_vmap_compose():
    f = lambda p, x: p["a"] * jnp.sin(x)
    p, x = {"a": jnp.array([1.0, 2.0])}, jnp.array([0.3, 0.4])
    jac = js.jacobian(f, p, x, argnums=(0, 1))
    ref = dense_flat(f, (p, x), (0, 1))
    np.testing.assert_allclose(jax.jit(lambda p, x: jac(p, x).todense())(p, x), ref, rtol=1e-6)
    xs = jnp.stack([x, 2 * x])
    batched = jax.vmap(lambda z: jac.values(p, z))(xs)
    assert batched.shape == (2, jac.sparsity.nnz)


def test_errors():
    f = lambda p, x: p["a"] * x
    p, x = {"a": jnp.ones(3)}, jnp.ones(3)
    with pytest.raises(jacx.JacxUsageError, match="points past") as err:
        js.jacobian(f, p, x, argnums=2)
    assert "\n" not in str(err.value)
    with pytest.raises(jacx.JacxUsageError, match="more than once"):
        js.jacobian(f, p, x, argnums=(0, 0))
    with pytest.raises(jacx.JacxUsageError, match="more than once"):
        js.sparsity(f, p, x, argnums=(1, -1))
    with pytest.raises(jacx.JacxUsageError, match="has_aux=True"):
        js.jacobian(f, p, x, has_aux=True)
    with pytest.raises(jacx.JacxUsageError, match="has_aux=True"):
        js.sparsity(f, p, x, has_aux=True)
    with pytest.raises(jacx.JacxUsageError, match="integer or boolean"):
        js.jacobian(f, {"a": jnp.ones(3, jnp.int32)}, x)
    with pytest.raises(jacx.JacxUsageError, match="integer or boolean"):
        js.jacobian(f, p, jnp.arange(3), argnums=(0, 1))
    with pytest.raises(jacx.JacxUsageError, match="mode="):
        js.jacobian(f, p, x, mode="sideways")
    jac = js.jacobian(f, p, x)
    with pytest.raises(jacx.JacxUsageError, match="received the structure") as err:
        jac({"b": jnp.ones(3)}, x)
    msg = str(err.value)
    assert "\n" not in msg and "prepared" in msg and "again" in msg
    with pytest.raises(jacx.JacxUsageError, match=r"received args\[0\]\['a'\] of shape \(4,\); expected shape \(3,\)"):
        jac({"a": jnp.ones(4)}, x)
    with pytest.raises(jacx.JacxUsageError, match=r"received args\[1\] of shape \(2,\)"):
        jac(p, jnp.ones(2))
    with pytest.raises(jacx.JacxUsageError, match="received the structure"):
        jac(p)


def test_index_helpers_of_the_single_array_form():
    f = lambda x, t: (t * x[1:] * x[:-1], jnp.sum(x))
    x = jnp.ones((2, 3))
    jac = js.jacobian(f, x, 2.0)
    assert type(jac) is js.SparseJacobian
    assert jac.input_index(4) == (0, "", (1, 1))
    assert jac.output_index(0) == ("[0]", (0, 0))
    assert jac.output_index(2) == ("[0]", (0, 2))
    assert jac.output_index(3) == jac.output_index(-1) == ("[1]", ())
