"""The JupyterLab the README's launch command opens shows no "Jupyter news" prompt (a projector).

The lab is started from the repository root with the README's own command line (its environment
assignments and arguments), plus what a headless test needs (loopback, a port, a token) and a
fresh Jupyter configuration and settings folder, as on a student's first start. The harness's own
lab (``e2e_lab.JupyterLab``) switches news off in its settings; this one gets only what the README
gives. A control lab started without the README's environment shows the prompt, so the check can
fail.
"""

from __future__ import annotations

import os
import re
import secrets
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from e2e_harness import REPO, playwright_missing_reason

SKIP_REASON = playwright_missing_reason()
pytestmark = [pytest.mark.e2e, pytest.mark.skipif(bool(SKIP_REASON), reason=SKIP_REASON or "")]

NEWS_PROMPT = "official Jupyter news"


def readme_launch() -> tuple[dict[str, str], list[str]]:
    """The README's launch command after its install steps: ``({VAR: value}, [jupyter, args...])``."""
    readme = (REPO / "README.md").read_text()
    block = re.search(r"<!-- launch-command -->\s*```bash\n(.+?)\n```", readme, re.S).group(1)
    words = shlex.split(block.split("&&")[-1])
    assignments = {}
    while "=" in words[0] and not words[0].startswith(("/", ".")):
        name, value = words.pop(0).split("=", 1)
        assignments[name] = value
    assert Path(words[0]).name == "jupyter", words
    return assignments, words


def _free_port() -> int:
    code = "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"
    return int(subprocess.check_output([sys.executable, "-c", code], text=True).strip())


@contextmanager
def launched_lab(with_readme_environment: bool):
    """``jupyter lab`` as the README starts it (or without its environment); yields the lab's URL."""
    assignments, words = readme_launch()
    port, token = _free_port(), secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="cvcourse-e2e-launch-") as tmp:
        env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": f"{tmp}/config",
            "JUPYTER_RUNTIME_DIR": f"{tmp}/runtime",
            "IPYTHONDIR": f"{tmp}/ipython",
        }
        env.pop("JUPYTER_CONFIG_PATH", None)
        if with_readme_environment:
            env.update(assignments)
        cmd = [
            sys.executable,
            "-m",
            "jupyter",
            *words[1:],
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")
        with open(f"{tmp}/jupyter.log", "w") as log:
            proc = subprocess.Popen(
                cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
            try:
                url = f"http://127.0.0.1:{port}"
                deadline = time.monotonic() + 90
                while True:
                    try:
                        with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2):
                            break
                    except OSError:
                        assert proc.poll() is None, Path(f"{tmp}/jupyter.log").read_text()[-3000:]
                        assert time.monotonic() < deadline, "jupyter lab did not start in 90 s"
                        time.sleep(0.3)
                yield f"{url}/lab?token={token}"
            finally:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=5)


def _open_lab(browser, url: str):
    page = browser.new_page()
    page.goto(url)
    # the lab has started and restored its layout: the file browser lists notebooks/
    page.get_by_text("00_welcome.ipynb").first.wait_for(timeout=60_000)
    return page


def test_the_readme_lab_shows_no_news_prompt(browser):
    # Control: without the README's environment a first start asks about news.
    with launched_lab(with_readme_environment=False) as url:
        page = _open_lab(browser, url)
        start = time.monotonic()
        page.get_by_text(NEWS_PROMPT).first.wait_for(timeout=30_000)
        prompt_after_s = time.monotonic() - start
        page.close()
    # The README's lab: wait well past when the prompt came in the control, then look.
    with launched_lab(with_readme_environment=True) as url:
        page = _open_lab(browser, url)
        page.wait_for_timeout(1000 * max(5.0, 3 * prompt_after_s))
        assert page.get_by_text(NEWS_PROMPT).count() == 0, "the news prompt is shown"
        page.close()
