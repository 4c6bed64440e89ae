"""The installed environment is one a student can use: a matching torch/torchvision pair, offline tools."""

import re
from pathlib import Path

import torch
import torchvision

ROOT = Path(__file__).resolve().parents[1]


def test_torchvision_ops_work():
    # With a mismatched pair (e.g. a CPU-only torch 2.13.0+cpu wheel under the registry's torchvision),
    # `import torchvision` or its C++ ops fail with "operator torchvision::nms does not exist".
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [50.0, 50.0, 60.0, 60.0]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    keep = torchvision.ops.nms(boxes, scores, iou_threshold=0.5)
    assert keep.tolist() == [0, 2]


def _names(path):
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if not line or line.startswith("-"):
            continue
        names.add(re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0].lower().replace("_", "-"))
    return names


def test_binder_requirements_cover_the_course():
    ours = _names(ROOT / "requirements.txt")
    binder = _names(ROOT / "binder" / "requirements.txt")
    assert ours - binder == set(), f"binder/requirements.txt lacks {sorted(ours - binder)}"


def test_binder_uses_cpu_torch_wheels():
    text = (ROOT / "binder" / "requirements.txt").read_text()
    assert "download.pytorch.org/whl/cpu" in text
    assert (ROOT / "binder" / "postBuild").read_text().count("pip install") >= 1


def test_binder_start_uses_the_course_lab_settings(tmp_path):
    """Binder runs binder/start before the server: it must put .jupyter on the config path, as the
    README's launch command does (no news prompt on a projector)."""
    import subprocess

    env = {"PATH": "/usr/bin:/bin", "JUPYTER_CONFIG_PATH": "/elsewhere"}
    done = subprocess.run(
        ["bash", str(ROOT / "binder" / "start"), "printenv", "JUPYTER_CONFIG_PATH"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    first, rest = done.stdout.strip().split(":", 1)
    assert Path(first) == ROOT / ".jupyter" and rest == "/elsewhere"
    assert (ROOT / ".jupyter" / "labconfig" / "page_config.json").is_file()
