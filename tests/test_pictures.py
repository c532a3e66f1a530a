"""Every picture jacx draws renders and reads: no text outside the figure, titles that do not run into other text,
both sides of a deformation picture labelled, a legend for colour groups and a colorbar where colour is a value."""

from unittest import mock

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.collections import PathCollection, QuadMesh  # noqa: E402
from matplotlib.image import AxesImage  # noqa: E402
from matplotlib.text import Text  # noqa: E402


def drawn_texts(fig):
    """Draw ``fig`` and return ``[(text, window extent)]`` for every non-empty text actually drawn."""
    drawn = []
    draw = Text.draw

    def record(self, renderer):
        draw(self, renderer)
        if self.get_visible() and self.get_text().strip():
            drawn.append((self, self.get_window_extent(renderer)))

    FigureCanvasAgg(fig)
    with mock.patch.object(Text, "draw", record):
        fig.canvas.draw()
    return drawn


def _titles(fig):
    titles = [t for ax in fig.axes for t in (ax.title, ax._left_title, ax._right_title)]
    return [t for t in [*titles, fig._suptitle] if t is not None]


def layout_problems(fig):
    """What is wrong with the layout of ``fig``, in words (an empty list when nothing is)."""
    problems = []
    drawn = drawn_texts(fig)
    box = fig.bbox
    for text, extent in drawn:
        if extent.x0 < box.x0 - 1 or extent.y0 < box.y0 - 1 or extent.x1 > box.x1 + 1 or extent.y1 > box.y1 + 1:
            problems.append(f"{text.get_text()!r} reaches outside the figure ({extent} vs {box})")
    titles = {id(t) for t in _titles(fig)}
    for i, (text, extent) in enumerate(drawn):
        if id(text) not in titles:
            continue
        for other, other_extent in drawn[:i] + drawn[i + 1 :]:
            if extent.overlaps(other_extent):
                problems.append(f"the title {text.get_text()!r} runs into {other.get_text()!r}")
    return problems


def colour_problems(fig):
    """Colour that carries a value without a colorbar, or colour groups without a legend."""
    problems = []
    colorbar_axes = {id(m.colorbar.ax) for ax in fig.axes for m in [*ax.images, *ax.collections]
                     if getattr(m, "colorbar", None) is not None}
    for ax in fig.axes:
        if id(ax) in colorbar_axes:
            continue
        for m in [*ax.images, *ax.collections]:
            if isinstance(m, AxesImage | QuadMesh) and m.colorbar is None:
                problems.append(f"{type(m).__name__} in {ax.get_title()!r} has no colorbar")
            if isinstance(m, PathCollection) and m.get_array() is not None and m.colorbar is None \
                    and ax.get_legend() is None:
                problems.append(f"coloured points in {ax.get_title()!r} have neither a legend nor a colorbar")
    return problems


def assert_reads_well(fig):
    problems = layout_problems(fig) + colour_problems(fig)
    assert not problems, "\n".join(problems)


# --- volume-change pictures (jacx plot, and the trained map of jacx flow) -----------------------------------------

SQUARE = lambda p: jnp.array([p[0] ** 2 - p[1] ** 2, 2 * p[0] * p[1]])  # noqa: E731
LOG = lambda p: jnp.array([jnp.log(p[0]), p[1] / p[0]])  # noqa: E731 - undefined for x <= 0, a pole at x = 0
FOLD = lambda p: jnp.array([p[0] ** 3 - 3 * p[0] * p[1] ** 2, p[1] - p[0]])  # noqa: E731 - det J changes sign


@pytest.mark.parametrize("f", [SQUARE, LOG, FOLD], ids=["square", "log", "fold"])
def test_volume_pictures_read_well(f):
    from jacx.logdet import plot_map

    assert_reads_well(plot_map(f, resolution=40, title="(u, v) = (some map)"))


def test_a_long_title_is_wrapped_inside_the_figure():
    from jacx.logdet import plot_map

    title = "(u, v) = (" + " + ".join(f"sin({k}*x)*cos({k}*y)" for k in range(1, 12)) + ", x*y)"
    fig = plot_map(SQUARE, resolution=20, title=title)
    assert_reads_well(fig)
    assert fig._suptitle.get_text().replace("\n", " ").split() == title.split()


def test_both_sides_of_a_deformation_picture_are_labelled():
    from jacx.logdet import plot_map

    window, image, det = plot_map(SQUARE, resolution=20).axes[:3]
    assert (window.get_xlabel(), window.get_ylabel()) == ("x", "y")
    assert (image.get_xlabel(), image.get_ylabel()) == ("u", "v")
    assert (det.get_xlabel(), det.get_ylabel()) == ("x", "y")


def test_grid_line_colours_are_explained_by_a_legend():
    from jacx.logdet import plot_map

    fig = plot_map(SQUARE, resolution=20)
    window = fig.axes[0]
    colours = {matplotlib.colors.to_hex(line.get_color()) for line in window.lines}
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend() is not None)]
    explained = {matplotlib.colors.to_hex(h.get_color()) for lg in legends for h in lg.legend_handles
                 if hasattr(h, "get_color") and "const" in h.get_label()}
    assert len(colours) == 2 and colours <= explained


# --- sparse spy plots ----------------------------------------------------------------------------------------------


def _spy_cases():
    import jacx.sparse as jsp

    band = np.eye(30, dtype=bool) | np.eye(30, k=1, dtype=bool) | np.eye(30, k=-1, dtype=bool)
    arrow = band.copy()
    arrow[0, :] = arrow[:, 0] = True
    many = np.zeros((60, 60), dtype=bool)  # a dense row block needs a color per column: 40 colors
    many[:5, :40] = True
    many[np.arange(60), np.arange(60)] = True
    return {
        "columns": (band, jsp.color_columns(band)),
        "rows": (band, jsp.color_rows(band)),
        "bidirectional": (arrow, jsp.color_bidirectional(arrow)),
        "many colors": (many, jsp.color_columns(many)),
        "no coloring": (band, None),
    }


@pytest.mark.parametrize("case", list(_spy_cases()))
def test_spy_plots_read_well(case):
    import matplotlib.pyplot as plt

    from jacx.sparse import spy

    pattern, coloring = _spy_cases()[case]
    ax = spy(pattern, coloring)
    try:
        assert_reads_well(ax.figure)
    finally:
        plt.close(ax.figure)


def test_spy_legend_names_every_color_group_in_its_colour():
    import matplotlib.pyplot as plt

    from jacx.sparse import spy

    pattern, coloring = _spy_cases()["bidirectional"]
    ax = spy(pattern, coloring)
    try:
        legend = ax.get_legend()
        assert legend is not None
        labels = [t.get_text() for t in legend.get_texts()]
        kf, kr = coloring.forward.n_colors, coloring.reverse.n_colors
        assert labels == [f"JVP {i}" for i in range(1, kf + 1)] + [f"VJP {i}" for i in range(1, kr + 1)]
        points = ax.collections[0]
        drawn = {matplotlib.colors.to_hex(c) for c in points.to_rgba(points.get_array())}
        shown = {matplotlib.colors.to_hex(h.get_color()) for h in legend.legend_handles}
        assert drawn == shown and len(shown) == coloring.n_colors
    finally:
        plt.close(ax.figure)


# --- flows -------------------------------------------------------------------------------------------------------


def test_flow_pictures_read_well():
    from jacx.flows import realnvp, two_moons
    from jacx.flows._plot import plot_density, plot_losses

    flow = realnvp(jax.random.key(0), 2, 2, (8,))
    fig = plot_density(flow, two_moons(jax.random.key(1), 300), resolution=30, num_samples=200)
    assert_reads_well(fig)
    data, density = fig.axes[:2]
    assert data.collections[0].colorbar is not None and density.collections[0].colorbar is not None
    assert all(ax.get_xlabel() for ax in fig.axes[:3]) and data.get_ylabel()  # the panels share their axes
    assert_reads_well(plot_losses(np.linspace(3.0, 1.0, 20)))


# --- vision ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("warp", ["translation", "affine", "homography"])
def test_steepest_descent_pictures_read_well(warp):
    import matplotlib.pyplot as plt

    from jacx.vision import plot_steepest_descent

    template = jnp.outer(jnp.sin(jnp.linspace(0, 3, 40)), jnp.cos(jnp.linspace(0, 2, 40)))
    fig = plot_steepest_descent(template, (5, 5, 30, 30), warp)
    try:
        assert_reads_well(fig)
    finally:
        plt.close(fig)
