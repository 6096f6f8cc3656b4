"""Analyses of recorded or loaded conversations: DataFrame in, tidy DataFrame out.

Each function takes the frames ohnb produces (``Conversation.events`` / ``Conversation.attempts`` or
their saved copies) and never modifies them. Every function works on an empty frame (it returns an empty
result with the documented columns).
"""

from ohnb.analysis.latency import delivery_lag, replay_latency
from ohnb.analysis.reconnects import reconnect_summary
from ohnb.analysis.types import event_type_counts

__all__ = ["delivery_lag", "event_type_counts", "reconnect_summary", "replay_latency"]
