"""Embedded servers that speak the OpenHands wire protocols on loopback (for demos and tests)."""

from __future__ import annotations

from .v0 import V0ReplayServer

__all__ = ["V0ReplayServer"]
