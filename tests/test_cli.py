"""``ohnb demo`` end to end (embedded server, real conversation), and CLI error handling."""

from __future__ import annotations

import re

import pandas as pd

from ohnb.cli import main


def test_demo_records_the_conversation_with_one_resumed_reconnect(tmp_path, capsys):
    status = main(["demo", "-o", str(tmp_path), "--speed", "2000", "--max-gap", "0.01", "--no-progress"])
    out = capsys.readouterr().out
    assert status == 0
    found = re.search(r"server sent (\d+) distinct ids, (\d+) lost, (\d+) stored twice", out)
    assert found and found.group(2) == "0" and found.group(3) == "0"
    events = pd.read_parquet(tmp_path / "events.parquet")
    attempts = pd.read_parquet(tmp_path / "attempts.parquet")
    assert len(events) == int(found.group(1))
    assert events["id"].is_unique
    assert len(attempts) == 2
    assert attempts["resumed_from"].isna().tolist() == [True, False]
    assert attempts.loc[0, "disconnect_reason"] == "transport error"
    assert "Event types" in out and "Reconnect summary" in out
    assert events["raw"].str.startswith("{").all()  # raw payloads written as JSON text


def test_user_mistakes_are_one_line_and_exit_2(tmp_path, capsys):
    status = main(["demo", str(tmp_path / "missing.json"), "-o", str(tmp_path)])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("ohnb demo: error:") and err.count("\n") == 1
    assert "Traceback" not in err
