"""Tests for cvcourse.viz: the artists each helper adds, input validation, the ipympl canvas."""

import warnings

import ipywidgets as widgets
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.patches import Rectangle

from cvcourse import viz


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def ax():
    _, ax = plt.subplots()
    return ax


# ----------------------------------------------------------------------------- interactive_figure


def test_interactive_figure_is_an_ipympl_widget_and_keeps_the_backend():
    from ipympl.backend_nbagg import Canvas

    backend = matplotlib.get_backend()
    fig, ax, canvas = viz.interactive_figure(figsize=(3, 2))
    assert matplotlib.get_backend() == backend  # importing ipympl must not switch the backend
    assert isinstance(canvas, Canvas) and isinstance(canvas, widgets.DOMWidget)
    assert fig.canvas is canvas and ax.figure is fig
    assert not canvas.header_visible and not canvas.toolbar_visible
    assert fig not in [plt.figure(n) for n in plt.get_fignums()]  # not registered with pyplot
    box = widgets.VBox([widgets.FloatSlider(description="a"), canvas])
    assert box.children[1] is canvas


def test_interactive_figure_warns_nothing():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        viz.interactive_figure()


def test_interactive_figure_updates_in_place_headless():
    fig, ax, canvas = viz.interactive_figure(figsize=(3, 2))
    (line,) = ax.plot([0, 1, 2], [0, 1, 0])
    ax.set_ylim(-1, 1)
    canvas.draw()
    before = np.asarray(canvas.buffer_rgba()).copy()
    line.set_data([0, 1, 2], [0, -1, 0])
    fig.canvas.draw_idle()  # what a widget callback calls; must not raise without a kernel
    canvas.draw()
    after = np.asarray(canvas.buffer_rgba())
    np.testing.assert_array_equal(line.get_ydata(), [0, -1, 0])
    assert (before != after).any()
    assert len(ax.lines) == 1  # updated, not redrawn as a second line


def test_interactive_figure_grid_and_subplot_kw():
    fig, axes, _ = viz.interactive_figure(nrows=2, ncols=3)
    assert axes.shape == (2, 3)
    fig, ax, _ = viz.interactive_figure(projection="polar")
    assert ax.name == "polar"


@pytest.mark.parametrize(
    "kwargs, error, word",
    [
        ({"figsize": (0, 3)}, ValueError, "figsize"),
        ({"figsize": 4}, TypeError, "figsize"),
        ({"nrows": 0}, ValueError, "nrows"),
        ({"ncols": 1.5}, TypeError, "ncols"),
    ],
)
def test_interactive_figure_rejects_bad_arguments(kwargs, error, word):
    with pytest.raises(error, match=word):
        viz.interactive_figure(**kwargs)


# ----------------------------------------------------------------------------- images


def test_to_image_layouts():
    chw = torch.rand(3, 5, 7)
    np.testing.assert_allclose(viz.to_image(chw), chw.permute(1, 2, 0).numpy())
    hwc = np.random.rand(5, 7, 3)
    np.testing.assert_array_equal(viz.to_image(hwc), hwc)
    assert viz.to_image(torch.rand(1, 5, 7)).shape == (5, 7)
    assert viz.to_image(np.zeros((5, 7), np.uint8)).dtype == np.uint8
    # A 3 x 3 x 3 tensor is [C, H, W] (torch's layout), a 3 x 3 x 3 array [H, W, C].
    cube = np.arange(27, dtype=np.float64).reshape(3, 3, 3) / 27
    np.testing.assert_array_equal(viz.to_image(torch.from_numpy(cube)), np.moveaxis(cube, 0, -1))
    np.testing.assert_array_equal(viz.to_image(cube), cube)
    # Colour floats are clipped into [0, 1].
    assert viz.to_image(torch.full((3, 2, 2), 2.0)).max() == 1.0


@pytest.mark.parametrize(
    "bad, error",
    [
        (torch.rand(5, 5, 5), ValueError),
        (torch.rand(2, 3, 4, 4), ValueError),
        ([[0.0]], TypeError),
    ],
)
def test_to_image_rejects_bad_images(bad, error):
    with pytest.raises(error, match="image"):
        viz.to_image(bad)


def test_show_images_grid_titles():
    images = [torch.rand(3, 8, 8) for _ in range(5)] + [np.zeros((8, 8), np.uint8)]
    fig = viz.show_images(images, titles=list("abcdef"), ncols=4, suptitle="six images")
    axes = fig.axes
    assert len(axes) == 8  # 2 rows x 4 columns, two left empty
    assert [ax.get_title() for ax in axes[:6]] == list("abcdef")
    assert sum(len(ax.images) for ax in axes) == 6
    assert fig._suptitle.get_text() == "six images"
    assert axes[5].images[0].get_cmap().name == "gray"


def test_show_images_grey_scales():
    dark_uint8 = np.full((4, 4), 10, np.uint8)
    dark_float = np.full((4, 4), 0.1)
    depth = np.linspace(2.0, 7.0, 16).reshape(4, 4)
    fig = viz.show_images([dark_uint8, dark_float, depth], cmap="viridis")
    limits = [ax.images[0].get_clim() for ax in fig.axes]
    assert limits == [(0, 255), (0.0, 1.0), (2.0, 7.0)]  # the last one stretched to its range
    assert fig.axes[2].images[0].get_cmap().name == "viridis"


def test_show_images_accepts_a_batch():
    fig = viz.show_images(torch.rand(3, 1, 8, 8))
    assert len(fig.axes) == 3 and all(len(ax.images) == 1 for ax in fig.axes)


@pytest.mark.parametrize(
    "kwargs, error, word",
    [
        ({"images": []}, ValueError, "images"),
        ({"images": "cat.png"}, TypeError, "images"),
        ({"images": torch.rand(8, 8)}, ValueError, "images"),
        ({"images": [torch.rand(3, 4, 4)], "titles": ["a", "b"]}, ValueError, "titles"),
        ({"images": [torch.rand(3, 4, 4)], "ncols": 0}, ValueError, "ncols"),
    ],
)
def test_show_images_rejects_bad_arguments(kwargs, error, word):
    with pytest.raises(error, match=word):
        viz.show_images(**kwargs)


def test_style_axes(ax):
    assert viz.style_axes(ax, "loss", "epoch", "value", grid=True) is ax
    assert (ax.get_title(), ax.get_xlabel(), ax.get_ylabel()) == ("loss", "epoch", "value")
    with pytest.raises(ValueError, match="title"):
        viz.style_axes(ax, "")
    with pytest.raises(TypeError, match="ax"):
        viz.style_axes(None, "t")


def test_projector_style_is_scoped():
    size = matplotlib.rcParams["font.size"]
    with viz.projector():
        assert matplotlib.rcParams["font.size"] == viz.PROJECTOR_RC["font.size"]
    assert matplotlib.rcParams["font.size"] == size


def test_palette():
    for n in (0, 1, 10, 11, 25):
        colors = viz.palette(n)
        assert len(colors) == n and len(set(colors)) == n
    with pytest.raises(ValueError, match="n"):
        viz.palette(-1)


# ----------------------------------------------------------------------------- boxes


def test_draw_boxes_one_rectangle_per_box(ax):
    boxes = torch.tensor([[1.0, 2.0, 5.0, 9.0], [0.0, 0.0, 3.0, 3.0], [2.0, 2.0, 2.0, 2.0]])
    patches = viz.draw_boxes(
        ax,
        boxes,
        labels=torch.tensor([1, 2, 1]),
        scores=torch.tensor([0.9, 0.25, 0.5]),
        class_names=("background", "circle", "square"),
    )
    rects = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(patches) == len(rects) == 3
    for rect, (x1, y1, x2, y2) in zip(patches, boxes.tolist(), strict=True):
        assert rect.get_xy() == (x1 - 0.5, y1 - 0.5)  # pixel edges in imshow's coordinates
        assert (rect.get_width(), rect.get_height()) == (x2 - x1, y2 - y1)
    assert [t.get_text() for t in ax.texts] == ["circle: 0.90", "square: 0.25", "circle: 0.50"]
    # Same label, same colour; different label, different colour.
    assert patches[0].get_edgecolor() == patches[2].get_edgecolor() != patches[1].get_edgecolor()


def test_draw_boxes_hug_the_mask_pixels(ax):
    # A mask on rows 2..3 and columns 3..5 has the box (3, 2, 6, 4) in pixel-edge coordinates;
    # drawn over imshow's pixels its edges must fall on the mask's outer pixel borders.
    mask = np.zeros((6, 8))
    mask[2:4, 3:6] = 1
    shown = ax.imshow(mask)
    (rect,) = viz.draw_boxes(ax, [[3, 2, 6, 4]])
    left, right, bottom, top = shown.get_extent()  # imshow's extent of the whole image
    pixel = (right - left) / mask.shape[1]
    assert rect.get_x() == left + 3 * pixel and rect.get_x() + rect.get_width() == left + 6 * pixel
    assert rect.get_y() == top + 2 * pixel and rect.get_y() + rect.get_height() == top + 4 * pixel


def test_draw_boxes_empty_and_single_colour(ax):
    assert viz.draw_boxes(ax, torch.zeros(0, 4)) == []
    assert viz.draw_boxes(ax, np.zeros((0,))) == []
    patches = viz.draw_boxes(ax, [[0, 0, 1, 1], [1, 1, 2, 2]], colors="red")
    red = matplotlib.colors.to_rgba("red")
    assert patches[0].get_edgecolor() == patches[1].get_edgecolor() == red
    assert len(ax.texts) == 0  # no labels, no scores: no tags


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"boxes": torch.zeros(2, 3)}, "boxes"),
        ({"boxes": torch.tensor([[5.0, 0.0, 1.0, 1.0]])}, "x1 <= x2"),
        ({"boxes": torch.zeros(2, 4), "labels": torch.tensor([1])}, "labels"),
        ({"boxes": torch.zeros(2, 4), "scores": [0.5]}, "scores"),
        ({"boxes": torch.zeros(1, 4), "labels": [3], "class_names": ("bg", "a")}, "class_names"),
    ],
)
def test_draw_boxes_rejects_bad_arguments(ax, kwargs, word):
    with pytest.raises(ValueError, match=word):
        viz.draw_boxes(ax, **kwargs)


# ----------------------------------------------------------------------------- masks and heatmaps


def test_overlay_binary_mask(ax):
    mask = torch.zeros(6, 8, dtype=torch.bool)
    mask[2:4, 3:6] = True
    overlay = viz.overlay_mask(ax, torch.rand(3, 6, 8), mask, alpha=0.4)
    rgba = overlay.get_array()
    assert rgba.shape == (6, 8, 4) and len(ax.images) == 2
    np.testing.assert_allclose(rgba[..., 3], 0.4 * mask.numpy())


def test_overlay_semantic_mask_background_transparent(ax):
    mask = np.array([[0, 1, 2], [2, 1, 0]])
    rgba = viz.overlay_mask(ax, None, mask, alpha=1.0).get_array()
    np.testing.assert_array_equal(rgba[..., 3], mask != 0)
    np.testing.assert_array_equal(rgba[0, 1], rgba[1, 1])  # same class, same colour
    assert (rgba[0, 1] != rgba[0, 2]).any()
    rgba = viz.overlay_mask(ax, None, mask, alpha=1.0, background=None).get_array()
    assert (rgba[..., 3] == 1).all()


def test_overlay_instance_masks(ax):
    masks = np.zeros((2, 4, 4), dtype=np.uint8)
    masks[0, :2], masks[1, 2:] = 1, 1
    rgba = viz.overlay_mask(ax, np.zeros((4, 4, 3)), masks, alpha=0.5).get_array()
    assert (rgba[..., 3] == 0.5).all()
    assert (rgba[0, 0, :3] != rgba[3, 0, :3]).any()  # two instances, two colours
    np.testing.assert_array_equal(rgba[1, :, :3], np.ones((4, 3)))  # the white line between them
    empty = viz.overlay_mask(ax, None, np.zeros((0, 4, 4))).get_array()  # no instances at all
    assert (empty[..., 3] == 0).all()


@pytest.mark.parametrize(
    "image, mask, word",
    [
        (torch.rand(3, 5, 5), np.zeros((4, 4), int), "cover"),
        (None, np.zeros(4), "mask"),
        (None, np.full((2, 2), 0.5), "0 and 1"),
        (None, np.full((2, 2), -1), ">= 0"),
    ],
)
def test_overlay_mask_rejects_bad_arguments(ax, image, mask, word):
    with pytest.raises(ValueError, match=word):
        viz.overlay_mask(ax, image, mask)


def test_overlay_panoptic(ax):
    panoptic = np.zeros((4, 6, 2), dtype=np.int64)
    panoptic[:, :3] = (1, 0)  # "stuff" class 1 on the left
    panoptic[:2, 3:] = (2, 1)  # two instances of class 2 on the right
    panoptic[2:, 3:] = (2, 2)
    rgba = viz.overlay_panoptic(ax, np.zeros((4, 6, 3)), panoptic, alpha=1.0).get_array()
    assert rgba.shape == (4, 6, 4) and (rgba[..., 3] == 1).all()
    assert (rgba[0, 5, :3] != rgba[3, 5, :3]).any()  # instances of one class differ
    np.testing.assert_array_equal(rgba[1, 5, :3], [1, 1, 1])  # border between the two instances
    with pytest.raises(ValueError, match="panoptic"):
        viz.overlay_panoptic(ax, None, np.zeros((4, 6)))


def test_show_heatmap_over_image(ax):
    heat = torch.arange(4.0).reshape(2, 2)
    shown = viz.show_heatmap(ax, heat, image=np.zeros((8, 10, 3)), alpha=0.3, label="attention")
    assert shown.get_extent() == [-0.5, 9.5, 7.5, -0.5]  # stretched over the 10 x 8 image
    assert shown.get_alpha() == 0.3 and len(ax.figure.axes) == 2  # plus the colour bar
    np.testing.assert_array_equal(shown.get_array(), heat.numpy())
    with pytest.raises(ValueError, match="heat"):
        viz.show_heatmap(ax, torch.zeros(0, 3))
    with pytest.raises(ValueError, match="alpha"):
        viz.show_heatmap(ax, heat, alpha=2)


def test_nice_ceil_rounds_up_to_round_multiples():
    assert [viz.nice_ceil(v) for v in (0.3, 1.0, 1.2, 2.4, 3, 7.9, 10.01)] == [
        0.5,
        1.0,
        2.0,
        2.5,
        5.0,
        10.0,
        20.0,
    ]
    steps = (1, 1.5, 2, 3, 4, 5, 6, 8, 10)
    assert [viz.nice_ceil(n, steps) for n in (7, 150, 151, 999)] == [8.0, 150.0, 200.0, 1000.0]
    for bad in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="value must be a .*number"):
            viz.nice_ceil(bad)
    for bad in (True, "3"):
        with pytest.raises(TypeError, match="value must be a real number"):
            viz.nice_ceil(bad)
    with pytest.raises(ValueError, match="multiples"):
        viz.nice_ceil(3.0, (2, 5, 10))


def test_checks_follow_the_one_rule(ax):
    # wrong type -> TypeError, wrong value -> ValueError; the message names the argument and what came in
    with pytest.raises(TypeError, match="n must be an int, got float 2.0"):
        viz.palette(2.0)
    assert len(viz.palette(np.int64(3))) == 3  # a NumPy integer is an int
    with pytest.raises(TypeError, match="title must be a non-empty string, got int 3"):
        viz.style_axes(ax, 3)
    with pytest.raises(TypeError, match="grid must be True or False, got str 'yes'"):
        viz.style_axes(ax, "t", grid="yes")
    with pytest.raises(TypeError, match="ncols must be an int, got float 2.0"):
        viz.show_images([np.zeros((4, 4))], ncols=2.0)
    with pytest.raises(TypeError, match="alpha must be a real number, got str 'half'"):
        viz.show_heatmap(ax, np.eye(2), alpha="half")
    with pytest.raises(ValueError, match="alpha must be a number >= 0.0 and <= 1.0, got 1.5"):
        viz.overlay_mask(ax, None, np.zeros((2, 2), int), alpha=1.5)
    with pytest.raises(ValueError, match="alpha must be a number >= 0.0 and <= 1.0, got -0.1"):
        viz.overlay_panoptic(ax, None, np.zeros((2, 2, 2), int), alpha=-0.1)
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes, got NoneType None"):
        viz.draw_boxes(None, np.zeros((1, 4)))
    with pytest.raises(ValueError, match="linewidth must be a number >= 0.0, got -1.0"):
        viz.draw_boxes(ax, np.zeros((1, 4)), linewidth=-1.0)
    with pytest.raises(TypeError, match="boxes must be a torch.Tensor, ndarray or list, got str 'a'"):
        viz.draw_boxes(ax, "a")


def test_every_public_name_is_importable_from_cvcourse_viz():
    from cvcourse import livefig
    from cvcourse.viz import annotations, images, style

    for name in viz.__all__:
        assert hasattr(viz, name), name
    assert viz.draw_boxes is annotations.draw_boxes and viz.show_images is images.show_images
    assert viz.palette is style.palette and viz.LiveArtists is livefig.LiveArtists
