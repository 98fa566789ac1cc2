"""The metadata store: runs, stage runs, materializations, check history."""

from __future__ import annotations

from millpond.store.metadata import Materialization, MetadataStore


def test_runs_and_last_successful_fingerprint(tmp_path):
    store = MetadataStore(tmp_path / "meta.sqlite")
    store.start_run("r1", "shop", {"run_date": "2024-01-31"}, ["a", "b"])
    store.set_stage("r1", "a", status="success", fingerprint="fa", finished_at=1.0)
    store.set_stage("r1", "b", status="failed", fingerprint="fb", finished_at=2.0, error="boom")
    store.finish_run("r1", "failed")
    assert store.last_success_fingerprint("shop", "a") == "fa"
    assert store.last_success_fingerprint("shop", "b") is None
    assert store.last_success_fingerprint("other", "a") is None
    (run,) = store.runs()
    assert (run["status"], run["params"], run["counts"]) == (
        "failed",
        {"run_date": "2024-01-31"},
        {"success": 1, "failed": 1},
    )


def test_latest_materialization_per_table(tmp_path):
    store = MetadataStore(tmp_path / "meta.sqlite")
    for rows, fingerprint in ((3, "f1"), (5, "f2")):
        store.record_materialization(
            Materialization("gold.t", "table", rows, {"x": "int64"}, 0.1, fingerprint, "r", "s", 0.0)
        )
    latest = store.latest_materialization("gold.t")
    assert (latest.rows, latest.fingerprint, latest.schema) == (5, "f2", {"x": "int64"})
    assert store.latest_materialization("gold.none") is None


def test_check_history_keeps_latest_state_and_trend(tmp_path):
    store = MetadataStore(tmp_path / "meta.sqlite")
    row = {"table": "gold.t", "check": "id is unique", "severity": "error"}
    for run, status, failing in (("r1", "pass", 0), ("r2", "fail", 2), ("r3", "pass", 0)):
        store.record_checks(run, "build_t", [row | {"status": status, "failing_rows": failing, "sample": []}])
    store.record_checks(
        "r3",
        "build_u",
        [
            {
                "table": "gold.u",
                "check": "has rows",
                "severity": "warn",
                "status": "warn",
                "failing_rows": 1,
                "sample": [{"row_count": 0}],
            }
        ],
    )
    history = store.check_history()
    assert [(h["table_name"], h["check_name"], h["status"], h["trend"]) for h in history] == [
        ("gold.t", "id is unique", "pass", ["pass", "fail", "pass"]),
        ("gold.u", "has rows", "warn", ["warn"]),
    ]
    assert store.check_history(table="gold.u")[0]["sample"] == [{"row_count": 0}]
