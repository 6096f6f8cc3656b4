"""Shared test fixtures: paths to the real OpenHands recordings in ../shared/fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(os.environ.get("OHNB_FIXTURES", REPO.parent / "shared" / "fixtures"))


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    if not FIXTURES.is_dir():
        pytest.fail(f"fixtures folder {FIXTURES} is missing (set OHNB_FIXTURES)")
    return FIXTURES
