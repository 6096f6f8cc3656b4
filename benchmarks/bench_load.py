"""Benchmark: ohnb's loader against ``pandas.json_normalize`` on the same records, in one run.

The real conversations of ``../shared/fixtures`` (V0 and V1: trajectory export, evaluation outputs,
file store, CLI folders, SDK events, captured frames) are replicated until there are ``--events``
events (default 100,000). Two comparisons, each repeated ``--repeat`` times (best time kept):

1. records -> DataFrame, on the same parsed list of event dicts:
   ``ohnb.loader.frame_from_events`` (normalize every V0/V1 payload into the typed schema) versus
   ``pd.json_normalize`` (flatten every nested key into a column, untyped);
2. files -> DataFrame: ``ohnb.load(folder, dedupe=False)`` (find, parse, normalize; every row kept,
   as on the other side) versus ``json`` parsing of the same files plus ``pd.json_normalize``.

Memory: the peak of Python allocations plus Arrow buffers during the step (``_compare.measure``, in a
fresh child process per step, so it neither slows the timed runs nor inherits their peaks) and the
resulting frame's ``memory_usage(deep=True)``.

Run: ``python benchmarks/bench_load.py [--events 100000] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _compare import in_child, measure  # noqa: E402

import ohnb  # noqa: E402
from ohnb.loader import frame_from_events  # noqa: E402

FIXTURES = Path(os.environ.get("OHNB_FIXTURES", Path(__file__).resolve().parents[2] / "shared" / "fixtures"))

#: Fixture files and folders replicated (each copy is a conversation of its own).
SOURCES = [
    "v0_trajectory_export_297ev.json",
    "v0_multi_swe_bench_output.jsonl",
    "v0_basic_gui_mode.json",
    "v0_filestore_session",
    "v1_eval_output_openagentsafety.jsonl",
    "v1_sdk_goal_events.jsonl",
    "v1_cli_conversations",
    "captures/v1_real_server_mock_llm_capture.jsonl",
]


def build_folder(target: Path, events: int) -> int:
    """Copy the fixtures into ``target`` until about ``events`` events; returns the count."""
    per_round = len(ohnb.load([FIXTURES / s for s in SOURCES], progress=False))
    rounds = -(-events // per_round)
    for n in range(rounds):
        for source in SOURCES:
            src = FIXTURES / source
            dst = target / f"copy{n:04d}" / source
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(src, dst)
            else:
                shutil.copy(src, dst)
    return per_round * rounds


def parse_records(folder: Path) -> list[dict[str, Any]]:
    """Every event dict of the folder's files, parsed with json (the common input of both sides)."""
    records: list[dict[str, Any]] = []
    for path in sorted(folder.rglob("*")):
        if path.is_dir() or path.name in ("metadata.json", "base_state.json"):
            continue
        if path.suffix == ".jsonl":
            for line in path.read_text().splitlines():
                if not line.strip():
                    continue
                value = json.loads(line)
                if "history" in value:
                    records.extend(value["history"] or [])
                elif "data" in value:
                    records.append(value["data"])
                elif "_meta" not in value:
                    records.append(value)
        else:
            value = json.loads(path.read_text())
            if isinstance(value, dict) and "trajectory" in value:
                records.extend(value["trajectory"])
            elif isinstance(value, list):
                records.extend(value)
            else:
                records.append(value)
    return records


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        result = None
        gc.collect()
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


#: What a memory child measures (``--memory-child``), each after parsing the records it needs.
STEPS: dict[str, Callable[[Path, list], Any]] = {
    "records-ohnb": lambda folder, records: frame_from_events(records),
    "records-json_normalize": lambda folder, records: pd.json_normalize(records),
    "load-ohnb": lambda folder, records: ohnb.load(folder, progress=False, dedupe=False),
    "load-json_normalize": lambda folder, records: pd.json_normalize(parse_records(folder)),
}


def peak_mib(step: str, folder: Path) -> float:
    """Peak MiB of one step, measured in a fresh process: Python allocations plus Arrow buffers."""
    got = in_child(__file__, step, "--folder", str(folder))
    return (got["python"] + got["arrow"]) / 2**20


def memory_child(step: str, folder: Path) -> None:
    records = parse_records(folder) if step.startswith("records-") else []
    print(json.dumps(measure(lambda: STEPS[step](folder, records))))


def frame_mib(frame: pd.DataFrame) -> float:
    return frame.memory_usage(deep=True).sum() / 2**20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--memory-child", choices=sorted(STEPS), help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        memory_child(args.memory_child, args.folder)
        return 0
    print(f"python {sys.version.split()[0]}, pandas {pd.__version__}, ohnb {ohnb.__version__}")
    with tempfile.TemporaryDirectory(prefix="ohnb-bench-") as tmp:
        folder = Path(tmp)
        total = build_folder(folder, args.events)
        files = sum(1 for p in folder.rglob("*") if p.is_file())
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20
        print(f"data: {total:,} events in {files:,} files ({size:,.0f} MiB), from {FIXTURES}")

        records = parse_records(folder)
        print(f"\n1. the same {len(records):,} parsed event dicts -> DataFrame (best of {args.repeat})")
        t_ohnb, df_ohnb = timed(lambda: frame_from_events(records), args.repeat)
        t_norm, df_norm = timed(lambda: pd.json_normalize(records), args.repeat)
        m_ohnb = peak_mib("records-ohnb", folder)
        m_norm = peak_mib("records-json_normalize", folder)
        print(f"   ohnb frame_from_events : {t_ohnb:6.2f} s  {len(records) / t_ohnb:9,.0f} ev/s  "
              f"peak {m_ohnb:6,.0f} MiB  frame {frame_mib(df_ohnb):6,.0f} MiB  {df_ohnb.shape[1]} typed columns")
        print(f"   pd.json_normalize      : {t_norm:6.2f} s  {len(records) / t_norm:9,.0f} ev/s  "
              f"peak {m_norm:6,.0f} MiB  frame {frame_mib(df_norm):6,.0f} MiB  {df_norm.shape[1]} object columns")
        print(f"   speed-up: {t_norm / t_ohnb:.1f}x")
        del df_ohnb, df_norm

        print(f"\n2. files -> DataFrame (best of {args.repeat})")
        # dedupe=False: copies of a conversation with a real id (captures, the file store) would
        # otherwise merge into one and lose their repeated rows; both sides keep every event here
        t_load, loaded = timed(lambda: ohnb.load(folder, progress=False, dedupe=False), args.repeat)
        t_base, base = timed(lambda: pd.json_normalize(parse_records(folder)), args.repeat)
        m_load = peak_mib("load-ohnb", folder)
        m_base = peak_mib("load-json_normalize", folder)
        print(f"   ohnb.load(folder)           : {t_load:6.2f} s  peak {m_load:6,.0f} MiB  "
              f"{len(loaded):,} rows, {loaded['conversation_id'].nunique():,} conversations")
        print(f"   json + pd.json_normalize    : {t_base:6.2f} s  peak {m_base:6,.0f} MiB  {len(base):,} rows")
        print(f"   speed-up: {t_base / t_load:.1f}x")
        ok = t_norm / t_ohnb >= 2
        print(f"\ntarget (records -> frame at least 2x faster than json_normalize): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
