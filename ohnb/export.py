"""ohnb's own files: write event and attempt frames (parquet, partitioned parquet, JSONL) and read
them back exactly, dtypes included.

Forms written by :func:`save`:

- ``*.parquet``: one parquet file. ``raw`` (each payload's JSON text) is a string column like the
  others; object columns a user added are stored as JSON text. The file's schema metadata (key
  ``ohnb``) records every column's dtype, so :func:`read_export` gives back the same frame (values,
  column order, dtypes, including pandas' string storage). Files of format 1, whose ``raw`` held
  decoded payloads stored as JSON, read back with that JSON text as ``raw``.
- a folder, with ``partition_by="conversation_id"``: a Hive-partitioned parquet dataset
  (``<folder>/conversation_id=<id>/part-0.parquet``), which DuckDB (``read_parquet('<folder>/**/
  *.parquet', hive_partitioning=true)``), Dask (``dd.read_parquet``), Spark (``spark.read.parquet``)
  and pyarrow read as they are. It carries one extra int64 column, ``_ohnb_row`` (the row's position
  in the saved frame), which :func:`read_export` uses to restore the order and then drops. Missing
  conversation ids go to ``conversation_id=__HIVE_DEFAULT_PARTITION__``. A frame without rows
  gives an empty folder (nothing to read back).
- ``*.jsonl`` / ``*.ndjson``: one JSON object per row, every column; times as ISO-8601 strings with
  nanoseconds (``received_at`` with ``+00:00``), missing values as ``null``, ``raw`` as a JSON
  string (decode it with ``jq '.raw | fromjson'``; older files embedding it as an object read too).
  Read back with the dtypes of ``ohnb.schema`` (events or attempts); columns outside the schema get
  the dtypes pandas infers. A frame without rows is an empty file, read back as an empty events
  frame.

ohnb never puts a session API key into a frame, so none reaches a file.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from ohnb.fields import payload_text
from ohnb.schema import ATTEMPT_COLUMNS, EVENT_COLUMNS, STRING, empty_frame, frame_from_rows

__all__ = ["is_ohnb_dataset", "is_ohnb_records", "read_export", "save", "to_parquet"]

_META_KEY = b"ohnb"
_ROW = "_ohnb_row"
#: 2: ``raw`` is a string column (format 1 stored decoded payloads as a JSON column).
_FORMAT = 2
#: Columns whose presence marks a JSONL line as an ohnb event row / attempt row.
_EVENT_MARK = frozenset({"conversation_id", "event_id", "kind", "type", "delivery", "raw"})
_ATTEMPT_MARK = frozenset({"attempt", "started_at", "connected_at", "outcome", "delay_s"})


# --------------------------------------------------------------------------------------------
# dtypes as text


def _dtype_spec(dtype: Any) -> str:
    if isinstance(dtype, pd.StringDtype):
        na = getattr(dtype, "na_value", pd.NA)
        base = "string" if na is pd.NA else "str"
        return f"{base}[{dtype.storage}]"
    return str(dtype)


def _dtype_from_spec(spec: str) -> Any:
    for base in ("string", "str"):
        if spec.startswith(base + "[") and spec.endswith("]"):
            storage = spec[len(base) + 1 : -1]
            if base == "string":
                # the storage is how a pandas version kept the text, not part of the data: files
                # written while ohnb's frames used "python" storage read back as today's frames
                return STRING
            try:
                return pd.StringDtype(storage, na_value=np.nan)
            except TypeError:  # pandas < 2.3 has no NaN-variant string dtype
                return pd.StringDtype(storage)
    return pd.api.types.pandas_dtype(spec)


def _object_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if frame[c].dtype == object]


def _to_json(value: object) -> str | None:
    if value is None:
        return None
    try:
        return json.dumps(value, ensure_ascii=False, default=repr)
    except (TypeError, ValueError):
        return json.dumps(repr(value))


def _from_json(value: object) -> object:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return json.loads(value)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# writing


def save(
    frame: pd.DataFrame,
    path: str | Path,
    *,
    format: Literal["parquet", "jsonl"] | None = None,  # noqa: A002 - the natural name
    partition_by: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write an event or attempt frame where ``ohnb.load`` (and other tools) can read it.

    Args:
        frame: ``Conversation.events`` / ``.attempts``, or a frame from ``ohnb.load``. Its index is not
            written (the rows are saved in order).
        path: the file (``.parquet``, ``.jsonl``, ``.ndjson``) or, with ``partition_by``, the folder.
        format: ``"parquet"`` or ``"jsonl"``; default: from the file name (parquet when unknown).
        partition_by: a column name (normally ``"conversation_id"``): write a Hive-partitioned
            parquet dataset into the folder ``path``.
        overwrite: replace an existing dataset folder (only one that holds parquet files and
            ``<column>=`` folders: anything else is refused). Files are always replaced.

    Returns:
        The path written.

    Raises:
        ValueError: unknown format, ``partition_by`` not a column or combined with JSONL.
        FileExistsError: the dataset folder exists and ``overwrite`` is False, or holds other files.
        OSError: the file cannot be written.
    """
    path = Path(path)
    if format is None:
        format = "jsonl" if path.suffix.lower() in (".jsonl", ".ndjson") else "parquet"  # noqa: A001
    if format not in ("parquet", "jsonl"):
        raise ValueError(f"format must be 'parquet' or 'jsonl', got {format!r}")
    if partition_by is not None:
        if format != "parquet":
            raise ValueError("partition_by= writes a parquet dataset; it does not apply to JSONL")
        if partition_by not in frame.columns:
            raise ValueError(f"partition_by={partition_by!r} is not a column of the frame")
        return _write_dataset(frame, path, partition_by, overwrite=overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    if format == "jsonl":
        return _write_jsonl(frame, path)
    return to_parquet(frame, path)


def _arrow_table(frame: pd.DataFrame, extra: dict[str, Any] | None = None):
    import pyarrow as pa

    out = frame.reset_index(drop=True)
    json_columns = _object_columns(out)
    if json_columns:
        out = out.copy()
        for column in json_columns:
            out[column] = pd.Series(
                [_to_json(v) for v in out[column].tolist()], dtype=pd.StringDtype("python")
            )
    if extra:
        out = out.assign(**extra)
    table = pa.Table.from_pandas(out, preserve_index=False)
    meta = {
        "format": _FORMAT,
        "dtypes": {str(c): _dtype_spec(frame[c].dtype) for c in frame.columns},
        "json_columns": [str(c) for c in json_columns],
    }
    metadata = dict(table.schema.metadata or {})
    metadata[_META_KEY] = json.dumps(meta).encode()
    return table.replace_schema_metadata(metadata)


def to_parquet(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` (events or attempts) to ``path`` as one parquet file; returns the path.

    Object columns (other than the string columns, ``raw`` included) are written as JSON text, and
    the dtypes are recorded so that
    :func:`read_export` (``ohnb.load``) restores the frame exactly.

    Raises:
        OSError: the file cannot be written.
    """
    import pyarrow.parquet as pq

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(_arrow_table(frame), path)
    return path


def _check_dataset_target(path: Path, column: str, overwrite: bool) -> None:
    if not path.exists():
        return
    if not path.is_dir():
        raise FileExistsError(f"{path}: exists and is not a folder")
    entries = list(path.iterdir())
    if not entries:
        return
    foreign = [
        e for e in entries
        if not (e.is_dir() and e.name.startswith(f"{column}=")) and e.suffix != ".parquet"
    ]  # fmt: skip
    if foreign:
        raise FileExistsError(f"{path}: holds other files ({foreign[0].name}); not overwriting")
    if not overwrite:
        raise FileExistsError(f"{path}: a dataset is there already; pass overwrite=True")
    shutil.rmtree(path)


def _write_dataset(frame: pd.DataFrame, path: Path, column: str, *, overwrite: bool) -> Path:
    import pyarrow.parquet as pq

    _check_dataset_target(path, column, overwrite)
    path.mkdir(parents=True, exist_ok=True)
    table = _arrow_table(frame, {_ROW: np.arange(len(frame), dtype="int64")})
    pq.write_to_dataset(
        table,
        path,
        partition_cols=[column],
        basename_template="part-{i}.parquet",
        existing_data_behavior="overwrite_or_ignore",
    )
    return path


def _json_value(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _write_jsonl(frame: pd.DataFrame, path: Path) -> Path:
    names = [str(c) for c in frame.columns]
    columns = []
    for name in frame.columns:
        series = frame[name]
        if isinstance(series.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(series):
            values = [None if v is pd.NaT else v.isoformat() for v in series.tolist()]
        elif series.dtype == object:
            values = series.tolist()
        else:
            values = [_json_value(v) for v in series.astype(object).tolist()]
        columns.append(values)
    dumps = json.dumps
    with open(path, "w", encoding="utf-8") as fh:
        for values in zip(*columns, strict=True):
            fh.write(dumps(dict(zip(names, values, strict=True)), ensure_ascii=False, default=repr))
            fh.write("\n")
    return path


# --------------------------------------------------------------------------------------------
# reading


def is_ohnb_dataset(path: Path) -> bool:
    """Whether folder ``path`` holds a partitioned ohnb dataset (``<column>=<value>/`` folders)."""
    try:
        return any(e.is_dir() and "=" in e.name for e in path.iterdir()) and any(
            path.rglob("*.parquet")
        )
    except OSError:
        return False


def is_ohnb_records(first: Any) -> bool:
    """Whether a JSONL line (parsed) is a row written by :func:`save` (events or attempts)."""
    return isinstance(first, dict) and (first.keys() >= _EVENT_MARK or first.keys() >= _ATTEMPT_MARK)


def _restore(frame: pd.DataFrame, meta: dict[str, Any] | None) -> pd.DataFrame:
    if meta is None:
        # a parquet file written by ohnb before the metadata existed: the schema's dtypes (its
        # raw column holds the JSON text, which is what raw is now)
        schema = EVENT_COLUMNS if "event_id" in frame.columns or "kind" in frame.columns else ATTEMPT_COLUMNS
        reference = empty_frame(schema).dtypes
        dtypes = {c: _dtype_spec(reference[c]) for c in schema}
        json_columns = []
        order = list(schema) + [c for c in frame.columns if c not in schema]
    else:
        dtypes = dict(meta.get("dtypes", {}))
        json_columns = list(meta.get("json_columns", []))
        order = list(dtypes)
        if "raw" in json_columns and dtypes.get("raw") == "object":
            # format 1: raw held decoded payloads, stored as JSON; that text is raw now
            json_columns.remove("raw")
            dtypes["raw"] = _dtype_spec(empty_frame(EVENT_COLUMNS).dtypes["raw"])
    for name in order:
        if name not in frame.columns:
            spec = dtypes.get(name, "object")
            frame[name] = pd.Series([None] * len(frame), dtype=_dtype_from_spec(spec))
    frame = frame.loc[:, order]
    out = {}
    for name in order:
        series = frame[name]
        if name in json_columns:
            out[name] = pd.Series([_from_json(v) for v in series.tolist()], dtype=object)
        elif name in dtypes and _dtype_spec(series.dtype) != dtypes[name]:
            out[name] = series.astype(_dtype_from_spec(dtypes[name]))
        else:
            out[name] = series
    return pd.DataFrame(out).reset_index(drop=True)


def _meta_of(schema) -> dict[str, Any] | None:
    raw = (schema.metadata or {}).get(_META_KEY)
    return json.loads(raw) if raw else None


def _to_pandas(table, *, ignore_metadata: bool) -> pd.DataFrame:
    import pyarrow as pa

    # nullable integers and booleans must not pass through float64 / object on the way
    mapping = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}
    return table.to_pandas(ignore_metadata=ignore_metadata, types_mapper=mapping.get)


def _read_parquet_file(path: Path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    meta = _meta_of(table.schema)
    frame = _to_pandas(table, ignore_metadata=meta is not None)
    if meta is None and not ({"event_id", "kind"} & set(frame.columns) or "outcome" in frame.columns):
        raise ValueError(f"{path}: not an ohnb export (a parquet file without ohnb's columns)")
    return _restore(frame, meta)


def _read_dataset(path: Path) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    files = sorted(path.rglob("*.parquet"))
    meta = _meta_of(pq.read_schema(files[0]))
    if meta is None:
        raise ValueError(f"{path}: a parquet dataset not written by ohnb (no 'ohnb' metadata)")
    keys = sorted({e.name.split("=", 1)[0] for e in path.iterdir() if e.is_dir() and "=" in e.name})
    partitioning = ds.partitioning(pa.schema([(k, pa.string()) for k in keys]), flavor="hive")
    table = ds.dataset(path, format="parquet", partitioning=partitioning).to_table()
    frame = _to_pandas(table, ignore_metadata=True)
    if _ROW in frame.columns:
        frame = frame.sort_values(_ROW, kind="stable").drop(columns=[_ROW])
    return _restore(frame.reset_index(drop=True), meta)


def records_frame(records: Iterable[Any], *, where: str) -> pd.DataFrame:
    """The frame of rows written by :func:`save` as JSONL (already parsed, one dict per line).

    Raises:
        ValueError: a line is not a JSON object.
    """
    rows = list(records)
    for n, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ValueError(f"{where}: record {n} is a {type(row).__name__}, expected an object")  # noqa: TRY004
    if not rows:
        return empty_frame(EVENT_COLUMNS)
    schema = EVENT_COLUMNS if rows[0].keys() >= _EVENT_MARK else ATTEMPT_COLUMNS
    if schema is EVENT_COLUMNS:
        # files written before raw was text embed it as JSON: back to text (the caller's dicts untouched)
        rows = [
            {**row, "raw": payload_text(row["raw"])} if row.get("raw") is not None and not isinstance(row["raw"], str) else row
            for row in rows
        ]
    frame = frame_from_rows(rows, schema)
    extra = [k for k in rows[0] if k not in schema]
    for name in extra:
        frame[name] = pd.Series([r.get(name) for r in rows]).infer_objects()
    order = list(rows[0]) + [c for c in schema if c not in rows[0]]
    return frame.loc[:, order]


def read_export(path: str | Path) -> pd.DataFrame:
    """Read a file or dataset folder written by :func:`save` / :func:`to_parquet`.

    Returns:
        The frame as saved (columns, order, dtypes), with a fresh RangeIndex.

    Raises:
        ValueError: the file is not an ohnb export.
        OSError: it cannot be read.
    """
    path = Path(path)
    if path.is_dir():
        return _read_dataset(path)
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if path.suffix.lower() == ".parquet" or magic == b"PAR1":
        return _read_parquet_file(path)
    from ohnb.stores._files import parse_jsonl, read_text

    records = [value for _, value in parse_jsonl(path, read_text(path))]
    if not is_ohnb_records(records[0]):
        raise ValueError(f"{path}: not an ohnb JSONL export (first line lacks ohnb's columns)")
    return records_frame(records, where=str(path))
