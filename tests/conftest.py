"""Fixtures shared by the package tests (the root conftest.py sets the environment)."""

from collections.abc import Callable

import numpy as np
import pytest


def _pixels(fig) -> np.ndarray:
    return np.asarray(fig.canvas.buffer_rgba()).copy()


@pytest.fixture
def same_as_full_draw() -> Callable:
    """``check(fig, change)``: after ``change()`` (a control moved, so the widget redraws only what
    changed), the canvas holds exactly the pixels a full render of the same state gives.

    This is what proves a blitting widget never leaves a stale pixel behind. It also returns how
    many pixels the change altered, so a test can assert the picture did change.
    """

    def check(fig, change: Callable[[], None]) -> int:
        fig.canvas.draw()
        before = _pixels(fig)
        change()
        updated = _pixels(fig)
        fig.canvas.draw()  # the authority: matplotlib renders everything again
        full = _pixels(fig)
        mismatch = np.argwhere((updated != full).any(-1))
        assert mismatch.size == 0, (
            f"{len(mismatch)} pixels differ from a full redraw, first at (row, col) {mismatch[0]}"
        )
        return int((updated != before).any(-1).sum())

    return check
