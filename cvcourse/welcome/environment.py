"""The welcome notebook's environment check: "will the course run here?" in one table.

``environment_report()`` lists versions, the device the course will use, fast mode, and a check that
catches the usual broken install (a torch/torchvision pair whose compiled ops do not load).
"""

from __future__ import annotations

import platform
from importlib import metadata

from cvcourse.runtime import device, fast_mode

__all__ = ["environment_report"]

_PACKAGES = ("torch", "torchvision", "numpy", "matplotlib", "ipywidgets", "ipympl", "jupyterlab", "cvcourse")


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def environment_report() -> dict[str, str]:
    """Versions, device and health checks of this environment, as an ordered ``{name: value}`` dict."""
    import torch
    import torchvision

    report = {"python": platform.python_version()}
    report.update({name: _version(name) for name in _PACKAGES})
    dev = device()
    report["device"] = str(dev)
    if dev.type == "cuda":
        report["gpu"] = torch.cuda.get_device_name(dev)
    report["fast mode (CVCOURSE_FAST)"] = "on" if fast_mode() else "off"
    try:  # a mismatched torch/torchvision pair fails here: "operator torchvision::nms does not exist"
        boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]])
        kept = torchvision.ops.nms(boxes, torch.tensor([1.0, 0.5]), 0.5).tolist()
        report["torchvision ops"] = "ok" if kept == [0] else f"wrong result {kept}"
    except Exception as err:  # noqa: BLE001 - the report must show any failure, not raise it
        report["torchvision ops"] = f"BROKEN ({type(err).__name__}: {err})"
    return report
