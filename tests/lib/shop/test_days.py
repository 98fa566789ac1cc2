"""The generator's days after the window (``generate(..., day=N)``), checked against the files.

Each kind of change the manifest's history names is looked up in the raw files of that
day and the day before with plain ``csv``: the files, not the manifest, are the witness.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from millpond.cli import app
from shop.days import LATE_DAYS, SCHEMA_CHANGE_DAY, VERY_LATE_DAYS
from shop.generate import generate

DAYS = 3


def _rows(raw: Path, name: str) -> list[dict]:
    with (raw / name).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def days(tmp_path_factory) -> list[tuple[Path, object]]:
    """The raw folder and manifest of days 0 to ``DAYS``, each generated on its own."""
    out = []
    for day in range(DAYS + 1):
        raw = tmp_path_factory.mktemp(f"day{day}")
        out.append((raw, generate(raw, seed=11, scale=0.1, day=day)))
    return out


def _customers(raw: Path) -> dict[str, dict]:
    rows = _rows(raw, "customers.csv")
    counts = Counter(r["customer_id"] for r in rows)
    return {r["customer_id"]: r for r in rows if counts[r["customer_id"]] == 1}


def test_a_day_extends_the_day_before(days):
    for (before_raw, before), (raw, manifest) in zip(days, days[1:], strict=False):
        assert manifest.history[:-1] == before.history
        assert manifest.day == before.day + 1 and manifest.end == before.end + timedelta(days=1)
        old, new = _rows(before_raw, "orders.csv"), _rows(raw, "orders.csv")
        old_ids = Counter(r["order_id"] for r in old)
        assert not old_ids - Counter(r["order_id"] for r in new)  # no order is ever lost
        assert sorted((raw / "events").iterdir())[-1].name == f"events_{manifest.end}.jsonl"


def test_orders_arrive_new_late_and_very_late(days):
    for raw, manifest in days[1:]:
        change = manifest.history[-1]
        placed = {r["order_id"]: r["order_ts"] for r in _rows(raw, "orders.csv")}
        before = {r["order_id"] for r in _rows(days[change.day - 1][0], "orders.csv")}

        def day_of(order_id: int):
            return datetime.fromisoformat(placed[str(order_id)]).date()

        assert all(day_of(o) == change.date for o in change.new_orders)
        assert [day_of(o) for o in change.late_orders] == [change.date - timedelta(days=LATE_DAYS)]
        assert [day_of(o) for o in change.very_late_orders] == [change.date - timedelta(days=VERY_LATE_DAYS)]
        assert not {str(o) for o in change.new_orders + change.late_orders + change.very_late_orders} & before
        (paid,) = change.paid_late
        payments = [p for p in _rows(raw, "payments.csv") if p["order_id"] == str(paid)]
        assert [datetime.fromisoformat(p["paid_ts"]).date() for p in payments] == [change.date]
        assert str(paid) in before


def test_customers_change_touch_leave_and_return(days):
    for raw, manifest in days[1:]:
        change = manifest.history[-1]
        before, now = _customers(days[change.day - 1][0]), _customers(raw)
        for cid, updated_at in change.changed.items():
            differs = {k for k in now[str(cid)] if now[str(cid)][k] != before[str(cid)][k]}
            assert {"email", "updated_at"} <= differs
            assert now[str(cid)]["updated_at"] == str(updated_at)
        for cid, country in change.moved.items():
            assert now[str(cid)]["country"] == country != before[str(cid)]["country"]
        for cid in change.silent:  # the last name, and nothing else, not even updated_at
            assert {k for k in now[str(cid)] if now[str(cid)][k] != before[str(cid)][k]} == {"last_name"}
        for cid in change.touched:
            assert {k for k in now[str(cid)] if now[str(cid)][k] != before[str(cid)][k]} == {"updated_at"}
            assert now[str(cid)]["updated_at"] > before[str(cid)]["updated_at"]
        for cid in change.deleted:
            assert str(cid) in before and str(cid) not in {r["customer_id"] for r in _rows(raw, "customers.csv")}
        for cid in change.returned:  # back with the very row it had before it left
            assert str(cid) not in before and now[str(cid)] == _customers(days[change.day - 3][0])[str(cid)]
        assert [str(c) for c in change.new_customers] == [c for c in now if c not in before and int(c) > 10**8]
    assert any(change.returned for change in days[-1][1].history)


def test_one_source_gains_a_column(days):
    for raw, manifest in days:
        header = _rows(raw, "orders.csv")[0].keys()
        assert ("coupon_code" in header) == (manifest.day >= SCHEMA_CHANGE_DAY)
    assert days[SCHEMA_CHANGE_DAY][1].history[-1].added_columns == {"orders": ["coupon_code"]}


def test_the_command_line_writes_a_later_day(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(app, ["init", "ws", "--example", "shop"]).exit_code == 0
    result = runner.invoke(app, ["generate", "--scale", "0.1", "--day", "2", "--workspace", "ws"])
    assert result.exit_code == 0, result.output
    assert "day 2" in result.output
    manifest = (tmp_path / "ws" / "data" / "raw" / "_manifest.json").read_text()
    assert '"day": 2' in manifest
    for bad, message in (("400", "0 <= day <= 365"), ("-1", "-1"), ("x", "'x' is not a valid int")):
        done = subprocess.run(
            [
                str(Path(sys.executable).with_name("millpond")),
                "generate",
                "--scale",
                "0.1",
                "--day",
                bad,
                "--workspace",
                "ws",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr
    done = subprocess.run(  # too small a shop to change customers every day: said in one line
        [
            str(Path(sys.executable).with_name("millpond")),
            "generate",
            "--scale",
            "0.01",
            "--day",
            "3",
            "--workspace",
            "ws",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "use a larger scale" in done.stderr
