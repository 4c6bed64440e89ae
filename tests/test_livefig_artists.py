"""Tests for cvcourse.livefig.artists: LiveArtists (blitting) leaves exactly a full draw's pixels."""

import io

import numpy as np
import pytest
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from PIL import Image

from cvcourse import livefig


def _decode(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))


def _line_figure():
    fig, ax, canvas = livefig.interactive_figure(figsize=(3, 2))
    x = np.linspace(0, 6, 50)
    ax.set(xlim=(0, 6), ylim=(-1.1, 1.1), title="sine", xlabel="x", ylabel="y")
    (line,) = ax.plot(x, np.sin(x))
    canvas.syncing_data_url = False  # as once a browser front end is attached
    return fig, ax, line, x


def test_live_artists_blit_equals_a_full_draw(same_as_full_draw):
    fig, ax, line, x = _line_figure()
    live = livefig.LiveArtists(fig, [line, ax.title])
    assert line.get_animated() and ax.title.get_animated()

    def change():
        line.set_ydata(np.cos(x))
        ax.set_title("cosine, a longer title")
        live.redraw()

    assert same_as_full_draw(fig, change) > 0


def test_live_artists_on_images_and_a_whole_axes(same_as_full_draw):
    fig, (ax_img, ax_plot), _ = livefig.interactive_figure(figsize=(5, 2.5), ncols=2)
    rng = np.random.default_rng(0)
    shown = ax_img.imshow(rng.random((8, 8)), vmin=0, vmax=1)
    ax_plot.plot([0, 1], [0, 1])
    live = livefig.LiveArtists(fig, [shown, ax_plot])

    def change():
        shown.set_data(rng.random((8, 8)))
        ax_plot.set_ylim(-5, 5)  # new ticks: fine, the whole axes is redrawn
        live.redraw()

    assert same_as_full_draw(fig, change) > 0


def test_live_artists_survive_a_new_pixel_size_and_saving(tmp_path):
    fig, ax, line, x = _line_figure()
    live = livefig.LiveArtists(fig, [line])
    live.redraw()  # no background yet: a full draw
    fig.set_dpi(2 * fig.get_dpi())  # what a browser with devicePixelRatio 2 asks for
    line.set_ydata(np.cos(x))
    live.redraw()  # the background is the old size: must render in full, not paste it
    full = np.asarray(fig.canvas.buffer_rgba()).copy()
    fig.canvas.draw()
    np.testing.assert_array_equal(full, np.asarray(fig.canvas.buffer_rgba()))
    fig.set_dpi(fig.get_dpi() / 2)
    # Saving draws the animated artists too, though savefig skips animated artists by itself.
    path = tmp_path / "saved.png"
    fig.savefig(path)
    line.set_visible(False)
    fig.savefig(tmp_path / "without.png")
    assert (_decode(path.read_bytes()) != _decode((tmp_path / "without.png").read_bytes())).any()


def test_live_artists_replacing_the_list_unmarks_the_old_ones():
    fig, ax, line, x = _line_figure()
    (other,) = ax.plot(x, np.cos(x))
    live = livefig.LiveArtists(fig, [line])
    live.artists = [other]
    assert other.get_animated() and not line.get_animated() and live.artists == [other]


def test_live_artists_bad_input():
    fig, ax, line, _ = _line_figure()
    with pytest.raises(TypeError, match="fig must be a matplotlib Figure, got Line2D"):
        livefig.LiveArtists(line, [line])
    with pytest.raises(TypeError, match=r"artists\[1\] must be a matplotlib Artist, got str 'title'"):
        livefig.LiveArtists(fig, [line, "title"])
    svg = Figure()
    FigureCanvasSVG(svg)
    with pytest.raises(ValueError, match="Agg-based.*FigureCanvasSVG"):
        livefig.LiveArtists(svg, [])


def test_kept_backgrounds_by_key_equal_a_full_draw(same_as_full_draw):
    fig, ax, line, x = _line_figure()
    live = livefig.LiveArtists(fig, [line])
    draws = []
    fig.canvas.mpl_connect("draw_event", lambda event: draws.append(event))
    ax.set_facecolor("white")
    live.redraw(full=True, key="white")
    ax.set_facecolor("lavender")  # outside the artists: a new key
    live.prerender("lavender")  # rendered ahead, nothing sent
    assert len(draws) == 2
    ax.set_facecolor("white")

    def back_to_white():
        line.set_ydata(np.cos(x))
        live.redraw(full=True, key="white")  # kept: restored, not rendered

    n = len(draws)
    assert same_as_full_draw(fig, back_to_white) > 0
    assert len(draws) == n + 2  # only the fixture's own two full draws
    with pytest.raises(ValueError, match="key"):
        live.prerender(None)


def test_kept_backgrounds_are_bounded_and_dropped_on_a_new_pixel_size():
    fig, ax, line, _ = _line_figure()
    live = livefig.LiveArtists(fig, [line])
    for k in range(live.MAX_BACKGROUNDS + 3):
        live.prerender(k)
    assert list(live._backgrounds) == list(range(3, live.MAX_BACKGROUNDS + 3))  # oldest dropped
    fig.set_dpi(2 * fig.get_dpi())
    live.redraw(full=True, key=5)  # a background of the old size must not be pasted
    assert list(live._backgrounds) == [5]
