"""Readers of stored OpenHands conversations: files, folders and servers -> raw event payloads.

This package knows where OpenHands keeps conversations and how each form is laid out; it returns the
payloads as OpenHands wrote them (dicts), never DataFrames. ``ohnb.loader`` turns them into the event
DataFrame (``ohnb.load``).

- :mod:`ohnb.stores.v0`: V0 trajectory exports, ``/events`` pages, the file store, evaluation output
  (:func:`read_v0_events`, one conversation, in id order);
- :mod:`ohnb.stores.v1`: V1 CLI conversation folders, evaluation output, JSON/JSONL event lists, REST
  search pages and captured WebSocket frames;
- :mod:`ohnb.stores.discover`: which form a path holds, and every conversation in it
  (:class:`RawConversation`);
- :mod:`ohnb.stores.remote`: a running server's REST history (V0 ``/events``, V1 ``/events/search``),
  paged.
"""

from ohnb.stores.discover import FORMS, RawConversation, expand_source, read_unit
from ohnb.stores.remote import fetch_conversation
from ohnb.stores.v0 import V0Source, default_conversation_path, read_v0_events
from ohnb.stores.v1 import read_v1_events

__all__ = [
    "FORMS",
    "RawConversation",
    "V0Source",
    "default_conversation_path",
    "expand_source",
    "fetch_conversation",
    "read_unit",
    "read_v0_events",
    "read_v1_events",
]
