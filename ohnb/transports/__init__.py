"""Transports: one class per server generation; they know the wire and nothing about pandas."""

from ohnb.transports.base import AttemptEnd, Handlers
from ohnb.transports.v0_socketio import V0Transport

__all__ = ["AttemptEnd", "Handlers", "V0Transport"]
