"""Fixtures for the browser tests: one JupyterLab server and one Chromium for the whole session.

The tests are marked ``e2e`` and skipped, with the reason, when ``/usr/bin/chromium`` or the
``playwright`` package is missing. Screenshots and a JSON report go to ``artifacts/e2e/``.
"""

from __future__ import annotations

import json
import tempfile
from typing import Any

import pytest
from e2e_harness import (
    ARTIFACTS,
    LATENCY_TARGET_MS,
    JupyterLab,
    launch_browser,
    playwright_missing_reason,
)

SKIP_REASON = playwright_missing_reason()
_REPORT: dict[str, Any] = {}


@pytest.fixture(scope="session")
def lab():
    """``jupyter lab`` serving ``notebooks/`` on 127.0.0.1 with a token and CVCOURSE_FAST=1."""
    if SKIP_REASON:
        pytest.skip(SKIP_REASON)
    with JupyterLab() as server:
        yield server


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium (fresh profile) driven by Playwright, as a browser context."""
    if SKIP_REASON:
        pytest.skip(SKIP_REASON)
    from playwright.sync_api import sync_playwright

    with (
        sync_playwright() as playwright,
        tempfile.TemporaryDirectory(prefix="cvcourse-e2e-chromium-") as profile,
    ):
        context = launch_browser(playwright, profile)
        yield context
        context.close()


@pytest.fixture(scope="session")
def e2e_report() -> dict[str, Any]:
    """Per-notebook results, written to artifacts/e2e/report.json and summarised after the run."""
    return _REPORT


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not _REPORT:
        return
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "report.json").write_text(json.dumps(_REPORT, indent=2, default=str))
    write = terminalreporter.write_line
    terminalreporter.section("e2e: notebooks in the browser")
    write(
        f"{'notebook':<28} {'run all s':>9} {'widgets':>7}  "
        f"control -> picture ms (target {LATENCY_TARGET_MS:.0f})"
    )
    for name, entry in _REPORT.items():
        moves = ", ".join(
            f"#{m['index']} {m['control']} {m['label']!r} "
            + (f"{m['latency_ms']:.0f}" if m["latency_ms"] is not None else "NO CHANGE")
            for m in entry["moves"]
        )
        write(f"{name:<28} {entry['seconds']:>9.1f} {entry['widget_outputs']:>7}  {moves or '-'}")
    write(f"screenshots: {ARTIFACTS}/<notebook>/page_*.png, widgetNN_before/after.png")
