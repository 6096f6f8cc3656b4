"""ohnb: live OpenHands agent conversations in Jupyter: watch, record and analyze the event stream.

Public names:

- :func:`connect` -> :class:`Conversation`: record a conversation in the background;
- :class:`RetryPolicy`: backoff, retries and timeouts;
- :class:`ConversationWidget`: watch a conversation (live or a DataFrame) in a notebook;
- :mod:`ohnb.analysis`: replay latency, event types, reconnect attempts;
- :func:`load` / :func:`save`: every stored form of a conversation <-> the event DataFrame;
- :func:`payloads`: the ``raw`` column (each event's JSON text) decoded;
- ``df.ohnb``: the analyses and figures as methods of a frame (:mod:`ohnb.accessor`);
- :class:`ohnb.servers.V0ReplayServer`: an embedded server that replays a stored conversation.
"""

from ohnb import accessor as _accessor  # noqa: F401 - registers the df.ohnb accessor
from ohnb.conversation import Conversation, connect
from ohnb.errors import (
    ConnectionRefused,
    ConversationClosed,
    NotConnected,
    OhnbError,
    RetriesExhausted,
)
from ohnb.export import save
from ohnb.loader import load
from ohnb.retry import RetryPolicy
from ohnb.schema import payloads

__version__ = "0.1.0"

__all__ = [
    "ConnectionRefused",
    "Conversation",
    "ConversationClosed",
    "ConversationWidget",
    "NotConnected",
    "OhnbError",
    "RetriesExhausted",
    "RetryPolicy",
    "__version__",
    "connect",
    "load",
    "payloads",
    "save",
]


def __getattr__(name: str):
    # The widget pulls in anywidget/ipywidgets: import it only when asked for.
    if name == "ConversationWidget":
        from ohnb.widget import ConversationWidget

        return ConversationWidget
    raise AttributeError(f"module 'ohnb' has no attribute {name!r}")
