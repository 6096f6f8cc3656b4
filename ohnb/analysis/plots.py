"""Figures of the analyses (matplotlib; imported only when a plot is asked for).

Every function returns a ``matplotlib.figure.Figure`` made without pyplot (so nothing is shown twice
in Jupyter: the returned figure displays itself, as PNG, as a cell's value, inline backend or not),
or draws into the ``ax`` given and returns its figure. Axes are labeled with their units; an empty frame gives an empty, labeled figure
that says "no data". Elapsed times are seconds, minutes or hours since the conversation's first event
(the unit is chosen from the span and written in the axis label).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from ohnb.analysis._util import time_column, with_columns
from ohnb.analysis.actions import action_latency
from ohnb.analysis.costs import cost_over_time
from ohnb.analysis.reconnects import reconnect_attempts
from ohnb.analysis.states import agent_state_timeline
from ohnb.analysis.types import event_rate, event_type_counts

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "plot_agent_states",
    "plot_cost",
    "plot_event_rate",
    "plot_latency_distribution",
    "plot_reconnect_timeline",
    "plot_timeline",
    "plot_type_histogram",
]

#: Colors of event kinds, the same in every figure.
KIND_COLORS = {
    "action": "#1f77b4",
    "observation": "#2ca02c",
    "status": "#7f7f7f",
    "error": "#d62728",
    "unknown": "#9467bd",
}
#: Colors of agent states (others cycle through the default palette).
STATE_COLORS = {
    "running": "#2ca02c",
    "awaiting_user_input": "#1f77b4",
    "paused": "#ff7f0e",
    "finished": "#17becf",
    "stopped": "#7f7f7f",
    "error": "#d62728",
    "loading": "#bcbd22",
    "init": "#bcbd22",
    "awaiting_user_confirmation": "#9467bd",
    "rate_limited": "#8c564b",
}


_FIGURE_CLASS: type | None = None


def new_figure(size: tuple[float, float]) -> Figure:
    """A pyplot-free figure that shows itself as PNG when it is a notebook cell's value, whether or
    not matplotlib's inline backend is active (``_repr_png_``)."""
    global _FIGURE_CLASS
    if _FIGURE_CLASS is None:
        from io import BytesIO

        from matplotlib.figure import Figure as Base

        class OhnbFigure(Base):
            """A matplotlib Figure that renders itself in Jupyter."""

            def _repr_png_(self) -> bytes:
                buffer = BytesIO()
                self.savefig(buffer, format="png", dpi=100)
                return buffer.getvalue()

        _FIGURE_CLASS = OhnbFigure
    return _FIGURE_CLASS(figsize=size, layout="constrained")


def _figure(ax: Axes | None, size: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax  # type: ignore[return-value]
    fig = new_figure(size)
    return fig, fig.add_subplot()


def _no_data(ax: Axes, what: str) -> None:
    ax.text(0.5, 0.5, f"no data ({what})", ha="center", va="center", transform=ax.transAxes,
            color="#7f7f7f")  # fmt: skip


def _unit(span_s: float) -> tuple[float, str]:
    if span_s >= 3 * 3600:
        return 3600.0, "h"
    if span_s >= 3 * 60:
        return 60.0, "min"
    return 1.0, "s"


def _kind_color(kind: Any) -> str:
    return KIND_COLORS.get(str(kind), KIND_COLORS["unknown"])


def plot_timeline(
    events: pd.DataFrame, *, by: str = "type", time: str | None = None, ax: Axes | None = None
) -> Figure:
    """Event timeline: one marker per event.

    x: time since the conversation's first event (s, min or h). y: one lane per value of ``by``
    (default the event ``type``; lanes ordered by first appearance) when the frame holds one
    conversation, one lane per conversation when it holds several. Color: the event ``kind``
    (legend). Time column: ``time``, default ``timestamp`` (server clock) or ``received_at``.
    Rows without a time are not drawn.
    """
    events = with_columns(events, ("conversation_id", "kind", "timestamp", "received_at", by))
    column = time_column(events, time)
    fig, ax = _figure(ax, (10, 4.5))
    ax.set_title("Event timeline")
    have = events[events[column].notna()]
    if have.empty:
        _no_data(ax, "no timestamped events")
        ax.set_xlabel("time since first event (s)")
        ax.set_ylabel(by)
        return fig
    when = have[column]
    start = when.groupby(have["conversation_id"], dropna=False).transform("min")
    elapsed = (when - start).dt.total_seconds()
    scale, unit = _unit(float(elapsed.max()))
    several = have["conversation_id"].nunique(dropna=False) > 1
    lane_values = have["conversation_id"] if several else have[by]
    lanes = list(dict.fromkeys(lane_values.astype(object).where(lane_values.notna(), "<NA>")))
    lane_of = {name: n for n, name in enumerate(lanes)}
    y = lane_values.astype(object).where(lane_values.notna(), "<NA>").map(lane_of)
    kinds = have["kind"].astype(object).where(have["kind"].notna(), "unknown")
    for kind in sorted(kinds.unique()):
        mask = kinds == kind
        ax.scatter(elapsed[mask] / scale, y[mask], s=14, marker="|" if not several else "o",
                   color=_kind_color(kind), label=str(kind), linewidths=1.5)  # fmt: skip
    ax.set_yticks(range(len(lanes)), [str(v) for v in lanes])
    ax.set_ylim(-0.7, len(lanes) - 0.3)
    ax.invert_yaxis()
    ax.set_xlabel(f"time since the conversation's first event ({unit})")
    ax.set_ylabel("conversation" if several else by)
    ax.legend(title="kind", loc="upper right", fontsize="small")
    ax.grid(axis="x", alpha=0.3)
    return fig


def plot_event_rate(
    events: pd.DataFrame, *, freq: str = "1min", by: str = "kind", ax: Axes | None = None
) -> Figure:
    """Events per minute over time (from :func:`ohnb.analysis.event_rate`), summed over
    conversations: x the window start (server clock), y events per minute, one line per ``by``
    value (default ``kind``)."""
    fig, ax = _figure(ax, (10, 3.5))
    ax.set_title(f"Event rate ({freq} windows)")
    ax.set_ylabel("events per minute")
    ax.set_xlabel("window start (server time)")
    rate = event_rate(events, freq=freq, by=(by,))
    if rate.empty:
        _no_data(ax, "no timestamped events")
        return fig
    table = rate.groupby(["window_start", by], dropna=False)["rate_per_min"].sum().unstack(by)
    width = pd.Timedelta(pd.tseries.frequencies.to_offset(freq))
    x = [*table.index, table.index[-1] + width]  # the last window drawn to its end
    for name in table.columns:
        color = _kind_color(name) if by == "kind" else None
        values = table[name].astype(float).fillna(0).tolist()
        ax.step(x, [*values, values[-1]], where="post", label=str(name), color=color)
    ax.legend(title=by, fontsize="small")
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    return fig


def plot_type_histogram(
    events: pd.DataFrame, *, by: Sequence[str] = ("kind", "type"), top: int = 25,
    ax: Axes | None = None,
) -> Figure:
    """Event type histogram: horizontal bars, one per group of ``by`` (default kind and type,
    labeled ``type (kind)``), length = number of events, the ``top`` most frequent, most frequent on
    top; bars colored by kind when ``kind`` is among ``by``."""
    counts = event_type_counts(events, by=by).head(top)
    fig, ax = _figure(ax, (8, 0.3 * max(len(counts), 4) + 1.2))
    ax.set_title("Events by type")
    ax.set_xlabel("events (count)")
    if counts.empty:
        _no_data(ax, "empty frame")
        return fig
    labels = []
    for _, row in counts.iterrows():
        parts = [str(row[c]) if not pd.isna(row[c]) else "<NA>" for c in by]
        labels.append(f"{parts[-1]} ({', '.join(parts[:-1])})" if len(parts) > 1 else parts[0])
    colors = [_kind_color(k) for k in counts["kind"]] if "kind" in counts.columns else None
    positions = range(len(counts))
    ax.barh(positions, counts["count"].astype(int), color=colors)
    ax.set_yticks(positions, labels)
    ax.invert_yaxis()
    for n, value in enumerate(counts["count"].astype(int)):
        ax.text(value, n, f" {value}", va="center", fontsize="small")
    ax.grid(axis="x", alpha=0.3)
    return fig


def plot_latency_distribution(
    events: pd.DataFrame, *, by: str = "action_type", top: int = 12, ax: Axes | None = None
) -> Figure:
    """Action -> observation latency distribution (from :func:`ohnb.analysis.action_latency`):
    one box per action type (or ``by="tool"``), the ``top`` most frequent, with every latency drawn
    as a dot over its box. x: latency in seconds on a log scale (values under 1 ms drawn at 1 ms);
    y label: the type and its number of answered actions. Unanswered actions are not drawn."""
    rows = action_latency(events)
    rows = rows[rows["latency_s"].notna()]
    fig, ax = _figure(ax, (9, 0.45 * max(min(rows[by].nunique() if len(rows) else 0, top), 4) + 1.5))
    ax.set_title("Action → observation latency")
    ax.set_xlabel("latency (s, log scale)")
    if rows.empty:
        _no_data(ax, "no answered actions with timestamps")
        return fig
    order = rows[by].value_counts(dropna=False).head(top).index.tolist()
    data = [rows.loc[rows[by].astype(object).eq(k) if not pd.isna(k) else rows[by].isna(), "latency_s"]
            .astype(float).clip(lower=1e-3).to_numpy() for k in order]  # fmt: skip
    try:
        ax.boxplot(data, orientation="horizontal", showfliers=False, widths=0.6)
    except TypeError:  # matplotlib < 3.10
        ax.boxplot(data, vert=False, showfliers=False, widths=0.6)
    for n, values in enumerate(data, start=1):
        ax.scatter(values, [n] * len(values), s=8, alpha=0.4, color="#1f77b4")
    ax.set_yticks(range(1, len(order) + 1), [f"{k} (n={len(d)})" for k, d in zip(order, data, strict=True)])
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.grid(axis="x", alpha=0.3, which="both")
    return fig


def plot_reconnect_timeline(attempts: pd.DataFrame, *, ax: Axes | None = None) -> Figure:
    """Reconnect timeline (from :func:`ohnb.analysis.reconnect_attempts`): one lane per connection
    attempt. x: seconds since the first attempt started. Each lane shows the backoff waited before
    the attempt (light gray, ``delay_s``), the time spent connecting (orange, start -> connect or ->
    end for attempts that never connected), the connection (green, connect -> end, or -> the last
    time in the frame while still open); the outcome is written at the lane's end."""
    rows = reconnect_attempts(attempts)
    fig, ax = _figure(ax, (10, 0.45 * max(len(rows), 4) + 1.4))
    ax.set_title("Connection attempts")
    ax.set_xlabel("time since the first attempt started (s)")
    ax.set_ylabel("attempt")
    rows = rows[rows["started_at"].notna()]
    if rows.empty:
        _no_data(ax, "no attempts")
        return fig
    origin = rows["started_at"].min()
    times = pd.concat([rows["started_at"], rows["connected_at"], rows["ended_at"]]).dropna()
    horizon = (times.max() - origin).total_seconds()
    labels = []
    for n, row in enumerate(rows.itertuples(index=False)):
        start = (row.started_at - origin).total_seconds()
        wait = 0.0 if pd.isna(row.backoff_s) else float(row.backoff_s)
        if wait > 0:
            ax.broken_barh([(start - wait, wait)], (n - 0.3, 0.6), color="#d9d9d9")
        connected = None if pd.isna(row.connected_at) else (row.connected_at - origin).total_seconds()
        end = horizon if pd.isna(row.ended_at) else (row.ended_at - origin).total_seconds()
        reach = connected if connected is not None else end
        ax.broken_barh([(start, max(reach - start, 0))], (n - 0.3, 0.6), color="#ff7f0e")
        if connected is not None:
            ax.broken_barh([(connected, max(end - connected, 0))], (n - 0.3, 0.6), color="#2ca02c")
        ax.text(end, n, f" {row.outcome if not pd.isna(row.outcome) else ''}", va="center",
                fontsize="small")  # fmt: skip
        labels.append(str(row.attempt))
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    from matplotlib.patches import Patch

    ax.legend(
        handles=[Patch(color="#d9d9d9", label="backoff wait"), Patch(color="#ff7f0e", label="connecting"),
                 Patch(color="#2ca02c", label="connected")],
        loc="upper center", bbox_to_anchor=(0.5, -0.22), ncols=3, fontsize="small", frameon=False,
    )  # fmt: skip
    ax.margins(x=0.12)
    ax.grid(axis="x", alpha=0.3)
    return fig


def plot_agent_states(events: pd.DataFrame, *, ax: Axes | None = None) -> Figure:
    """Agent-state timeline (from :func:`ohnb.analysis.agent_state_timeline`): one lane per
    conversation, colored bars for the intervals spent in each state (legend), x = time since the
    conversation's first state change (s, min or h). The last interval of each lane runs to the
    conversation's last event."""
    rows = agent_state_timeline(events)
    lanes = list(dict.fromkeys(rows["conversation_id"].astype(object)))
    fig, ax = _figure(ax, (10, 0.5 * max(len(lanes), 3) + 1.5))
    ax.set_title("Agent state over time")
    if rows.empty:
        _no_data(ax, "no agent state changes")
        ax.set_xlabel("time since the first state change (s)")
        return fig
    origin = rows.groupby("conversation_id", dropna=False)["start"].transform("min")
    start = (rows["start"] - origin).dt.total_seconds()
    scale, unit = _unit(float((rows["end"] - origin).dt.total_seconds().max()))
    palette = iter(["#e377c2", "#aec7e8", "#98df8a", "#c5b0d5", "#c49c94", "#f7b6d2"])
    colors = dict(STATE_COLORS)
    for state in rows["state"].astype(object).unique():
        if state not in colors:
            colors[state] = next(palette, "#7f7f7f")
    lane_of = {cid: n for n, cid in enumerate(lanes)}
    shown: set[str] = set()
    for n, row in enumerate(rows.itertuples(index=False)):
        lane = lane_of[row.conversation_id]
        label = row.state if row.state not in shown else None
        shown.add(row.state)
        duration = 0.0 if pd.isna(row.duration_s) else float(row.duration_s)
        ax.broken_barh([(start.iloc[n] / scale, max(duration, 0) / scale)], (lane - 0.35, 0.7),
                       color=colors[row.state], label=label)  # fmt: skip
    ax.set_yticks(range(len(lanes)), [str(c) for c in lanes])
    ax.invert_yaxis()
    ax.set_xlabel(f"time since the first state change ({unit})")
    ax.set_ylabel("conversation")
    ax.legend(title="agent state", fontsize="small", loc="upper right")
    ax.grid(axis="x", alpha=0.3)
    return fig


def plot_cost(events: pd.DataFrame, *, ax: Axes | None = None) -> Figure:
    """Cost and tokens over time (from :func:`ohnb.analysis.cost_over_time`), per conversation:
    top panel the accumulated cost (USD), bottom panel the accumulated prompt + completion tokens,
    both as steps against the time since the conversation's first reporting event (s, min or h).
    A thin gray line joins each conversation's reports; colored segments show the model in use
    (legend). With ``ax`` given, only the cost panel is drawn, into it."""
    rows = cost_over_time(events)
    rows = rows[rows["timestamp"].notna()]
    if ax is None:
        fig = new_figure((10, 5.5))
        cost_ax, tokens_ax = fig.subplots(2, 1, sharex=True)
    else:
        fig, cost_ax, tokens_ax = ax.figure, ax, None
    cost_ax.set_title("LLM cost and tokens over time")
    cost_ax.set_ylabel("accumulated cost (USD)")
    if tokens_ax is not None:
        tokens_ax.set_ylabel("accumulated tokens\n(prompt + completion)")
    bottom = tokens_ax if tokens_ax is not None else cost_ax
    if rows.empty:
        _no_data(cost_ax, "no cost or token reports")
        bottom.set_xlabel("time since the conversation's first report (s)")
        return fig  # type: ignore[return-value]
    origin = rows.groupby("conversation_id", dropna=False)["timestamp"].transform("min")
    elapsed = (rows["timestamp"] - origin).dt.total_seconds()
    scale, unit = _unit(float(elapsed.max()))
    models = list(dict.fromkeys(rows["model"].astype(object).where(rows["model"].notna(), "unknown")))
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]
    color_of = {m: palette[n % len(palette)] for n, m in enumerate(models)}
    tokens = (rows["prompt_tokens"].astype("Float64").fillna(0)
              + rows["completion_tokens"].astype("Float64").fillna(0)).astype(float)  # fmt: skip
    cost = rows["accumulated_cost"].astype("Float64").astype(float)
    panels = [(cost_ax, cost)] + ([(tokens_ax, tokens)] if tokens_ax is not None else [])
    for _, part in rows.groupby("conversation_id", dropna=False, sort=False):
        x = elapsed[part.index] / scale
        model = part["model"].astype(object).where(part["model"].notna(), "unknown")
        for axis, values in panels:
            axis.step(x, values[part.index], where="post", color="#bbbbbb", linewidth=0.8)
            for name in dict.fromkeys(model):
                mask = model == name
                axis.step(x[mask], values[part.index][mask], where="post", color=color_of[name],
                          label=name, marker=".", markersize=3)  # fmt: skip
    handles, labels = cost_ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    cost_ax.legend(unique.values(), unique.keys(), title="model", fontsize="small", loc="upper left")
    for axis, _ in panels:
        axis.grid(alpha=0.3)
    bottom.set_xlabel(f"time since the conversation's first report ({unit})")
    return fig  # type: ignore[return-value]
