"""Tests for cvcourse.livefig.png: the PNG encoder of the frames, against PIL's decoder and encoder."""

import io

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from cvcourse import livefig


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
    fig = Figure(figsize=(3, 2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    x = np.linspace(0, 6, 50)
    ax.set(xlim=(0, 6), ylim=(-1.1, 1.1), title="sine", xlabel="x", ylabel="y")
    ax.plot(x, np.sin(x))
    ax.imshow(np.random.default_rng(0).random((16, 16)), extent=(0, 6, -1, 1), aspect="auto")
    fig.canvas.draw()
    pixels = np.asarray(fig.canvas.buffer_rgba())
    with io.BytesIO() as buffer:
        Image.fromarray(pixels).save(buffer, format="png", compress_level=livefig.PNG_COMPRESS_LEVEL)
        pils = len(buffer.getvalue())
    assert len(livefig.encode_png(pixels)) <= 1.1 * pils


def test_encode_png_bad_input():
    # wrong type or dtype: TypeError; wrong shape or level: ValueError; the message names the argument
    with pytest.raises(TypeError, match=r"pixels must be a uint8 ndarray .*, got dtype float64"):
        livefig.encode_png(np.zeros((2, 2, 4)))
    with pytest.raises(TypeError, match=r"pixels must be a uint8 ndarray .*got list"):
        livefig.encode_png([[0, 0, 0, 0]])
    with pytest.raises(ValueError, match=r"pixels must be .*H, W >= 1, got shape \(2, 2, 3\)"):
        livefig.encode_png(np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(ValueError, match=r"pixels must be .*got shape \(0, 2, 4\)"):
        livefig.encode_png(np.zeros((0, 2, 4), np.uint8))
    with pytest.raises(ValueError, match=r"level must be an int >= 0 and <= 9, got 10"):
        livefig.encode_png(np.zeros((2, 2, 4), np.uint8), level=10)
    with pytest.raises(TypeError, match=r"level must be an int, got bool True"):
        livefig.encode_png(np.zeros((2, 2, 4), np.uint8), level=True)
