"""Tests for cvcourse.livefig.canvas: whole frames, layout freezing, redraw, and the public path
taken (with one warning) where matplotlib/ipympl lack an internal livefig relies on."""

import io
import warnings

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_webagg_core import FigureCanvasWebAggCore
from PIL import Image

from cvcourse import livefig, viz
from cvcourse.livefig import _private


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
    np.testing.assert_array_equal(
        canvas._last_buff.view(np.uint8).reshape(_decode(ours).shape), _decode(ours)
    )
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


def test_interactive_figure_bad_input():
    with pytest.raises(TypeError, match="figsize must be \\(width, height\\) in inches, got str"):
        livefig.interactive_figure(figsize="big")
    with pytest.raises(ValueError, match="figsize must be \\(width, height\\) in inches, got 3 values"):
        livefig.interactive_figure(figsize=(1, 2, 3))
    with pytest.raises(ValueError, match="figsize\\[1\\] must be a number > 0, got 0.0"):
        livefig.interactive_figure(figsize=(3, 0))
    with pytest.raises(TypeError, match="nrows must be an int, got float 2.0"):
        livefig.interactive_figure(nrows=2.0)
    with pytest.raises(ValueError, match="ncols must be an int >= 1, got 0"):
        livefig.interactive_figure(ncols=0)


# ----------------------------------------------------------------- without matplotlib's internals
# A release that renames an internal livefig relies on is simulated by adding to the names it
# checks one that no object has: from livefig's side, the attribute is gone.


@pytest.fixture
def fresh_process(monkeypatch):
    """As in a process that has not warned yet (the warning is shown once per process)."""
    monkeypatch.setattr(_private, "_warned", False)


def _browser_view(canvas):
    """Record what the canvas sends: "draw" requests and binary frames (decoded)."""
    sent = []
    canvas.send = lambda content, buffers=None: sent.append(
        _decode(bytes(buffers[0])) if buffers else content["data"]
    )
    return sent


def test_without_the_canvas_internals_frames_are_requested_with_draw_idle(
    monkeypatch, fresh_process, same_as_full_draw
):
    monkeypatch.setattr(_private, "CANVAS_INTERNALS", (*_private.CANVAS_INTERNALS, "_renamed_frame_flag"))
    with pytest.warns(livefig.LiveFigureWarning, match="_renamed_frame_flag.*draw_idle") as record:
        fig, ax, line, x = _line_figure()  # warns here, while the widget is built
        live = livefig.LiveArtists(fig, [line])
        sent = _browser_view(fig.canvas)
        line.set_ydata(np.cos(x))
        livefig.redraw(fig)
        assert sent == ['{"type": "draw"}']  # the public path: the browser is asked to fetch it
        sent.clear()
        fig.canvas._handle_message(fig.canvas, {"type": "draw"}, [])  # the browser fetches it
        assert len(sent) == 1 and not isinstance(sent[0], str)  # one frame, matplotlib's own

        def change():
            sent.clear()
            line.set_ydata(np.sin(2 * x))
            live.redraw()
            assert sent == ['{"type": "draw"}']

        assert same_as_full_draw(fig, change) > 0  # the picture is still right
    assert len(record) == 1  # one warning, however many redraws took the slow path


def test_the_public_path_frame_is_matplotlibs_and_shows_the_figure(monkeypatch, fresh_process):
    monkeypatch.setattr(_private, "CANVAS_INTERNALS", ("_renamed_frame_flag",))
    with pytest.warns(livefig.LiveFigureWarning):
        fig, ax, line, x = _line_figure()
    canvas = fig.canvas
    FigureCanvasAgg.draw(canvas)
    canvas._force_full, canvas._png_is_old = True, True
    ours = canvas.get_diff_image()  # LiveCanvas hands over to matplotlib's get_diff_image
    canvas._force_full, canvas._png_is_old = True, True
    theirs = FigureCanvasWebAggCore.get_diff_image(canvas)
    assert ours == theirs  # byte for byte: PIL's encoder, not ours
    np.testing.assert_array_equal(_decode(ours), np.asarray(canvas.buffer_rgba()))


def test_without_the_title_flag_titles_are_placed_on_every_draw(monkeypatch, fresh_process):
    monkeypatch.setattr(_private, "TITLE_FLAG", "_renamed_title_flag")
    fig, ax, line, x = _line_figure()
    with pytest.warns(livefig.LiveFigureWarning, match="_renamed_title_flag.*titles") as record:
        fig.canvas.draw()
        livefig.redraw(fig)
    assert len(record) == 1
    assert ax._autotitlepos  # not touched: matplotlib places the title itself
    assert not hasattr(ax, "_renamed_title_flag")
    assert fig.get_layout_engine().__class__.__name__ == "PlaceHolderLayoutEngine"  # still frozen


def test_with_every_internal_there_is_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error", livefig.LiveFigureWarning)
        fig, ax, line, x = _line_figure()
        livefig.LiveArtists(fig, [line]).redraw()
        livefig.redraw(fig)


def test_a_size_that_is_not_whole_pixels_is_refused():
    """4.6 in at 100 dpi is 459.99999999999994 px: the browser's canvas would keep 459 rows of the
    kernel's 460 and never show a whole frame (chapter 4a's PR explorer did)."""
    from cvcourse.livefig import interactive_figure

    with pytest.raises(ValueError, match=r"figsize\[1\] must be a whole number of pixels.*4.6 in"):
        interactive_figure(figsize=(9.6, 4.6))
    fig, _, _ = interactive_figure(figsize=(9.6, 5.2))
    assert fig.canvas.get_width_height() == (960, 520)
