"""Transports: one class per server generation; they know the wire and nothing about pandas."""

from ohnb.transports.base import AttemptEnd, Handlers, Transport
from ohnb.transports.v0_socketio import V0Transport

__all__ = ["AttemptEnd", "Handlers", "Transport", "V0Transport"]
