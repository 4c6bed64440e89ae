"""JupyterLab for the browser tests: started like the README's launch command, headless.

``jupyter lab`` serving ``notebooks/`` (the folder the README launches), but on 127.0.0.1 only,
with a random token and a free port, ``CVCOURSE_FAST=1``, and fresh settings: no autosave (the
repository's notebooks, committed without outputs, are never written), no news pop-ups, windowing
off (every cell stays in the DOM). :class:`JupyterLab` is a context manager; it also shuts the
kernels down.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"


def discover_notebooks() -> list[Path]:
    """Every chapter notebook ``notebooks/*.ipynb`` plus one released exercise notebook, if any.

    Released exercises follow nbgrader's layout
    ``notebooks/exercises/release/<assignment>/*.ipynb``.
    """
    found = sorted(NOTEBOOKS.glob("*.ipynb"))
    release = NOTEBOOKS / "exercises" / "release"
    exercises = sorted(release.glob("*/*.ipynb")) if release.is_dir() else []
    if not exercises:
        exercises = [_release_first_exercise()]
    return found + exercises[:1]


def _release_first_exercise() -> Path:
    """Generate the student version of the first assignment, as an instructor would.

    ``release/`` and ``gradebook.db`` are git-ignored nbgrader outputs; generating them does not
    touch the committed sources.
    """
    course = NOTEBOOKS / "exercises"
    assignment = sorted(p.name for p in (course / "source").iterdir() if p.is_dir())[0]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    subprocess.run(
        [sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--force", "--log-level=ERROR"],
        cwd=course,
        env=env,
        check=True,
        capture_output=True,
    )
    return next((course / "release" / assignment).glob("*.ipynb"))


def _free_port() -> int:
    # A child process picks the port, so this also works under pytest-socket's --disable-socket.
    code = "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"
    return int(subprocess.check_output([sys.executable, "-c", code], text=True).strip())


_LAB_SETTINGS = {
    # Never write to the repository's notebooks (they are committed without outputs).
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    # Every cell stays in the DOM, so outputs off screen can be inspected.
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
        "windowingMode": "none",
        "scrollPastEnd": False,
    },
    # No "get notified about Jupyter news?" toast in the screenshots, no network.
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


class JupyterLab:
    """``jupyter lab`` on 127.0.0.1 with a token, serving ``root``; a context manager."""

    def __init__(self, root: Path = NOTEBOOKS, fast: bool = True, timeout_s: float = 90.0):
        self.root, self.fast, self.timeout_s = Path(root), fast, timeout_s
        self.port, self.token = _free_port(), secrets.token_hex(16)
        self.tmp = tempfile.TemporaryDirectory(prefix="cvcourse-e2e-lab-")
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def notebook_url(self, path: Path) -> str:
        rel = Path(path).resolve().relative_to(self.root.resolve()).as_posix()
        return f"{self.url}/lab/tree/{rel}?token={self.token}&reset"

    def __enter__(self) -> JupyterLab:
        tmp = Path(self.tmp.name)
        settings = tmp / "user-settings"
        for name, value in _LAB_SETTINGS.items():
            (settings / name).parent.mkdir(parents=True, exist_ok=True)
            (settings / name).write_text(json.dumps(value))
        env = dict(
            os.environ,
            CVCOURSE_FAST="1" if self.fast else "0",
            JUPYTER_CONFIG_DIR=str(tmp / "config"),
            JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
            IPYTHONDIR=str(tmp / "ipython"),
            PYTHONUNBUFFERED="1",
        )
        env.pop("MPLBACKEND", None)  # a kernel must pick its backend the way a user's does
        cmd = [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            f"--LabApp.user_settings_dir={settings}",
            f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")  # containers and CI runners often run as root
        self.log_path = tmp / "jupyter.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 (closed in __exit__)
        self.proc = subprocess.Popen(
            cmd, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}:\n{self.log()}")
            try:
                req = urllib.request.Request(
                    f"{self.url}/api/status", headers={"Authorization": f"token {self.token}"}
                )
                with urllib.request.urlopen(req, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(f"jupyter lab did not answer /api/status in {self.timeout_s} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def _api(self, method: str, path: str) -> Any:
        req = urllib.request.Request(
            f"{self.url}{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(req, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        """Stop every session's kernel (a chapter's kernel holds its models in memory)."""
        for session in self._api("GET", "/api/sessions"):
            self._api("DELETE", f"/api/sessions/{session['id']}")

    def kernel_frames(self) -> list[Any]:
        """The last frame every ipympl figure of the running kernel sent, each ndarray[H, W, 4].

        Asked of the notebook's kernel directly, through its connection file (as ``jupyter console
        --existing`` does), without touching the notebook. Call it while one kernel runs.
        """
        import numpy as np
        from jupyter_client import BlockingKernelClient

        files = sorted(
            (Path(self.tmp.name) / "runtime").glob("kernel-*.json"), key=lambda f: f.stat().st_mtime
        )
        if not files:
            raise RuntimeError("no kernel is running")
        out = Path(self.tmp.name) / "frames.npz"
        code = (
            "import gc as _gc, numpy as _np\n"
            "from matplotlib.backends.backend_webagg_core import FigureCanvasWebAggCore as _C\n"
            f"_np.savez({str(out)!r}, *[_np.ascontiguousarray(c._last_buff).view(_np.uint8)"
            ".reshape(*c._last_buff.shape, 4) for c in _gc.get_objects()"
            " if issubclass(type(c), _C) and c._last_buff.size])\n"
        )
        client = BlockingKernelClient(connection_file=str(files[-1]))
        client.load_connection_file()
        client.start_channels()
        try:
            reply = client.execute_interactive(code, silent=True, store_history=False, timeout=60)
        finally:
            client.stop_channels()
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"reading the kernel's frames failed: {reply['content']}")
        with np.load(out) as frames:
            return [frames[name] for name in frames.files]

    def __exit__(self, *exc: Any) -> None:
        if self.proc is not None and self.proc.poll() is None:
            # SIGTERM lets the server shut its kernels down; kill the group if it hangs.
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self._log.close()
        self.tmp.cleanup()
