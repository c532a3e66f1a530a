"""Structure recognition and the structure-aware log-determinant, against the exact dense answer."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import jacx
import jacx.logdet as ld
from jacx.logdet._structure import diagonal_probes


def _exact(f, x):
    return jnp.linalg.slogdet(jax.jacfwd(f)(x))


def test_kinds_and_probe_counts():
    n = 6
    assert ld.analyze_pattern(np.eye(n, dtype=bool)).kind == "diagonal"
    lower = ld.analyze_pattern(np.tril(np.ones((n, n), dtype=bool)))
    assert (lower.kind, lower.num_jvps) == ("triangular", n)  # every column meets every other in some row
    upper = ld.analyze_pattern(np.triu(np.ones((n, n), dtype=bool)))
    assert upper.kind == "triangular"
    perm = np.random.default_rng(0).permutation(n)
    permuted = np.tril(np.ones((n, n), dtype=bool))[np.ix_(perm, perm)]  # symmetric permutation of a triangle
    assert ld.analyze_pattern(permuted).kind == "triangular"
    dense = ld.analyze_pattern(np.ones((n, n), dtype=bool))
    assert (dense.kind, dense.block_sizes, dense.num_jvps) == ("dense", (n,), n)
    block = np.zeros((n, n), dtype=bool)
    block[:2, :2] = block[2:, 2:] = True
    block[2:, :2] = True
    s = ld.analyze_pattern(block)
    assert s.kind == "block-triangular" and sorted(s.block_sizes) == [2, 4]
    coupling = np.eye(n, dtype=bool)
    coupling[3:, :3] = True
    assert ld.analyze_pattern(coupling).num_jvps == 2
    tridiagonal = np.eye(n, dtype=bool) | np.eye(n, k=1, dtype=bool) | np.eye(n, k=-1, dtype=bool)
    t = ld.analyze_pattern(sp.csr_array(tridiagonal))
    assert t.kind == "dense" and t.num_jvps == 3  # irreducible, but 3 colored JVPs measure it


def test_bad_patterns_are_usage_errors():
    with pytest.raises(jacx.JacxUsageError, match="square"):
        ld.analyze_pattern(np.ones((2, 3), dtype=bool))
    with pytest.raises(jacx.JacxUsageError, match="2-D"):
        ld.analyze_pattern(np.ones(3, dtype=bool))
    with pytest.raises(jacx.JacxUsageError, match="size 3 x 3"):
        ld.logdet(jnp.tanh, structure=np.eye(3, dtype=bool))(jnp.ones(4))
    with pytest.raises(jacx.JacxUsageError, match="structure='bogus'"):
        ld.logdet(jnp.tanh, structure="bogus")(jnp.ones(4))


def _random_case(seed: int, n: int, density: float):
    """A random pattern with nonzero diagonal, and a nonlinear map whose Jacobian has exactly that pattern."""
    rng = np.random.default_rng(seed)
    pattern = rng.random((n, n)) < density
    np.fill_diagonal(pattern, True)
    a = np.where(pattern, rng.normal(size=(n, n)), 0.0)
    a[np.diag_indices(n)] += np.sign(a[np.diag_indices(n)]) * 1.0
    a = jnp.asarray(a)
    f = lambda v: a @ jnp.tanh(v) + 0.1 * v**3  # noqa: E731  J = A diag(sech^2) + diag(0.3 v^2)
    return pattern, f


@settings(max_examples=6, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 12), st.sampled_from([0.0, 0.05, 0.15, 0.4]))
def test_structured_equals_exact_on_random_patterns(seed, n, density):
    with jax.enable_x64(True):
        pattern, f = _random_case(seed, n, density)
        x = jnp.asarray(np.random.default_rng(seed + 1).normal(size=n))
        r = ld.logdet(f, structure=pattern)(x)
        sign, ref = _exact(f, x)
        np.testing.assert_allclose(r.logabsdet, ref, rtol=1e-10, atol=1e-10)
        assert float(r.sign) == float(sign)
        assert r.num_jvps <= n


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 30), st.floats(0.0, 0.5))
def test_probe_coloring_has_no_collisions(seed, n, density):
    rng = np.random.default_rng(seed)
    p = rng.random((n, n)) < density
    np.fill_diagonal(p, True)
    s = ld.analyze_pattern(p)
    colors = s.colors
    labels_inside = {}
    for idx, _ in s.groups:
        for block in idx:
            for i in block:
                labels_inside[int(i)] = set(int(j) for j in block)
    # every entry we need, J[i, j] inside a block, is alone in its row among the columns of its color
    for i in range(n):
        for j in labels_inside[i]:
            if p[i, j]:
                same = [k for k in range(n) if k != j and colors[k] == colors[j] and p[i, k]]
                assert same == []
    seeds, dcolors = diagonal_probes(p)
    for i in range(n):
        assert not any(p[i, k] for k in range(n) if k != i and dcolors[k] == dcolors[i])


def test_auto_detection_uses_sparsity_and_block_triangular(x64):
    def f(v):  # blocks {0,1} (coupled) then {2}, {3} driven by them
        return jnp.array([v[0] + v[1] ** 2, jnp.sin(v[0]) - 2 * v[1], v[2] * jnp.exp(v[0]), v[3] ** 3 + v[2]])

    x = jnp.array([0.3, -0.7, 1.1, 0.9])
    r = ld.logdet(f)(x)
    assert r.path.startswith("block-triangular (3 blocks, largest 2") and "sparsity" in r.path
    np.testing.assert_allclose(r.logabsdet, _exact(f, x)[1], rtol=1e-12)


def test_singular_structural_zero(x64):
    f = lambda v: jnp.array([v[1], v[1] ** 2])  # noqa: E731  column 0 is empty: det = 0
    r = ld.logdet(f)(jnp.array([1.0, 2.0]))
    assert float(r.sign) == 0.0 and r.logabsdet == -jnp.inf


def test_dense_path_and_chunking(x64):
    a = jnp.asarray(np.random.default_rng(3).normal(size=(7, 7)))
    f = lambda v: a @ jnp.sin(v) + v  # noqa: E731
    x = jnp.linspace(-1.0, 1.0, 7)
    ref = _exact(f, x)
    for chunk in (None, 1, 3):
        r = ld.slogdet(f, chunk_size=chunk)(x)
        np.testing.assert_allclose(r.logabsdet, ref[1], rtol=1e-12)
        assert float(r.sign) == float(ref[0]) and r.path.startswith("dense (7 JVPs")
    assert ld.logdet(f, structure="dense")(x).path.startswith("dense")
    np.testing.assert_allclose(ld.logdet(f)(x).logabsdet, ref[1], rtol=1e-12)


def test_pytree_input_and_jit(x64):
    f = lambda t: {"a": 2.0 * t["a"], "b": t["b"] * t["a"][0]}  # noqa: E731
    x = {"a": jnp.array([1.5, 2.0]), "b": jnp.array([3.0])}
    r = jax.jit(ld.logdet(f))(x)  # J is lower triangular: diag 2, 2, a0
    np.testing.assert_allclose(r.logabsdet, np.log(2 * 2 * 1.5), rtol=1e-12)
    np.testing.assert_allclose(r.det, 6.0, rtol=1e-12)


def test_non_square_and_integer_input():
    with pytest.raises(jacx.NonSquareJacobianError, match="3 input and 2 output"):
        ld.slogdet(lambda v: v[:2])(jnp.ones(3))
    with pytest.raises(jacx.JacxUsageError, match="floating-point"):
        ld.logdet(lambda v: v)(jnp.arange(3))


def test_gradient_and_vmap_through_the_structured_path(x64):
    from jacx.flows import AffineCoupling

    b = AffineCoupling.init(jax.random.key(0), (True, False, True, False), (8,), zero_last=False, dtype=jnp.float64)
    x = jnp.array([0.3, -1.0, 2.0, 0.5])
    # training a flow through the structured log-det gives the same parameter gradients as the hand-written one
    g_structured = jax.grad(lambda b: ld.logdet(b)(x).logabsdet)(b)
    g_hand = jax.grad(lambda b: b.forward_log_det_jacobian(x))(b)
    for a, c in zip(jax.tree_util.tree_leaves(g_structured), jax.tree_util.tree_leaves(g_hand)):
        np.testing.assert_allclose(a, c, rtol=1e-10, atol=1e-12)
    f = lambda v: jnp.array([2 * v[0], v[0] + v[1] ** 2, jnp.sin(v[2]) + v[1]])  # noqa: E731
    xs = jax.random.normal(jax.random.key(1), (5, 3), jnp.float64)
    r = jax.vmap(ld.logdet(f))(xs)
    assert r.path == "triangular (2 JVPs, pattern sparsity)"
    np.testing.assert_allclose(r.logabsdet, jax.vmap(lambda v: _exact(f, v)[1])(xs), rtol=1e-12)
