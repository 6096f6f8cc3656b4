"""OpenHands evaluation outputs: one JSON record per line, the conversation under ``history``.

V0 (``evaluation/benchmarks/*/.../output.jsonl`` in OpenHands, ``EvalOutput`` in
``evaluation/utils/shared.py``): ``instance_id``, ``instruction``, ``metadata`` (``llm_config.model``),
``history`` (V0 events, or ``[action, observation]`` pairs in very old runs), ``metrics``
(``accumulated_cost``, ``accumulated_token_usage``), ``error``, ``test_result``
(fixtures/v0_multi_swe_bench_output.jsonl).
V1 (OpenHands/benchmarks, ``benchmarks/utils/models.py``): the same keys with V1 events in ``history``
and the model under ``metadata.llm.model`` (fixtures/v1_eval_output_openagentsafety.jsonl).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ohnb.normalize_v1 import is_v1_payload
from ohnb.stores._files import keys_of
from ohnb.stores.v0 import order_v0_events

__all__ = ["EvalRecord", "is_eval_record", "read_eval_records"]


def is_eval_record(value: Any) -> bool:
    """A dict with a ``history`` key."""
    return isinstance(value, dict) and "history" in value


@dataclass
class EvalRecord:
    """One evaluation instance: its events and what the record says about the run."""

    line: int
    instance_id: str | None
    generation: str | None  #: "v0", "v1", or None for an empty history
    events: list[Any]
    meta: dict[str, Any] = field(default_factory=dict)


def _generation(history: list[Any]) -> str | None:
    for item in history:
        if isinstance(item, (list, tuple)):
            return "v0"
        if isinstance(item, dict):
            return "v1" if is_v1_payload(item) else "v0"
    return None


def _meta(rec: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {"error": rec.get("error")}
    metadata = rec.get("metadata")
    if isinstance(metadata, dict):
        for key in ("llm", "llm_config"):
            llm = metadata.get(key)
            if isinstance(llm, dict) and isinstance(llm.get("model"), str):
                meta["model"] = llm["model"]
                break
    metrics = rec.get("metrics")
    if isinstance(metrics, dict):
        cost = metrics.get("accumulated_cost")
        if isinstance(cost, (int, float)) and not isinstance(cost, bool):
            meta["accumulated_cost"] = float(cost)
        usage = metrics.get("accumulated_token_usage")
        if isinstance(usage, dict):
            for key in ("prompt_tokens", "completion_tokens"):
                if isinstance(usage.get(key), int):
                    meta[key] = usage[key]
    return meta


def read_eval_records(records: list[tuple[int, Any]], *, where: str) -> list[EvalRecord]:
    """Every record of an evaluation output, in file order.

    V0 histories are validated and ordered like :func:`ohnb.stores.read_v0_events` (pairs flattened,
    sorted by id); V1 histories are kept in stored order. A ``null`` history is an empty one.

    Raises:
        ValueError: a line is not a record with ``history``, ``history`` is not a list, or a V0
            history holds something that is not a V0 event (file and line named).
    """
    out = []
    for lineno, rec in records:
        if not is_eval_record(rec):
            kind = type(rec).__name__
            detail = f"keys: {keys_of(rec)}" if isinstance(rec, dict) else f"a {kind}"
            raise ValueError(
                f"{where}: line {lineno} is not an evaluation record with 'history' ({detail})"
            )
        history = rec["history"]
        if history is None:
            history = []
        if not isinstance(history, list):
            raise ValueError(  # noqa: TRY004 - bad file content, not a bad argument
                f"{where}: 'history' on line {lineno} is a {type(history).__name__}, expected a list"
            )
        generation = _generation(history)
        if generation == "v0":
            history = order_v0_events(history, where=f"{where} line {lineno} ['history']")
        instance = rec.get("instance_id")
        out.append(
            EvalRecord(
                line=lineno,
                instance_id=None if instance is None else str(instance),
                generation=generation,
                events=history,
                meta=_meta(rec),
            )
        )
    return out
