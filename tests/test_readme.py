"""The README's two commands: CI runs the test command verbatim; the launch command serves notebooks/."""

import os
import re
import secrets
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _block(marker):
    match = re.search(rf"<!-- {marker} -->\s*```bash\n(.+?)\n```", README, re.S)
    assert match, f"README.md has no ```bash block after <!-- {marker} -->"
    return match.group(1).strip()


def test_the_two_commands_install_the_same_way():
    launch, test = _block("launch-command"), _block("test-command")
    install = "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt"
    assert launch.startswith(install) and test.startswith(install)
    assert "jupyter lab" in launch
    assert "CVCOURSE_FAST=1" in test and "pytest" in test


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "<!-- test-command -->" in ci and "README.md" in ci


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_launch_command_serves_the_notebooks(tmp_path):
    """Start JupyterLab with the README's arguments (headless, loopback, a token) and list notebooks/."""
    launch = _block("launch-command").split("&&")[-1]
    args = shlex.split(launch)
    assignments = {}  # VAR=value words before the command, as the shell reads them
    while "=" in args[0] and not args[0].startswith(("/", ".")):
        name, value = args.pop(0).split("=", 1)
        assignments[name] = value
    assert Path(args[0]).name == "jupyter"
    port, token = _free_port(), secrets.token_hex(16)
    cmd = [
        sys.executable,
        "-m",
        "jupyter",
        *args[1:],
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        f"--IdentityProvider.token={token}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers and CI run as root; JupyterLab refuses without it
    env = {
        **os.environ,
        **assignments,
        "JUPYTER_RUNTIME_DIR": str(tmp_path),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"),
    }
    server = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}/api/contents?token={token}"
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        deadline = time.monotonic() + 90
        while True:
            try:
                with opener.open(url, timeout=5) as response:
                    listing = response.read().decode()
                break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()[-2000:]
                assert time.monotonic() < deadline, "JupyterLab did not answer within 90 s"
                time.sleep(0.5)
        assert "00_welcome.ipynb" in listing
        with opener.open(f"http://127.0.0.1:{port}/lab?token={token}", timeout=10) as response:
            assert response.status == 200
            page = response.read().decode()
        # .jupyter/labconfig/page_config.json is read: no "Jupyter news" prompt (the browser test
        # tests/e2e/test_e2e_launch.py checks the page itself)
        disabled = re.search(r'"disabledExtensions": \[([^\]]*)\]', page)
        assert disabled and "@jupyterlab/apputils-extension:announcements" in disabled.group(1), (
            "the launch command's JupyterLab does not disable the news prompt"
        )
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
