"""Plotting shared by every chapter: image grids, boxes, masks, heatmaps and live widget figures.

Every chapter draws the same few things: a grid of images, boxes in ``(x1, y1, x2, y2)`` format on
top of an image, a binary / semantic / instance / panoptic mask over an image, a heatmap (attention,
class activation, disparity) over an image. They live here once so that every notebook looks alike.

Two kinds of figure:

* static figures (``show_images``) are ordinary pyplot figures: in a notebook with
  ``%matplotlib inline`` they show at the end of the cell (assign the result,
  ``fig = show_images(...)``, so that it is not shown twice);
* ``interactive_figure`` builds a figure whose canvas is an ipympl widget whatever the notebook's
  backend, so a widget can update artists in place (``line.set_data(...)``, then ``redraw(fig)``,
  or ``LiveArtists`` to redraw only what changed) and the picture changes at once; see
  ``cvcourse.livefig`` for what an update costs and why.

``projector()`` is a style with large fonts for lectures.

The package, one idea per module: ``style`` (projector fonts, palette, titled axes, round limits),
``images`` (tensors and arrays as pictures, image grids, heatmaps), ``annotations`` (boxes, masks,
panoptic maps); the live figures are ``cvcourse.livefig``'s, re-exported here.
"""

from cvcourse.livefig import LiveArtists, LiveColorbar, interactive_figure, redraw, relayout
from cvcourse.viz.annotations import draw_boxes, overlay_mask, overlay_panoptic
from cvcourse.viz.images import show_heatmap, show_images, to_image
from cvcourse.viz.style import PROJECTOR_RC, nice_ceil, palette, projector, style_axes

__all__ = [
    "PROJECTOR_RC",
    "draw_boxes",
    "LiveArtists",
    "LiveColorbar",
    "interactive_figure",
    "nice_ceil",
    "overlay_mask",
    "overlay_panoptic",
    "palette",
    "projector",
    "redraw",
    "relayout",
    "show_heatmap",
    "show_images",
    "style_axes",
    "to_image",
]
