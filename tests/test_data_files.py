"""Every file shipped in data/ is listed in data/SHA256SUMS, matches it, and has the script that made it."""

import hashlib
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "data"
NOT_DATA = {"README.md", "SHA256SUMS"}


def _listed():
    entries = {}
    for line in (DATA / "SHA256SUMS").read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            entries[name.lstrip("*")] = digest
    return entries


def _shipped():
    return sorted(
        p.relative_to(DATA).as_posix()
        for p in DATA.rglob("*")
        if p.is_file()
        and p.name not in NOT_DATA
        and "scripts" not in p.relative_to(DATA).parts
        and "__pycache__" not in p.parts
    )


def test_every_file_is_listed_and_every_listing_exists():
    assert set(_shipped()) == set(_listed()), "data/SHA256SUMS and the files in data/ disagree"


@pytest.mark.parametrize("name", _shipped())
def test_checksum_matches(name):
    digest = hashlib.sha256((DATA / name).read_bytes()).hexdigest()
    assert digest == _listed()[name], f"data/{name} does not match its SHA256SUMS line"


@pytest.mark.parametrize("name", _shipped())
def test_file_is_small_and_documented(name):
    assert (DATA / name).stat().st_size < 5 * 2**20, f"data/{name} is over 5 MiB"
    assert name in (DATA / "README.md").read_text(), f"data/README.md does not describe {name}"
