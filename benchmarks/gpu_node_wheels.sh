#!/usr/bin/env bash
# Download the wheels the full-mode run report needs on an offline GPU node that already has PyTorch,
# torchvision, NumPy, SciPy, matplotlib, scikit-image, scikit-learn, Pillow and tqdm (a typical cluster
# image), for that node's Python. Run it where pip reaches PyPI, copy the folder to the node.
#
#   bash benchmarks/gpu_node_wheels.sh [FOLDER] [PYTHON_VERSION]      # default: .whl 3.12
#
# Then on the node, from the repository root (see benchmarks/README.md):
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
#   PYTHONPATH=/tmp/site:. python3 benchmarks/full_run.py --device cuda --out report.json
set -euo pipefail
folder=${1:-.whl}
python_version=${2:-3.12}
# ipywidgets/ipympl and what they import (IPython and its own needs), pycocotools (compiled: a binary
# wheel for the node's Python) and torchmetrics for the detection and segmentation chapters.
packages=(
  ipywidgets widgetsnbextension jupyterlab_widgets comm traitlets ipympl
  ipython ipython_pygments_lexers decorator jedi parso matplotlib-inline pexpect ptyprocess
  prompt_toolkit wcwidth stack_data executing asttokens pure_eval pygments
  pycocotools torchmetrics lightning-utilities
)
mkdir -p "$folder"
python3 -m pip download --no-deps --only-binary=:all: --python-version "$python_version" \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
  -d "$folder" "${packages[@]}"
echo "wheels for Python $python_version in $folder: $(ls "$folder" | wc -l) files, $(du -sh "$folder" | cut -f1)"
