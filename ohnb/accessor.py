"""The ``df.ohnb`` pandas accessor: every analysis and figure as a method of the frame.

Importing ``ohnb`` registers it. On an events frame (``Conversation.events``, ``ohnb.load(...)``)::

    df.ohnb.event_type_counts()          df.ohnb.plot_type_histogram()
    df.ohnb.action_latency_summary()     df.ohnb.plot_latency_distribution()
    df.ohnb.agent_state_timeline()       df.ohnb.plot_agent_states()
    df.ohnb.save("events.parquet")

and on an attempts frame (``Conversation.attempts``): ``attempts.ohnb.reconnect_summary()``,
``.reconnect_attempts()``, ``.plot_reconnect_timeline()``. Each method is the function of
``ohnb.analysis`` of the same name with the frame as first argument: see there for the columns,
units and definitions. Nothing modifies the frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ohnb import analysis, schema

__all__ = ["OhnbAccessor"]


@pd.api.extensions.register_dataframe_accessor("ohnb")
class OhnbAccessor:
    """Analyses of an ohnb events (or attempts) frame; see ``ohnb.analysis``."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self._df = frame

    # events ---------------------------------------------------------------------------------

    def payloads(self) -> pd.Series:
        """The ``raw`` column decoded, one payload per row (``ohnb.payloads``)."""
        return schema.payloads(self._df)

    def event_type_counts(self, by: Sequence[str] = ("kind", "type")) -> pd.DataFrame:
        """Counts by kind / type (``ohnb.analysis.event_type_counts``)."""
        return analysis.event_type_counts(self._df, by=by)

    def event_rate(
        self, freq: str = "1min", by: Sequence[str] = ("kind",), time: str | None = None
    ) -> pd.DataFrame:
        """Events per minute over time (``ohnb.analysis.event_rate``)."""
        return analysis.event_rate(self._df, freq=freq, by=by, time=time)

    def action_latency(self) -> pd.DataFrame:
        """Each action and its first observation (``ohnb.analysis.action_latency``)."""
        return analysis.action_latency(self._df)

    def action_latency_summary(self, by: str | None = "action_type") -> pd.DataFrame:
        """Latency statistics per action type (``ohnb.analysis.action_latency_summary``)."""
        return analysis.action_latency_summary(self._df, by=by)

    def unanswered_actions(self) -> pd.DataFrame:
        """Actions that never got an observation (``ohnb.analysis.unanswered_actions``)."""
        return analysis.unanswered_actions(self._df)

    def cost_over_time(self) -> pd.DataFrame:
        """Running cost and tokens (``ohnb.analysis.cost_over_time``)."""
        return analysis.cost_over_time(self._df)

    def cost_by_model(self, per_conversation: bool = False) -> pd.DataFrame:
        """Spend per model (``ohnb.analysis.cost_by_model``)."""
        return analysis.cost_by_model(self._df, per_conversation=per_conversation)

    def agent_state_timeline(self) -> pd.DataFrame:
        """Intervals spent in each agent state (``ohnb.analysis.agent_state_timeline``)."""
        return analysis.agent_state_timeline(self._df)

    def time_in_state(self) -> pd.DataFrame:
        """Total time per agent state (``ohnb.analysis.time_in_state``)."""
        return analysis.time_in_state(self._df)

    def conversation_summary(self) -> pd.DataFrame:
        """One row per conversation (``ohnb.analysis.conversation_summary``)."""
        return analysis.conversation_summary(self._df)

    def delivery_lag(self, server_tz: str | None = None) -> pd.DataFrame:
        """Receive time minus event timestamp (``ohnb.analysis.delivery_lag``)."""
        return analysis.delivery_lag(self._df, server_tz=server_tz)

    def replay_latency(self, attempts: pd.DataFrame) -> pd.DataFrame:
        """Per-attempt replay latency, with the attempts frame (``ohnb.analysis.replay_latency``)."""
        return analysis.replay_latency(self._df, attempts)

    # attempts -------------------------------------------------------------------------------

    def reconnect_summary(self) -> pd.DataFrame:
        """One-row summary of an attempts frame (``ohnb.analysis.reconnect_summary``)."""
        return analysis.reconnect_summary(self._df)

    def reconnect_attempts(self) -> pd.DataFrame:
        """Per-attempt durations of an attempts frame (``ohnb.analysis.reconnect_attempts``)."""
        return analysis.reconnect_attempts(self._df)

    # figures --------------------------------------------------------------------------------

    def plot_timeline(self, **kwargs: Any):
        """Event timeline figure (``ohnb.analysis.plot_timeline``)."""
        return analysis.plot_timeline(self._df, **kwargs)

    def plot_event_rate(self, **kwargs: Any):
        """Events-per-minute figure (``ohnb.analysis.plot_event_rate``)."""
        return analysis.plot_event_rate(self._df, **kwargs)

    def plot_type_histogram(self, **kwargs: Any):
        """Event type histogram (``ohnb.analysis.plot_type_histogram``)."""
        return analysis.plot_type_histogram(self._df, **kwargs)

    def plot_latency_distribution(self, **kwargs: Any):
        """Action latency distribution (``ohnb.analysis.plot_latency_distribution``)."""
        return analysis.plot_latency_distribution(self._df, **kwargs)

    def plot_agent_states(self, **kwargs: Any):
        """Agent-state timeline figure (``ohnb.analysis.plot_agent_states``)."""
        return analysis.plot_agent_states(self._df, **kwargs)

    def plot_cost(self, **kwargs: Any):
        """Cost and tokens figure (``ohnb.analysis.plot_cost``)."""
        return analysis.plot_cost(self._df, **kwargs)

    def plot_reconnect_timeline(self, **kwargs: Any):
        """Reconnect timeline of an attempts frame (``ohnb.analysis.plot_reconnect_timeline``)."""
        return analysis.plot_reconnect_timeline(self._df, **kwargs)

    # files ----------------------------------------------------------------------------------

    def save(self, path: str | Path, **kwargs: Any) -> Path:
        """Write the frame (``ohnb.save``: parquet, partitioned dataset or JSONL)."""
        from ohnb.export import save

        return save(self._df, path, **kwargs)
