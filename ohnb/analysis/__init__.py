"""Analyses of recorded or loaded conversations: DataFrame in, tidy DataFrame out (and figures).

Each function takes the frames ohnb produces (``Conversation.events`` / ``Conversation.attempts``,
``ohnb.load(...)``, or their saved copies), never modifies them, and returns a new frame whose columns
and dtypes are documented (and fixed: an empty input gives an empty result with the same columns).
Every analysis is also a method of the ``df.ohnb`` accessor (``ohnb.accessor``). Times are seconds;
``timestamp`` is the server's clock (naive local time), ``received_at`` / attempt times are UTC on
ohnb's clock.

======================================  ===============================================================
replay latency (live recordings)        :func:`replay_latency`, :func:`delivery_lag`
event types                             :func:`event_type_counts`, :func:`event_rate`
reconnect attempts                      :func:`reconnect_summary`, :func:`reconnect_attempts`
action -> observation latency           :func:`action_latency`, :func:`action_latency_summary`,
                                        :func:`unanswered_actions`
cost and tokens                         :func:`cost_over_time`, :func:`cost_by_model`
agent state                             :func:`agent_state_timeline`, :func:`time_in_state`
per conversation                        :func:`conversation_summary`
figures (matplotlib)                    :func:`plot_timeline`, :func:`plot_event_rate`,
                                        :func:`plot_type_histogram`,
                                        :func:`plot_latency_distribution`,
                                        :func:`plot_reconnect_timeline`, :func:`plot_agent_states`,
                                        :func:`plot_cost`
======================================  ===============================================================
"""

from ohnb.analysis.actions import action_latency, action_latency_summary, unanswered_actions
from ohnb.analysis.conversations import conversation_summary
from ohnb.analysis.costs import cost_by_model, cost_over_time
from ohnb.analysis.latency import delivery_lag, replay_latency
from ohnb.analysis.plots import (
    plot_agent_states,
    plot_cost,
    plot_event_rate,
    plot_latency_distribution,
    plot_reconnect_timeline,
    plot_timeline,
    plot_type_histogram,
)
from ohnb.analysis.reconnects import reconnect_attempts, reconnect_summary
from ohnb.analysis.states import agent_state_timeline, time_in_state
from ohnb.analysis.types import event_rate, event_type_counts

__all__ = [
    "action_latency",
    "action_latency_summary",
    "agent_state_timeline",
    "conversation_summary",
    "cost_by_model",
    "cost_over_time",
    "delivery_lag",
    "event_rate",
    "event_type_counts",
    "plot_agent_states",
    "plot_cost",
    "plot_event_rate",
    "plot_latency_distribution",
    "plot_reconnect_timeline",
    "plot_timeline",
    "plot_type_histogram",
    "reconnect_attempts",
    "reconnect_summary",
    "replay_latency",
    "time_in_state",
    "unanswered_actions",
]
