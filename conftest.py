"""Test-session setup shared by the unit tests and the notebook tests (nbval).

- Fast mode on by default, so every notebook shrinks its data and epochs (``CVCOURSE_FAST=1``).
- No network: pytest-socket (see pyproject's addopts) blocks sockets in this process except loopback, and
  the notebook kernels, which are separate processes, inherit proxy settings that point every HTTP(S)
  request at a closed loopback port, so an accidental download fails at once instead of hanging.
- Matplotlib draws off-screen in this process.
"""

import os

os.environ.setdefault("CVCOURSE_FAST", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
for _var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ[_var] = "http://127.0.0.1:9"
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost,::1"
# Quieter, reproducible kernels: no tqdm monitor thread, no pydevd warning on frozen modules.
os.environ.setdefault("TQDM_MININTERVAL", "1")
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
