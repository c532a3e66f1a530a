"""Lattice coordinates read off a pattern's graph, whatever the numbering of the unknowns."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from jacx.sparse import color_columns
from jacx.sparse._compress import _collisions
from jacx.sparse._embed import graph_coordinates


def grid_pattern(shape: tuple[int, ...], periodic: tuple[bool, ...], fields: int, perm: np.ndarray | None):
    """The pattern of a nearest-neighbour stencil on a grid (each axis periodic or not) with ``fields`` coupled
    unknowns per point, numbered by ``perm`` (unknown ``perm[k]`` of the row-major grid becomes number ``k``)."""
    full = (fields, *shape)
    idx = np.arange(int(np.prod(full))).reshape(full)
    rows, cols = [idx.ravel()], [idx.ravel()]
    for axis, wrap in enumerate(periodic, start=1):
        for step in (1, -1):
            nb = np.roll(idx, step, axis)
            keep = np.ones(full, bool)
            if not wrap:  # no neighbour across the boundary
                edge = [slice(None)] * len(full)
                edge[axis] = 0 if step == 1 else -1
                keep[tuple(edge)] = False
            rows.append(idx[keep])
            cols.append(nb[keep])
    for f in range(1, fields):  # the fields at one point are coupled
        rows.append(idx[0].ravel())
        cols.append(idx[f].ravel())
        rows.append(idx[f].ravel())
        cols.append(idx[0].ravel())
    r, c = np.concatenate(rows), np.concatenate(cols)
    n = idx.size
    if perm is not None:
        where = np.empty(n, np.int64)
        where[perm] = np.arange(n)  # grid unknown g has number where[g]
        r, c = where[r], where[c]
    return sp.csr_array((np.ones(len(r), bool), (r, c)), shape=(n, n)), idx


def assert_lattice(p: sp.csr_array, coords: np.ndarray) -> None:
    """Every pair of coupled unknowns differs by one unit step along one axis (modulo that axis's period)."""
    ext = coords.max(axis=0) + 1
    coo = p.tocoo()
    off = coo.row != coo.col
    d = coords[coo.row[off]] - coords[coo.col[off]]
    d = np.where(np.abs(d) == ext - 1, np.sign(d) * -1, d)  # a wrap across a periodic axis is one step too
    assert np.all(np.abs(d).sum(axis=1) == 1)


@settings(max_examples=40, deadline=None)
@given(
    shape=st.lists(st.integers(5, 11), min_size=1, max_size=3).map(tuple),
    wrap=st.lists(st.booleans(), min_size=3, max_size=3),
    fields=st.integers(1, 2),
    seed=st.integers(0, 2**31 - 1),
)
def test_coordinates_of_randomly_numbered_grids(shape, wrap, fields, seed):
    periodic = tuple(wrap[: len(shape)])
    n = fields * int(np.prod(shape))
    perm = np.random.default_rng(seed).permutation(n)
    p, _ = grid_pattern(shape, periodic, fields, perm)
    coords = graph_coordinates(p)
    assert coords is not None
    assert coords.shape[1] == len(shape) + (fields > 1)
    assert len({tuple(c) for c in coords.tolist()}) == n  # one point per unknown
    assert_lattice(p, coords)
    # the extents are the grid's (in some order), plus the field axis
    assert sorted(coords.max(axis=0) + 1) == sorted([*shape, *([fields] if fields > 1 else [])])


@pytest.mark.parametrize("n_grid, colors", [(12, 6), (16, 8), (18, 6)])
def test_randomly_numbered_brusselator_pattern_gets_the_lattice_colors(n_grid, colors):
    p, _ = grid_pattern((n_grid, n_grid), (True, True), 2, np.random.default_rng(n_grid).permutation(2 * n_grid**2))
    c = color_columns(p)
    assert c.n_colors == colors and "from the graph" in c.method
    assert not _collisions(p, c.colors, c.n_colors, "column")


def test_graphs_that_are_not_lattices_get_no_coordinates():
    rng = np.random.default_rng(0)
    n = 200
    r = rng.integers(0, n, 3 * n)
    c = rng.integers(0, n, 3 * n)
    random_graph = sp.csr_array((np.ones(len(r), bool), (r, c)), shape=(n, n))
    assert graph_coordinates(random_graph) is None
    # a periodic 9-point stencil (diagonal neighbours: triangles everywhere) is not a product of paths
    idx = np.arange(81).reshape(9, 9)
    rows, cols = [], []
    for di, dj in itertools.product((-1, 0, 1), repeat=2):
        rows.append(idx.ravel())
        cols.append(np.roll(np.roll(idx, di, 0), dj, 1).ravel())
    king = sp.csr_array((np.ones(729, bool), (np.concatenate(rows), np.concatenate(cols))), shape=(81, 81))
    assert graph_coordinates(king) is None
    # ... and its coloring still reaches the optimum 9 (a 3 x 3 lattice coloring, as 3 divides 9) and is valid
    col = color_columns(king)
    assert col.n_colors == 9 and not _collisions(king, col.colors, 9, "column")


def test_non_square_and_dense_patterns_are_refused_quickly():
    assert graph_coordinates(sp.csr_array(np.ones((3, 4), bool))) is None
    assert graph_coordinates(sp.csr_array(np.ones((40, 40), bool))) is None  # rows longer than a stencil's
