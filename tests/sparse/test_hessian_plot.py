"""The Hessian spy picture renders and reads (the checks of tests/test_pictures.py) and colours what it should."""

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

import jacx.sparse as js  # noqa: E402
from jacx import JacxUsageError  # noqa: E402
from jacx.sparse._hessian_problems import chained_rosenbrock, mesh_energy  # noqa: E402

try:
    from tests.test_pictures import assert_reads_well
except ImportError:  # tests/ not importable as a package: load the helpers from the file next door
    import importlib.util
    from pathlib import Path

    _spec = importlib.util.spec_from_file_location("_pictures", Path(__file__).resolve().parent.parent /
                                                   "test_pictures.py")
    _pictures = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_pictures)
    assert_reads_well = _pictures.assert_reads_well


@pytest.mark.parametrize("method", ["star", "acyclic"])
def test_spy_hessian_reads_well_with_a_legend(method):
    f, x = mesh_energy(120)
    hess = js.hessian(f, x, method=method)
    ax = js.spy_hessian(hess)
    try:
        assert_reads_well(ax.figure)
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert labels == [f"HVP {c + 1}" for c in range(hess.n_colors)]
        assert f"{hess.n_colors} HVPs ({method} coloring)" in ax.get_title()
        assert ax.get_xlabel() and ax.get_ylabel()
        # one point per nonzero, at (column, row), coloured by a product; symmetric positions
        pts = ax.collections[0].get_offsets()
        assert len(pts) == hess.sparsity.nnz
        drawn = {(int(r), int(c)) for c, r in np.asarray(pts)}
        assert drawn == set(zip(*hess.sparsity.nonzero())) == {(c, r) for r, c in drawn}
        groups = np.asarray(ax.collections[0].get_array())
        assert set(groups.tolist()) == set(range(hess.n_colors))
        if method == "star":  # both triangles of a pair read from one product: one colour
            by_pos = dict(zip(map(tuple, np.asarray(pts).astype(int)), groups))
            assert all(by_pos[(c, r)] == g for (c, r), g in by_pos.items())
    finally:
        plt.close(ax.figure)


def test_spy_hessian_uses_a_colorbar_beyond_twenty_products(tmp_path):
    f, x = chained_rosenbrock(40)
    pattern = js.hessian_sparsity(f, x)
    colors = np.arange(40) % 25  # a valid (if wasteful) star coloring of a tridiagonal pattern: 25 products
    coloring = js.SymmetricColoring("star", colors, 25, pattern)
    assert coloring.is_valid()
    ax = js.spy_hessian(coloring)
    try:
        assert ax.get_legend() is None
        assert ax.collections[0].colorbar is not None
        assert_reads_well(ax.figure)
        ax.figure.savefig(tmp_path / "spy.png")
        assert (tmp_path / "spy.png").stat().st_size > 1000
    finally:
        plt.close(ax.figure)


def test_spy_hessian_rejects_other_objects():
    with pytest.raises(JacxUsageError, match="spy_hessian"):
        js.spy_hessian(np.eye(3))
