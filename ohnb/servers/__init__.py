"""Embedded servers that speak the OpenHands wire protocols on loopback (for demos and tests)."""

from __future__ import annotations

from .faults import FaultPlan, FaultStep, random_plan
from .v0 import V0ReplayServer

__all__ = ["FaultPlan", "FaultStep", "V0ReplayServer", "random_plan"]
