"""Spy plots: every nonzero drawn once, coloured by the product that recovers it."""

import matplotlib

matplotlib.use("Agg")

import numpy as np

import jacx.sparse as js


def _groups(ax):
    coll = ax.collections[0]
    return coll.get_offsets(), np.asarray(coll.get_array())


def test_spy_column_row_and_bidirectional():
    p = np.eye(6, dtype=bool)
    p[0, :] = p[:, 0] = True
    c = js.color_columns(p)
    ax = js.spy(p, c)
    offsets, groups = _groups(ax)
    assert len(offsets) == p.sum()
    # each nonzero is coloured with the color of its column
    np.testing.assert_array_equal(groups, c.colors[np.asarray(offsets)[:, 0].astype(int)])
    r = js.color_rows(p)
    assert "row" in js.spy(p, r).get_title()
    bc = js.color_bidirectional(p)
    ax = js.spy(p, bc)
    assert "JVPs" in ax.get_title() and len(set(_groups(ax)[1])) == bc.n_colors
    assert js.spy(p).get_title().startswith("6 x 6")
