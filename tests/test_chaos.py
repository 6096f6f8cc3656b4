"""Seeded chaos: random faults of every kind during replay and live streaming; exactly-once recording.

The same runner as ``python scripts/chaos.py --runs 200`` (see that file for what is checked), with 20
seeds per server generation here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from chaos import run_one  # noqa: E402


@pytest.mark.parametrize("seed", range(20))
def test_v0_chaos_loses_and_duplicates_nothing(seed):
    result = run_one(seed, "v0", timeout=45)
    assert result.ok, result
    assert result.held > 200 and result.attempts >= 2


@pytest.mark.parametrize("seed", range(20))
def test_v1_chaos_loses_and_duplicates_nothing(seed):
    result = run_one(seed, "v1", timeout=45)
    assert result.ok, result
    assert result.held >= 200 and result.attempts >= 2
