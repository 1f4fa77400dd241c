"""Shared fixtures: where ../shared is, and a scratch folder per test."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_path() -> Path | None:
    """../shared beside the checkout (or $FACELM_SHARED), None when absent."""
    root = Path(os.environ.get("FACELM_SHARED", REPO.parent / "shared"))
    return root if root.is_dir() else None


@pytest.fixture
def shared_dir() -> Path:
    root = shared_path()
    if root is None:
        pytest.skip("../shared is not beside this checkout")
    return root


@pytest.fixture
def realdata(shared_dir: Path) -> Path:
    path = shared_dir / "realdata"
    if not path.is_dir():
        pytest.skip("../shared/realdata is absent")
    return path
