"""Every notebook is a jupytext pair: the py:percent source and the .ipynb users open must agree.

The .ipynb files are committed without outputs (see CONTRIBUTING.md), so they diff cleanly and hold no
stale numbers; nbval runs them and the cells assert the numbers that matter.
"""

from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
GENERATED = {"release", "submitted", "autograded", "feedback", ".ipynb_checkpoints", "source_preview"}


def _tracked(pattern):
    return sorted(p for p in NOTEBOOKS.rglob(pattern) if not GENERATED & set(p.relative_to(NOTEBOOKS).parts))


IPYNBS = _tracked("*.ipynb")
SOURCES = [p for p in _tracked("*.py") if p.read_text().lstrip().startswith("# ---\n# jupyter:")]


def _ids(paths):
    return [str(p.relative_to(NOTEBOOKS)) for p in paths]


def _cells(nb):
    """What must agree between the two files: type, source and tags of every cell."""
    return [(c.cell_type, c.source.strip(), tuple(c.metadata.get("tags", ()))) for c in nb.cells]


def test_there_are_notebooks():
    assert (NOTEBOOKS / "00_welcome.ipynb").exists()
    assert len(IPYNBS) >= 1


@pytest.mark.parametrize("ipynb", IPYNBS, ids=_ids(IPYNBS))
def test_every_ipynb_has_its_source(ipynb):
    assert ipynb.with_suffix(".py").exists(), f"{ipynb.name} has no py:percent source beside it"


@pytest.mark.parametrize("source", SOURCES, ids=_ids(SOURCES))
def test_pair_in_sync(source):
    ipynb = source.with_suffix(".ipynb")
    assert ipynb.exists(), f"{source.name} has no paired .ipynb: run `jupytext --sync {source}`"
    from_py = jupytext.read(source)
    from_ipynb = nbformat.read(ipynb, as_version=4)
    assert _cells(from_py) == _cells(from_ipynb), (
        f"{source.name} and {ipynb.name} differ: edit the .py and run `jupytext --sync {source}`"
    )


@pytest.mark.parametrize("ipynb", IPYNBS, ids=_ids(IPYNBS))
def test_committed_without_outputs(ipynb):
    nb = nbformat.read(ipynb, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, (
        f"{ipynb.name}: cells {dirty} hold outputs; clear them "
        f"(`jupyter nbconvert --clear-output --inplace {ipynb.name}`)"
    )


CHAPTERS = [p for p in IPYNBS if p.parent == NOTEBOOKS]


@pytest.mark.parametrize("ipynb", CHAPTERS, ids=_ids(CHAPTERS))
def test_chapter_shape(ipynb):
    """A chapter opens with Markdown (title, what you learn, how long), then has a parameters cell."""
    nb = nbformat.read(ipynb, as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# "), "first cell: a Markdown title"
    assert "fast" in first.source.lower() and "gpu" in first.source.lower(), (
        "the first screen says how long the notebook takes in fast/full mode and whether a GPU helps"
    )
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", ())]
    assert len(tagged) == 1, f"exactly one cell tagged 'parameters', found {len(tagged)}"
    assert tagged[0] <= 4, "the parameters cell sits near the top"
    long_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.count("\n") >= 30]
    assert not long_cells, f"code cells {long_cells} are over ~25 lines: move the code into cvcourse"
