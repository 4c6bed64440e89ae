"""Tests for cvcourse.livefig: the fast PNG canvas, layout freezing, redraw and LiveArtists."""

import io

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.backends.backend_webagg_core import FigureCanvasWebAggCore
from matplotlib.figure import Figure
from PIL import Image

from cvcourse import livefig, viz


def _decode(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))


def _line_figure():
    fig, ax, canvas = livefig.interactive_figure(figsize=(3, 2))
    x = np.linspace(0, 6, 50)
    ax.set(xlim=(0, 6), ylim=(-1.1, 1.1), title="sine", xlabel="x", ylabel="y")
    (line,) = ax.plot(x, np.sin(x))
    canvas.syncing_data_url = False  # as once a browser front end is attached
    return fig, ax, line, x


def test_viz_reexports_the_live_figure_api():
    assert viz.interactive_figure is livefig.interactive_figure
    assert viz.LiveArtists is livefig.LiveArtists and viz.redraw is livefig.redraw
    assert viz.LiveColorbar is livefig.LiveColorbar


def test_frames_are_whole_and_decode_to_the_same_pixels_as_matplotlibs_encoder():
    # The authority is FigureCanvasWebAggCore.get_diff_image asked for a full frame, on an
    # identical canvas state. Ours is always a full frame, also where matplotlib would send a diff
    # (a lost diff frame leaves stale pixels in the browser; see LiveCanvas.get_diff_image).
    fig, ax, line, x = _line_figure()
    canvas = fig.canvas
    canvas.draw()  # sends the first frame
    line.set_ydata(np.cos(x))
    FigureCanvasAgg.draw(canvas)  # renders the next frame without sending it
    canvas._png_is_old = True
    ours = canvas.get_diff_image()
    assert canvas._current_image_mode == "full"
    canvas._force_full, canvas._png_is_old = True, True
    theirs = FigureCanvasWebAggCore.get_diff_image(canvas)
    np.testing.assert_array_equal(_decode(ours), _decode(theirs))
    np.testing.assert_array_equal(_decode(ours), np.asarray(canvas.buffer_rgba()))
    # what ipympl mirrors into the notebook before a browser view exists is this frame too
    np.testing.assert_array_equal(canvas._last_buff.view(np.uint8).reshape(_decode(ours).shape),
                                  _decode(ours))
    canvas._png_is_old = False
    assert canvas.get_diff_image() is None  # nothing new to send


def test_a_lost_frame_leaves_no_stale_pixels():
    # The browser view keeps only the newest of frames that arrive back to back. Draw only the
    # last of three frames, as it would: the picture must equal the figure.
    fig, ax, line, x = _line_figure()
    frames = []
    fig.canvas.send = lambda content, buffers=None: buffers and frames.append(bytes(buffers[0]))
    for k in (1, 2, 3):
        line.set_ydata(np.sin(k * x))
        livefig.redraw(fig)
    assert len(frames) == 3
    np.testing.assert_array_equal(_decode(frames[-1]), np.asarray(fig.canvas.buffer_rgba()))


def test_first_draw_freezes_layout_and_titles_but_not_axis_labels():
    fig, ax, line, _ = _line_figure()
    assert fig.get_layout_engine() is not None and ax._autotitlepos
    fig.canvas.draw()
    assert ax._autotitlepos is False  # no tick labels above the axes: the title cannot move
    position = ax.get_position().bounds
    ax.set_yticks([-1, 0, 1], ["minus one", "zero", "one"])  # wider tick labels
    before = ax.yaxis.label.get_position()
    fig.canvas.draw()
    assert ax.get_position().bounds == position  # the layout is kept
    assert ax.yaxis.label.get_position() != before  # the y label moved away from the wider ticks


def test_redraw_renders_and_checks_its_argument():
    fig, ax, line, x = _line_figure()
    fig.canvas.draw()
    before = np.asarray(fig.canvas.buffer_rgba()).copy()
    line.set_ydata(-np.sin(x))
    livefig.redraw(fig)
    assert (np.asarray(fig.canvas.buffer_rgba()) != before).any()
    with pytest.raises(TypeError, match="fig"):
        livefig.redraw(ax)


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
    with pytest.raises(TypeError, match="artists must be matplotlib Artists, got str"):
        livefig.LiveArtists(fig, [line, "title"])
    svg = Figure()
    FigureCanvasSVG(svg)
    with pytest.raises(ValueError, match="Agg-based.*FigureCanvasSVG"):
        livefig.LiveArtists(svg, [])


def test_frames_wait_for_the_browser_view_then_go_straight_out():
    fig, ax, canvas = livefig.interactive_figure(figsize=(3, 2))
    sent = []
    canvas.send = lambda content, buffers=None: sent.append(content["data"])
    (line,) = ax.plot([0, 1], [0, 1])
    live = livefig.LiveArtists(fig, [line])
    # No view yet (a later cell of "Run All" moves a control before the browser has drawn the
    # widget): render here, and ask the browser to fetch the frame when ready; never push one.
    livefig.redraw(fig)
    live.redraw()  # the blitting path
    assert sent == ['{"type": "draw"}'] * 2
    assert (np.asarray(canvas.buffer_rgba())[..., :3] < 255).any()  # rendered all the same
    canvas._handle_message(canvas, {"type": "initialized"}, [])  # what the view says when ready
    for call in (lambda: livefig.redraw(fig), live.redraw):
        sent.clear()
        call()
        assert sent[-1] == '{"type": "binary"}'  # sent at once, no round trip


def test_relayout_makes_room_once_then_keeps_the_layout():
    fig, ax, line, _ = _line_figure()
    fig.canvas.draw()
    left = ax.get_position().x0
    ax.set_yticks([-1, 0, 1], ["a much longer label", "zero", "one"])
    fig.canvas.draw()
    assert ax.get_position().x0 == left  # frozen: the long label may not fit
    livefig.relayout(fig)
    fig.canvas.draw()
    assert ax.get_position().x0 > left  # solved again, with room for the label
    assert fig.get_layout_engine().__class__.__name__ == "PlaceHolderLayoutEngine"  # kept again
    with pytest.raises(TypeError, match="fig"):
        livefig.relayout(ax)


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
    bar = livefig.LiveColorbar(shown, ax, ticks=5, fmt="{:.3f}", label="weight",
                               orientation=orientation)
    low, high = ref_shown.get_clim()
    ref = ref_fig.colorbar(ref_shown, ax=ref_ax, orientation=orientation,
                           ticks=np.linspace(low, high, 5), format="%.3f")
    ref.set_label("weight")
    return fig, shown, bar, ref_fig


@pytest.mark.parametrize("orientation", ["vertical", "horizontal"])
def test_live_colorbar_looks_like_matplotlibs_colorbar(orientation):
    heat = np.random.default_rng(0).random((8, 8)) * 0.3
    fig, shown, bar, ref_fig = _colorbar_pair(heat, orientation)
    assert [t.get_text() for t in bar.labels] == [
        f"{v:.3f}" for v in np.linspace(heat.min(), heat.max(), 5)]
    fig.canvas.draw()
    ref_fig.canvas.draw()
    np.testing.assert_array_equal(np.asarray(fig.canvas.buffer_rgba()),
                                  np.asarray(ref_fig.canvas.buffer_rgba()))


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
        f"{v:.2f}" for v in (new.min(), (new.min() + new.max()) / 2, new.max())]
    # the bar itself (its colours and ticks) was not drawn again: same pixels inside its axes
    np.testing.assert_array_equal(np.asarray(bar_pixels),
                                  np.asarray(fig.canvas.copy_from_bbox(bar.colorbar.ax.bbox)))
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


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (5, 1), (37, 53)])
def test_encode_png_decodes_to_the_same_pixels_with_pil(shape):
    rng = np.random.default_rng(sum(shape))
    random = rng.integers(0, 256, (*shape, 4), dtype=np.uint8)
    smooth = np.zeros((*shape, 4), np.uint8)
    smooth[..., 0] = np.arange(shape[0])[:, None] * 7  # rows that differ: "Up" does work
    smooth[..., 3] = 255
    for pixels in (random, smooth, np.zeros((*shape, 4), np.uint8), np.full((*shape, 4), 255, np.uint8)):
        png = livefig.encode_png(pixels)
        decoded = Image.open(io.BytesIO(png))
        assert decoded.mode == "RGBA" and decoded.size == (shape[1], shape[0])
        np.testing.assert_array_equal(np.asarray(decoded), pixels)


def test_encode_png_is_no_larger_than_pils_on_a_figure():
    fig, ax, line, x = _line_figure()
    ax.imshow(np.random.default_rng(0).random((16, 16)), extent=(0, 6, -1, 1), aspect="auto")
    fig.canvas.draw()
    pixels = np.asarray(fig.canvas.buffer_rgba())
    with io.BytesIO() as buffer:
        Image.fromarray(pixels).save(buffer, format="png", compress_level=livefig.PNG_COMPRESS_LEVEL)
        pils = len(buffer.getvalue())
    assert len(livefig.encode_png(pixels)) <= 1.1 * pils


def test_encode_png_bad_input():
    with pytest.raises(ValueError, match=r"pixels must be a uint8 ndarray of shape \[H, W, 4\].*float64"):
        livefig.encode_png(np.zeros((2, 2, 4)))
    with pytest.raises(ValueError, match=r"pixels must be .*got uint8 \(2, 2, 3\)"):
        livefig.encode_png(np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(ValueError, match=r"pixels must be .*got uint8 \(0, 2, 4\)"):
        livefig.encode_png(np.zeros((0, 2, 4), np.uint8))
    with pytest.raises(ValueError, match="pixels must be .*got list"):
        livefig.encode_png([[0, 0, 0, 0]])
    with pytest.raises(ValueError, match=r"level must be a zlib level, an int in \[0, 9\], got 10"):
        livefig.encode_png(np.zeros((2, 2, 4), np.uint8), level=10)
