"""The course in a real browser: JupyterLab + headless Chromium, driven by Playwright.

Used by ``tests/e2e/test_e2e_notebooks.py`` (assertions) and ``benchmarks/bench_widgets_browser.py``
(widget latency table). Nothing here asserts; it starts things, runs notebooks, and measures.

- :class:`e2e_lab.JupyterLab` starts ``jupyter lab`` the way the README launches the course.
- :func:`launch_browser` starts Debian's ``/usr/bin/chromium`` (Playwright's own download does not
  work offline) with a fresh profile.
- :func:`run_notebook` opens a notebook, runs "Restart Kernel and Run All Cells", waits until every
  code cell has an execution count, and returns what a person would see: error outputs, widget
  errors, widget views and ipympl canvases.
- :func:`move_control` moves one control of a widget area (slider, dropdown, toggle, checkbox,
  button) and returns the time from the input event to the changed picture, measured in the page
  with ``performance.now()``: an init script wraps ``CanvasRenderingContext2D.drawImage`` (ipympl
  draws every new frame with it) and a ``MutationObserver`` watches images and text.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from e2e_lab import NOTEBOOKS, REPO, JupyterLab, discover_notebooks  # noqa: F401 (re-exported)

ARTIFACTS = REPO / "artifacts" / "e2e"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
VIEWPORT = {"width": 1280, "height": 800}  # a common projector resolution
LATENCY_TARGET_MS = 150.0

STDERR_MIME = "application/vnd.jupyter.stderr"
WIDGET_ERRORS = (
    "Error displaying widget",
    "Model not found",
    "model not found",
    "Failed to load model class",
    "Error rendering output",
)


def playwright_missing_reason() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} not found (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed (pip install playwright)"
    return None


def launch_browser(playwright: Any, user_data_dir: str, device_scale_factor: float = 1) -> Any:
    """A persistent Chromium context with a fresh profile and the timing hooks installed.

    ``device_scale_factor=2`` is a HiDPI ("Retina") screen: ipympl then renders every figure at
    twice the resolution, four times the pixels.
    """
    context = playwright.chromium.launch_persistent_context(
        user_data_dir,
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_ARGS,
        viewport=VIEWPORT,
        device_scale_factor=device_scale_factor,
    )
    context.add_init_script(_INIT_JS)
    return context


# Runs in every page before JupyterLab: count canvas draws, time-stamp the next input event.
_INIT_JS = """
(() => {
  const P = CanvasRenderingContext2D.prototype;
  for (const name of ['drawImage', 'putImageData']) {
    const original = P[name];
    P[name] = function (...args) {
      const result = original.apply(this, args);
      const c = this.canvas;
      c.__e2eDraws = (c.__e2eDraws || 0) + 1;
      c.__e2eLastDraw = performance.now();
      if (window.__e2eWatch) window.__e2eWatch.onDraw(c);
      return result;
    };
  }
  window.__e2eArmed = false;
  const mark = () => {
    if (window.__e2eArmed) { window.__e2eT0 = performance.now(); window.__e2eArmed = false; }
  };
  for (const t of ['keydown', 'mousedown', 'input', 'change']) {
    window.addEventListener(t, mark, true);
  }
})();
"""

# Installed per widget area: record when its picture (canvases, images, output text) first differs.
_WATCH_JS = """
(root) => {
  if (window.__e2eWatch) window.__e2eWatch.stop();
  const textOf = (r) => [...r.querySelectorAll(
      '.widget-html-content, .widget-output .jp-OutputArea-output')]
      .map(e => e.innerText).join('\\u241e');
  const imgsOf = (r) => [...r.querySelectorAll('img')].map(i => i.src).join('\\u241e');
  const canvases = [...root.querySelectorAll('canvas')].filter(c => c.width > 0 && c.height > 0);
  const before = {text: textOf(root), imgs: imgsOf(root),
                  canvas: canvases.map(c => c.toDataURL())};
  // changedAt: the first visible change of any kind; canvasAt: the first new figure frame.
  const watch = {changedAt: null, how: null, canvasAt: null, canvases: canvases.length};
  const done = (t, how) => {
    if (watch.changedAt === null) { watch.changedAt = t; watch.how = how; }
    if (how === 'canvas' && watch.canvasAt === null) watch.canvasAt = t;
  };
  const pictureShown = () => [...root.querySelectorAll('img')]
      .some(i => i.complete && i.naturalWidth > 0)
      || [...root.querySelectorAll('canvas')].some(c => (c.__e2eDraws || 0) > 0);
  watch.onDraw = (c) => {
    const i = canvases.indexOf(c);
    // A late frame of the previous move (drawn before this input event) is not this move's.
    if (i < 0 || watch.canvasAt !== null || window.__e2eT0 === null) return;
    if (c.toDataURL() !== before.canvas[i]) done(c.__e2eLastDraw, 'canvas');
  };
  const check = () => {
    if (watch.changedAt !== null || window.__e2eT0 === null) return;
    const t = performance.now();
    if (imgsOf(root) !== before.imgs && pictureShown()) done(t, 'img');
    else if (textOf(root) !== before.text) done(t, 'text');
  };
  const observer = new MutationObserver(check);
  observer.observe(root, {subtree: true, childList: true, attributes: true, characterData: true,
                          attributeFilter: ['src']});
  root.addEventListener('load', check, true);  // images added later decode asynchronously
  watch.stop = () => { observer.disconnect(); root.removeEventListener('load', check, true); };
  window.__e2eT0 = null;
  window.__e2eArmed = true;
  window.__e2eWatch = watch;
  return canvases.length;
}
"""

# Snapshot of the notebook after running: prompts, errors, widgets, canvases.
_STATE_JS = """
(stderrMime) => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  const q = (s) => panel ? [...panel.querySelectorAll(s)] : [];
  const prompts = q('.jp-CodeCell').map(c => c.querySelector('.jp-InputPrompt')?.textContent || '');
  return {
    prompts: prompts.map(p => p.trim()),
    stderr: q(`.jp-OutputArea-output[data-mime-type="${stderrMime}"]`)
        .map(e => e.innerText.slice(0, 2000)),
    // JupyterLab renders a widget view as an lm-Panel output without a data-mime-type.
    widgetOutputs: q('.jp-OutputArea-output:not([data-mime-type])').length,
    widgetViews: q('.jp-OutputArea-output .jupyter-widgets')
        .filter(e => e.getBoundingClientRect().height > 0).length,
    // A widget output that takes space but holds no widget view failed to render. (An empty one is
    // a widget closed on purpose, e.g. a finished tqdm bar with leave=False.)
    unrendered: q('.jp-OutputArea-output:not([data-mime-type])')
        .filter(e => e.getBoundingClientRect().height >= 2 && !e.querySelector('.jupyter-widgets'))
        .map(e => e.innerText.slice(0, 200)),
    mplFigures: q('.jupyter-matplotlib').length,
    blankCanvases: q('.jupyter-matplotlib-canvas-div > canvas:first-of-type')
        .filter(c => c.width > 0 && !(c.__e2eDraws > 0)).length,
    text: panel ? panel.innerText : '',
    dialog: !!document.querySelector('.jp-Dialog'),
  };
}
"""


@dataclass
class NotebookRun:
    """What a person sees after "Restart Kernel and Run All Cells"."""

    path: Path
    seconds: float
    prompts: list[str]
    stderr: list[str]
    widget_errors: list[str]
    widget_outputs: int
    widget_views: int
    unrendered: list[str]
    mpl_figures: int
    blank_canvases: int
    timed_out: bool
    screenshots: list[Path] = field(default_factory=list)

    @property
    def unexecuted(self) -> list[int]:
        return [i for i, p in enumerate(self.prompts) if not p.strip("[]:").strip().isdigit()]


def _notebook_panel_ready(page: Any, timeout_ms: float) -> None:
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell", timeout=timeout_ms)
    # The kernel is up when the toolbar names it and the status bar says Idle (JupyterLab 4). A
    # notebook without kernelspec asks which kernel to start: accept the default (Python 3).
    deadline = time.monotonic() + timeout_ms / 1000
    while time.monotonic() < deadline:
        kernel, status, dialog = page.evaluate("""() => [
            document.querySelector('.jp-NotebookPanel .jp-KernelName jp-button')
                ?.getAttribute('aria-label'),
            document.querySelector('#jp-main-statusbar')?.innerText || '',
            !!document.querySelector('.jp-Dialog .jp-mod-accept')]""")
        if dialog:
            page.click(".jp-Dialog .jp-mod-accept")
        elif kernel and kernel != "No Kernel" and re.search(r"\|\s*Idle", status):
            break
        page.wait_for_timeout(250)
    else:
        raise TimeoutError(f"the kernel did not start in {timeout_ms / 1000:.0f} s")
    # A lecture screen: hide the file browser so the notebook gets the width.
    tab = page.query_selector(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
    if tab is not None:
        tab.click()  # Lumino tabs react to pointer events, so a real click


def _dismiss_dialogs(page: Any, timeout_ms: float = 3000) -> None:
    try:
        page.wait_for_selector(".jp-Dialog .jp-mod-accept", timeout=timeout_ms)
        page.click(".jp-Dialog .jp-mod-accept")
    except Exception:  # noqa: BLE001  (no dialog: nothing to dismiss)
        pass


def run_notebook(page: Any, lab: JupyterLab, path: Path, timeout_s: float = 240.0) -> NotebookRun:
    """Open ``path`` in JupyterLab, restart the kernel and run all cells, wait, and report."""
    start = time.monotonic()
    page.goto(lab.notebook_url(path), wait_until="domcontentloaded")
    _notebook_panel_ready(page, timeout_s * 1000)
    # The notebook's own command, as in the menu Kernel > Restart Kernel and Run All Cells.
    button = page.query_selector('.jp-NotebookPanel-toolbar [data-command="notebook:restart-run-all"]')
    if button is not None:
        button.click()
    else:
        _menu_restart_run_all(page)
    _dismiss_dialogs(page)
    deadline, state, timed_out = time.monotonic() + timeout_s, None, False
    page.wait_for_timeout(500)
    while True:
        state = page.evaluate(_STATE_JS, STDERR_MIME)
        running = any("*" in p for p in state["prompts"])
        done = all(p.strip("[]:").strip().isdigit() for p in state["prompts"])
        if (done or state["stderr"] and not running) and not running:
            break
        if time.monotonic() > deadline:
            timed_out = True
            break
        page.wait_for_timeout(300)
    _wait_widgets_drawn(page)
    state = page.evaluate(_STATE_JS, STDERR_MIME)
    errors = [line for line in state["text"].splitlines() if any(w in line for w in WIDGET_ERRORS)]
    return NotebookRun(
        path=path,
        seconds=time.monotonic() - start,
        prompts=state["prompts"],
        stderr=state["stderr"],
        widget_errors=errors,
        widget_outputs=state["widgetOutputs"],
        widget_views=state["widgetViews"],
        unrendered=state["unrendered"],
        mpl_figures=state["mplFigures"],
        blank_canvases=state["blankCanvases"],
        timed_out=timed_out,
    )


def _menu_restart_run_all(page: Any) -> bool:
    page.click(".lm-MenuBar-itemLabel:text-is('Kernel')")
    page.click(".lm-Menu-itemLabel:text-matches('Restart Kernel and Run All Cells')")
    return True


def _wait_widgets_drawn(page: Any, timeout_ms: float = 10000) -> None:
    """Widget views render asynchronously after their output arrives; give them a moment."""
    try:
        page.wait_for_function(
            "() => [...document.querySelectorAll("
            "'.jupyter-matplotlib-canvas-div > canvas:first-of-type')]"
            ".filter(c => c.width > 0)"
            ".every(c => c.__e2eDraws > 0)",
            timeout=timeout_ms,
        )
    except Exception:  # noqa: BLE001  (reported as blank canvases by the caller)
        pass
    try:  # widgets talk to the kernel while they render; wait for it to be idle again
        page.wait_for_function(
            "() => /\\|\\s*Idle/.test(document.querySelector('#jp-main-statusbar')?.innerText || '')",
            timeout=timeout_ms,
        )
    except Exception:  # noqa: BLE001  (a busy kernel shows in the screenshots)
        pass
    page.wait_for_timeout(300)


def widget_areas(page: Any) -> list[Any]:
    """The output areas of cells whose widgets have controls a person can move."""
    cells = page.query_selector_all(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell")
    areas = []
    for cell in cells:
        area = cell.query_selector(".jp-Cell-outputArea")
        if area is not None and area.query_selector(CONTROL_SELECTOR) is not None:
            areas.append(area)
    return areas


@dataclass
class ControlMove:
    """One moved control: what it was, whether the picture changed, and how fast."""

    index: int
    control: str
    label: str
    changed: bool
    latency_ms: float | None
    how: str | None
    before: Path | None = None
    after: Path | None = None


_CONTROL_KINDS = [
    ("slider", ".widget-slider .noUi-handle"),
    ("dropdown", ".widget-dropdown select"),
    # ToggleButtons: the group (its buttons are re-rendered on every change)
    ("toggles", ".widget-toggle-buttons"),
    ("toggle", "button.widget-toggle-button:not(.widget-toggle-buttons *)"),
    ("radio", ".widget-radio-box input:not(:checked)"),
    ("checkbox", ".widget-checkbox input"),
    ("button", "button.jupyter-button:not(.widget-toggle-button)"),
]
CONTROL_SELECTOR = ", ".join(selector for _, selector in _CONTROL_KINDS)


def controls(area: Any) -> list[tuple[str, Any, str]]:
    """The visible, enabled controls of ``area`` as ``(kind, element, label)``, sliders first."""
    found = []
    for kind, selector in _CONTROL_KINDS:
        for element in area.query_selector_all(selector):
            if element.is_visible() and element.is_enabled():
                label = element.evaluate(
                    "e => (e.closest('.widget-inline-hbox, .widget-inline-vbox, .jupyter-button')"
                    "?.querySelector('.widget-label')?.innerText || e.innerText || '').trim()"
                )
                found.append((kind, element, label))
    if not found:
        raise LookupError("no visible control in this widget area")
    return found


def settle(page: Any, area: Any) -> None:
    """Wait until no canvas of ``area`` has drawn for 250 ms (at most 5 s), then 150 ms more."""
    try:
        page.wait_for_function(
            "(area) => [...area.querySelectorAll('canvas')].every("
            "c => !c.__e2eLastDraw || performance.now() - c.__e2eLastDraw > 250)",
            arg=area,
            timeout=5000,
        )
    except Exception:  # noqa: BLE001  (a canvas that keeps drawing: the caller goes on anyway)
        pass
    page.wait_for_timeout(150)


def canvas_pixels(area: Any) -> list[Any]:
    """The pixels each drawn canvas of ``area`` shows, ndarray[H, W, 4] (fully transparent
    canvases, such as ipympl's rubber-band layer, left out)."""
    import base64
    import io

    import numpy as np
    from PIL import Image

    urls = area.evaluate(
        "(area) => [...area.querySelectorAll('canvas')]"
        ".filter(c => c.width > 0 && c.height > 0).map(c => c.toDataURL())"
    )
    pictures = [
        np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGBA"))
        for url in urls
    ]
    return [p for p in pictures if p[..., 3].any()]


def move_control(
    page: Any,
    area: Any,
    index: int,
    timeout_ms: float = 10000,
    shots: Path | None = None,
    repeat: int = 0,
    control: tuple[str, Any, str] | None = None,
) -> ControlMove:
    """Move one control of ``area`` and wait for its picture to change.

    Sliders step with the arrow keys (towards the side with room), dropdowns select the next option,
    toggles/radios/checkboxes/buttons are clicked. ``repeat`` alternates direction for benchmarks.
    ``control`` is one of :func:`controls` (default: the first, a slider when there is one).
    """
    kind, control, label = control or controls(area)[0]
    area.scroll_into_view_if_needed()
    settle(page, area)  # the previous move's frames and a scroll-triggered repaint
    if shots is not None:
        area.screenshot(path=str(shots / f"widget{index:02d}_before.png"))
    page.evaluate(_WATCH_JS, area)
    if kind == "slider":
        now = float(control.get_attribute("aria-valuenow") or 0)
        high = float(control.get_attribute("aria-valuemax") or now + 1)
        low = float(control.get_attribute("aria-valuemin") or now - 1)
        key = "ArrowRight" if (now < high and (repeat % 2 == 0 or now <= low)) else "ArrowLeft"
        control.focus()
        page.evaluate("() => { window.__e2eT0 = null; window.__e2eArmed = true; }")
        page.keyboard.press(key)
    elif kind == "dropdown":
        options = control.eval_on_selector_all("option", "os => os.map(o => o.value)")
        at = control.evaluate("select => select.selectedIndex")  # -1 when nothing is selected
        control.select_option(options[(at + 1) % len(options)])
    elif kind == "toggles":  # ToggleButtons: click an option that is not the active one
        control.query_selector("button:not(.mod-active)").click()
    else:
        control.click()
    try:
        page.wait_for_function(
            "() => window.__e2eWatch && window.__e2eWatch.changedAt !== null", timeout=timeout_ms
        )
        changed = True
    except Exception:  # noqa: BLE001  (Playwright's TimeoutError: reported as not changed)
        changed = False
    if changed:  # a widget with a figure: time the figure, not a text that changed before it
        try:
            page.wait_for_function(
                "() => !window.__e2eWatch.canvases || window.__e2eWatch.canvasAt !== null", timeout=3000
            )
        except Exception:  # noqa: BLE001  (a control that changes only text, e.g. a table)
            pass
    result = page.evaluate(
        "() => { const w = window.__e2eWatch; const canvas = w.canvasAt !== null;"
        " return {t0: window.__e2eT0, t1: canvas ? w.canvasAt : w.changedAt,"
        " how: canvas ? 'canvas' : w.how}; }"
    )
    page.evaluate("() => window.__e2eWatch.stop()")
    latency = result["t1"] - result["t0"] if changed and result["t0"] is not None else None
    move = ControlMove(
        index=index, control=kind, label=label, changed=changed, latency_ms=latency, how=result["how"]
    )
    if shots is not None:
        page.wait_for_timeout(300)  # later frames of the same update
        move.before = shots / f"widget{index:02d}_before.png"
        move.after = shots / f"widget{index:02d}_after.png"
        area.screenshot(path=str(move.after))
    return move


def screenshot_notebook(page: Any, folder: Path, max_pages: int = 60) -> list[Path]:
    """Screenshots of the whole notebook, one viewport (1280x800) at a time, top to bottom."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("page_*.png"):
        old.unlink()
    scroller = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer"
    if page.query_selector(scroller) is None:
        scroller = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook"
    total, step = page.eval_on_selector(scroller, "e => [e.scrollHeight, e.clientHeight]")
    last = max(total - step, 0)
    tops = list(range(0, last, max(step - 40, 100)))  # a little overlap: nothing cut between pages
    paths = []
    for top in (tops + [last])[:max_pages]:
        page.eval_on_selector(scroller, f"e => {{ e.scrollTop = {top}; }}")
        page.wait_for_timeout(150)
        path = folder / f"page_{len(paths) + 1:02d}.png"
        page.screenshot(path=str(path))
        paths.append(path)
    return paths
