"""Chapter 0, the welcome notebook (``notebooks/00_welcome``): its environment check and first widget.

* ``environment``: ``environment_report()``, versions, device and a health check of this install;
* ``widgets``: ``filter_explorer()``, the course's first widget, over the pure ``filter_image``.

``from cvcourse.welcome import ...`` works as it did when this was one module.
"""

from cvcourse.welcome.environment import environment_report
from cvcourse.welcome.widgets import FILTERS, filter_explorer, filter_image

__all__ = ["FILTERS", "environment_report", "filter_explorer", "filter_image"]
