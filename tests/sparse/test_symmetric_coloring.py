"""Star and acyclic colorings: validity checks, color counts on patterns whose optimum is known, exact recovery."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from jacx import JacxUsageError
from jacx.sparse import SymmetricColoring, acyclic_coloring, star_coloring, symmetric_coloring
from jacx.sparse._symmetric import acyclic_pays, forest_lower_bound, largest_row, symmetric_pattern


def band(n, b):
    return sp.diags_array([np.ones(n - abs(k)) for k in range(-b, b + 1)], offsets=list(range(-b, b + 1))) != 0


def grid(n, dim=2):
    t = band(n, 1).astype(float)
    eye = sp.eye_array(n)
    if dim == 2:
        return (sp.kron(eye, t) + sp.kron(t, eye)) != 0
    return (sp.kron(sp.kron(eye, eye), t) + sp.kron(sp.kron(eye, t), eye) + sp.kron(sp.kron(t, eye), eye)) != 0


def arrow(n):
    a = np.eye(n, dtype=bool)
    a[0, :] = a[:, 0] = True
    return a


def random_values(pattern, seed=0):
    """A symmetric matrix with exactly the nonzeros of ``pattern`` (diagonal included)."""
    p = symmetric_pattern(pattern)
    rng = np.random.default_rng(seed)
    upper = sp.triu(p, format="csr").astype(float)
    upper.data = rng.uniform(0.5, 2.0, upper.nnz) * rng.choice([-1.0, 1.0], upper.nnz)
    return sp.csr_array(upper + sp.triu(upper, k=1).T)


def check_exact(c, pattern, seed=0):
    h = random_values(pattern, seed)
    got = c.decompress(c.compress(h))
    assert (abs(got - h)).max() <= 1e-12 * max(1.0, abs(h).max())
    assert (got != got.T).nnz == 0


@pytest.mark.parametrize("n", [4, 5, 50])
def test_path_needs_three_star_and_two_acyclic_colors(n):
    # a path on 4 vertices has no star 2-coloring (its two colors alternate along the path); 2 colors are acyclic
    p = band(n, 1)
    s, a = star_coloring(p), acyclic_coloring(p)
    assert (s.n_colors, a.n_colors) == (3, 2)
    assert s.is_valid() and a.is_valid()
    check_exact(s, p)
    check_exact(a, p)
    # one product saved does not pay for the substitution along the path: "auto" keeps star
    assert (symmetric_coloring(p).method, symmetric_coloring(p, "acyclic").n_colors) == ("star", 2)


def test_arrowhead_needs_two_colors_though_its_first_row_is_full():
    p = arrow(30)
    for c in (star_coloring(p), acyclic_coloring(p), symmetric_coloring(p)):
        assert c.n_colors == 2 and c.is_valid()
        check_exact(c, p)
    assert largest_row(p) == 30 and forest_lower_bound(p) == 2
    assert symmetric_coloring(p).method == "star"  # ties go to star, whose recovery is a gather


@pytest.mark.parametrize("b", [1, 2, 3, 5])
def test_band_of_half_bandwidth_b(b):
    # b+1 consecutive variables form a clique, so every coloring needs b+1 colors; i mod (b+1) is acyclic (two
    # color classes induce a path), which greedy in natural order finds.  i mod (2b+1) is a star coloring.
    p = band(60, b)
    s, a = star_coloring(p), acyclic_coloring(p)
    assert a.n_colors == b + 1
    assert b + 1 < s.n_colors <= 2 * b + 1 if b else s.n_colors == 1
    check_exact(s, p)
    check_exact(a, p)


def test_grid_laplacian_counts():
    # the star chromatic number of a large 2D grid is 5 (Fertin, Raspaud and Reed, 2004), reached here; its
    # acyclic chromatic number is 3, and the two-colored forests force at least 3 (|E| = 2n - 2N > n)
    p = grid(30)
    s, a = star_coloring(p), acyclic_coloring(p)
    assert s.n_colors == 5
    assert forest_lower_bound(p) == 3 <= a.n_colors <= 4
    check_exact(s, p)
    check_exact(a, p)


def test_grid_3d_counts():
    p = grid(8, dim=3)
    s, a = star_coloring(p), acyclic_coloring(p)
    # 7 is what this implementation reaches (the optimal distance-2 coloring of the 7-point stencil, a star
    # coloring); the two-colored forests force at least 4 for either kind
    assert s.n_colors == 7
    assert forest_lower_bound(p) == 4 <= a.n_colors <= 6
    check_exact(s, p)
    check_exact(a, p)


def test_is_valid_rejects_two_colored_paths_and_cycles():
    path4 = band(4, 1)
    alternating = np.array([0, 1, 0, 1])
    assert not SymmetricColoring("star", alternating, 2, symmetric_pattern(path4)).is_valid()
    assert SymmetricColoring("acyclic", alternating, 2, symmetric_pattern(path4)).is_valid()
    cycle4 = band(4, 1).toarray()
    cycle4[0, 3] = cycle4[3, 0] = True
    assert not SymmetricColoring("acyclic", alternating, 2, symmetric_pattern(cycle4)).is_valid()
    assert not SymmetricColoring("star", np.zeros(4, int), 1, symmetric_pattern(path4)).is_valid()  # not proper


def test_seeds_and_numpy_jax_recoveries_agree():
    import jax.numpy as jnp

    p = grid(6)
    for c in (star_coloring(p), acyclic_coloring(p)):
        assert c.seeds().shape == (36, c.n_colors)
        assert (c.seeds().sum(axis=1) == 1).all()
        comp = c.compress(random_values(p, 3))
        np.testing.assert_allclose(np.asarray(c.recover(jnp.asarray(comp))), c.recover(comp), rtol=1e-5, atol=1e-5)


def test_usage_errors_say_what_was_expected():
    with pytest.raises(JacxUsageError, match="square"):
        star_coloring(np.ones((2, 3)))
    with pytest.raises(JacxUsageError, match="ordering"):
        acyclic_coloring(np.eye(3), order="random")
    with pytest.raises(JacxUsageError, match="method"):
        symmetric_coloring(np.eye(3), method="distance-2")
    with pytest.raises(JacxUsageError, match="shape"):
        star_coloring(np.eye(3)).recover(np.zeros((3, 5)))


@st.composite
def symmetric_patterns(draw):
    n = draw(st.integers(1, 25))
    density = draw(st.floats(0.0, 0.4))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    a = rng.random((n, n)) < density
    return a | a.T


@settings(max_examples=60, deadline=None)
@given(symmetric_patterns(), st.sampled_from(["natural", "largest_first", "smallest_last"]))
def test_random_patterns_color_validly_and_recover_exactly(pattern, order):
    s = star_coloring(pattern, order=order)
    a = acyclic_coloring(pattern, order=order)
    for c in (s, a):
        assert c.is_valid()
        assert forest_lower_bound(pattern) <= c.n_colors <= pattern.shape[0]
        check_exact(c, pattern, seed=c.n_colors)
    # acyclic_coloring keeps the best star coloring among its candidates (every star coloring is acyclic), so it
    # never needs more colors than star_coloring with the same orderings
    assert a.n_colors <= s.n_colors
    auto = symmetric_coloring(pattern, order=order)
    chosen = a if acyclic_pays(symmetric_pattern(pattern), s.n_colors, a.n_colors) else s
    assert (auto.method, auto.n_colors) == (chosen.method, chosen.n_colors)


def test_auto_takes_acyclic_only_when_it_saves_more_products_than_its_recovery_costs():
    # a 2D 5-point grid: star 5, acyclic 4 colors; the product saved is cheaper than substituting 5 nonzeros a row
    p = grid(12)
    assert (star_coloring(p).n_colors, acyclic_coloring(p).n_colors, symmetric_coloring(p).method) == (5, 4, "star")
    # a star coloring told to ignore the hub of an arrowhead needs n colors; acyclic needs 2: that pays
    p = symmetric_pattern(arrow(40))
    assert acyclic_pays(p, 40, 2) and not acyclic_pays(p, 3, 2)


def test_dense_rows_get_their_own_colors_when_the_greedy_is_skipped():
    # without the Python greedy (loop_limit=0) the distance-2 coloring of an arrowhead needs n colors; a color of
    # its own for the full row and distance-2 colors for the rest give 2 (still a valid star coloring)
    c = star_coloring(arrow(300), loop_limit=0)
    assert (c.n_colors, c.is_valid()) == (2, True)
    check_exact(c, arrow(300))
    p = band(200, 2).toarray()
    p[[0, 77], :] = p[:, [0, 77]] = True  # two hubs over a band
    c = star_coloring(p, loop_limit=0)
    assert c.is_valid() and c.n_colors <= 2 + 5
    check_exact(c, p)
