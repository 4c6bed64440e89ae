"""Tests for cvcourse.livefig.colorbar: LiveColorbar looks like matplotlib's and redraws only its labels."""

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from cvcourse import livefig


def _colorbar_pair(heat, orientation):
    """The same heatmap twice: with a LiveColorbar, and with matplotlib's own colour bar showing
    ticks at the same values (the authority)."""
    figures = []
    for _ in range(2):
        fig = Figure(figsize=(4, 3), layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.subplots()
        figures.append((fig, ax, ax.imshow(heat, cmap="inferno")))
    (fig, ax, shown), (ref_fig, ref_ax, ref_shown) = figures
    bar = livefig.LiveColorbar(shown, ax, ticks=5, fmt="{:.3f}", label="weight", orientation=orientation)
    low, high = ref_shown.get_clim()
    ref = ref_fig.colorbar(
        ref_shown, ax=ref_ax, orientation=orientation, ticks=np.linspace(low, high, 5), format="%.3f"
    )
    ref.set_label("weight")
    return fig, shown, bar, ref_fig


@pytest.mark.parametrize("orientation", ["vertical", "horizontal"])
def test_live_colorbar_looks_like_matplotlibs_colorbar(orientation):
    heat = np.random.default_rng(0).random((8, 8)) * 0.3
    fig, shown, bar, ref_fig = _colorbar_pair(heat, orientation)
    assert [t.get_text() for t in bar.labels] == [f"{v:.3f}" for v in np.linspace(heat.min(), heat.max(), 5)]
    fig.canvas.draw()
    ref_fig.canvas.draw()
    np.testing.assert_array_equal(
        np.asarray(fig.canvas.buffer_rgba()), np.asarray(ref_fig.canvas.buffer_rgba())
    )


def test_live_colorbar_follows_the_range_with_only_its_labels_redrawn(same_as_full_draw):
    fig, ax, canvas = livefig.interactive_figure(figsize=(4, 3))
    canvas.syncing_data_url = False
    rng = np.random.default_rng(1)
    shown = ax.imshow(rng.random((6, 6)))
    bar = livefig.LiveColorbar(shown, ax, ticks=3, fmt="{:.2f}")
    live = livefig.LiveArtists(fig, [shown, *bar.labels])
    fig.canvas.draw()
    bar_pixels = fig.canvas.copy_from_bbox(bar.colorbar.ax.bbox)
    new = rng.random((6, 6)) * 7

    def change():
        shown.set_data(new)
        shown.set_clim(new.min(), new.max())
        bar.update()
        live.redraw()

    assert same_as_full_draw(fig, change) > 0
    assert [t.get_text() for t in bar.labels] == [
        f"{v:.2f}" for v in (new.min(), (new.min() + new.max()) / 2, new.max())
    ]
    # the bar itself (its colours and ticks) was not drawn again: same pixels inside its axes
    np.testing.assert_array_equal(
        np.asarray(bar_pixels), np.asarray(fig.canvas.copy_from_bbox(bar.colorbar.ax.bbox))
    )
    # a constant map (vmin == vmax): every label reads the one value, nothing is NaN
    shown.set_data(np.full((6, 6), 0.25))
    shown.set_clim(0.25, 0.25)
    bar.update()
    assert [t.get_text() for t in bar.labels] == ["0.25"] * 3


def test_live_colorbar_bad_input():
    fig, ax, _ = livefig.interactive_figure(figsize=(3, 2))
    shown = ax.imshow(np.eye(3))
    with pytest.raises(TypeError, match="image must be a matplotlib ScalarMappable.*got ndarray"):
        livefig.LiveColorbar(np.eye(3), ax)
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes, got Figure"):
        livefig.LiveColorbar(shown, fig)
    with pytest.raises(ValueError, match="ticks must be an int >= 2, got 1"):
        livefig.LiveColorbar(shown, ax, ticks=1)
    with pytest.raises(ValueError, match="fmt must be a str.format pattern.*'{:q}'"):
        livefig.LiveColorbar(shown, ax, fmt="{:q}")
    with pytest.raises(TypeError, match="fmt must be a str.format pattern.*got int 3"):
        livefig.LiveColorbar(shown, ax, fmt=3)
    with pytest.raises(TypeError, match="ticks must be an int, got bool True"):
        livefig.LiveColorbar(shown, ax, ticks=True)
