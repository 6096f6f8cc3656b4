"""ohnb: live OpenHands agent conversations in Jupyter: watch, record and analyze the event stream.

Public names:

- :func:`connect` -> :class:`Conversation`: record a conversation in the background;
- :class:`RetryPolicy`: backoff, retries and timeouts;
- :class:`ConversationWidget`: watch a conversation (live or a DataFrame) in a notebook;
- :mod:`ohnb.analysis`: replay latency, event types, reconnect attempts;
- :class:`ohnb.servers.V0ReplayServer`: an embedded server that replays a stored conversation.
"""

from ohnb.conversation import Conversation, connect
from ohnb.errors import (
    ConnectionRefused,
    ConversationClosed,
    NotConnected,
    OhnbError,
    RetriesExhausted,
)
from ohnb.retry import RetryPolicy

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
]


def __getattr__(name: str):
    # The widget pulls in anywidget/ipywidgets: import it only when asked for.
    if name == "ConversationWidget":
        from ohnb.widget import ConversationWidget

        return ConversationWidget
    raise AttributeError(f"module 'ohnb' has no attribute {name!r}")
