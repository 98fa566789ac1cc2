"""Issue 21.3: the reference shop lives over several days, and gold keeps the truth each day.

``generate(raw, day=N)`` writes the shop N days after its window; the pipeline runs once
on day 0 and once after each drop, with ``run_date`` the drop's date. Every expected value
comes from the generator's manifest (computed from its clean records without Ibis), from
the raw files themselves, or from the runs' own start times (their ids): never from what
the pipeline printed.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter
from decimal import Decimal

import pytest

from millpond.run.progress import PlainReporter
from millpond.run.replay import replay_quarantine
from millpond.run.runner import RunOptions, run_pipeline
from millpond.workspace import Workspace
from shop.days import SCHEMA_CHANGE_DAY
from shop.generate import generate
from support.reference import SEED, copy_workspace
from support.stores import store_of
from support.workspaces import query

pytestmark = pytest.mark.slow

SCALE, DAYS = 0.2, 4


def _started(run_id: str) -> dt.datetime:
    return dt.datetime.strptime(run_id.split("-")[0], "%Y%m%dT%H%M%S")


def _orders_of(ws, customer_id: int) -> set[int]:
    """The customer's orders, read from the raw orders file itself."""
    with open(ws.path("data/raw/orders.csv"), newline="") as fh:
        return {
            int(r["order_id"])
            for r in csv.DictReader(fh)
            if r["customer_id"] == str(customer_id) and (r["order_id"] or "").isdigit()
        }


def _check_day(ws, manifest) -> None:
    """Gold against the manifest of the day just run."""
    facts = query(ws, "SELECT order_id, status, is_revenue, net_amount, paid_amount FROM gold.fct_orders")
    assert len(facts) == manifest.valid_rows["orders"] == len({f[0] for f in facts})
    assert dict(Counter(f[1] for f in facts)) == {s: n for s, n in manifest.orders_by_status.items() if n}
    assert sum((f[3] for f in facts if f[2]), Decimal("0.00")) == manifest.revenue_total
    assert sum((f[4] for f in facts), Decimal("0.00")) == manifest.payments_total
    ids = {f[0] for f in facts}
    for change in manifest.history:  # late orders, inside and outside the lookback, are all there
        assert set(change.new_orders + change.late_orders + change.very_late_orders) <= ids | {
            o for cid in _gone(manifest) for o in _orders_of(ws, cid)
        }
    for cid in _gone(manifest):  # a deleted customer's orders are held, not kept in the facts
        assert _orders_of(ws, cid) and not _orders_of(ws, cid) & ids
    assert query(ws, "SELECT count(*) FROM silver.customers") == [(manifest.valid_rows["customers"],)]
    for source, reasons in manifest.dirt.items():  # every row silver held, for its reason
        held = dict(query(ws, f"SELECT reason, count(*) FROM quarantine.{source} GROUP BY reason"))
        assert held == {reason: n for reason, n in reasons.items() if n}, source
    daily = query(ws, "SELECT date, orders, revenue FROM gold.mart_daily_revenue ORDER BY date")
    assert [(d, n, r) for d, n, r in daily] == [
        (d, manifest.orders_by_day[d], manifest.revenue_by_day[d]) for d in sorted(manifest.revenue_by_day)
    ]
    countries = dict(query(ws, "SELECT country, revenue FROM gold.mart_revenue_by_country"))
    assert countries == {c: r for c, r in manifest.revenue_by_country.items() if r}


def _failed_checks(ws, run_id: str) -> list[str]:
    results = store_of(ws).check_results(run_id)
    assert len(results) > 30  # every declared check and monitor ran
    return [f"{r['table_name']}: {r['check_name']} {r['status']}" for r in results if r["status"] == "fail"]


def _gone(manifest) -> set[int]:
    """Customers deleted and not back by the manifest's day."""
    gone: set[int] = set()
    for change in manifest.history:
        gone |= set(change.deleted)
        gone -= set(change.returned)
    return gone


@pytest.fixture(scope="module")
def shop_days(tmp_path_factory):
    root = copy_workspace(tmp_path_factory.mktemp("days") / "shop")
    ws = Workspace(root)
    runs, manifests = [], []
    for day in range(DAYS + 1):
        manifest = generate(ws.path("data/raw"), seed=SEED, scale=SCALE, day=day)
        options = RunOptions(jobs=2, params={"run_date": manifest.end.isoformat()})
        result = run_pipeline(ws, "shop", options, reporter=PlainReporter(io.StringIO()))
        assert result.exit_code == 0, (day, result.stages)
        _check_day(ws, manifest)
        assert _failed_checks(ws, result.run_id) == [], day
        if day == SCHEMA_CHANGE_DAY:
            columns = [c for (c,) in query(ws, "SELECT column_name FROM (DESCRIBE bronze.orders)")]
            assert "coupon_code" in columns
        runs.append(result.run_id)
        manifests.append(manifest)
    return ws, runs, manifests


def test_each_day_gold_matches_the_manifest(shop_days):
    ws, runs, manifests = shop_days
    assert len(runs) == DAYS + 1 and len({_started(r) for r in runs}) == DAYS + 1
    history = manifests[-1].history
    assert [c.day for c in history] == list(range(1, DAYS + 1))
    assert all(c.late_orders and c.very_late_orders and c.paid_late for c in history)
    assert any(c.deleted for c in history) and any(c.returned for c in history)


def test_the_customer_dimension_keeps_every_real_change_and_nothing_else(shop_days):
    ws, runs, manifests = shop_days
    first, last = manifests[0], manifests[-1]
    rows = query(
        ws,
        "SELECT customer_id, valid_from, valid_to, is_current, country, updated_at FROM gold.dim_customer"
        " ORDER BY customer_id, valid_from",
    )
    versions: dict[int, list[tuple]] = {}
    for row in rows:
        versions.setdefault(row[0], []).append(row[1:])
    # one current row per customer at the source, and no version ends before it begins or overlaps the next
    current = [cid for cid, vs in versions.items() if vs[-1][2]]
    assert len(current) == last.valid_rows["customers"]
    assert all(sum(v[2] for v in vs) <= 1 for vs in versions.values())
    for vs in versions.values():
        for (start, end, *_), (next_start, *_) in zip(vs, vs[1:], strict=False):
            assert end is not None and start < end <= next_start
    # versions = the real changes: base customers, new ones, changes (with or without a new
    # updated_at) and returns; a touch adds none
    history = last.history
    real = sum(len(c.new_customers) + len(c.changed) + len(c.silent) + len(c.returned) for c in history)
    assert len(rows) == first.valid_rows["customers"] + real
    started = {c.day: _started(runs[c.day]) for c in history}
    for change in history:
        for cid, updated_at in change.changed.items():  # a change happens at its updated_at
            froms = [v[0] for v in versions[cid]]
            assert updated_at in froms
            assert versions[cid][froms.index(updated_at) - 1][1] == updated_at
        for cid, country in change.moved.items():
            moved_to = [v for v in versions[cid] if v[0] == change.changed[cid]]
            assert moved_to[0][3] == country
        for cid in change.silent:  # a change without a new updated_at: at the run that saw it
            assert started[change.day] in [v[0] for v in versions[cid]]
        for cid in change.touched:  # a touch: no version opened that day
            assert started[change.day] not in [v[0] for v in versions[cid]]
            assert all(v[0] < dt.datetime.combine(change.date, dt.time()) for v in versions[cid]) or any(
                cid in later.changed or cid in later.silent for later in history
            )
        for cid in change.deleted:  # closed by the run that saw it gone ...
            assert started[change.day] in [v[1] for v in versions[cid]]
            back = [later.day for later in history if cid in later.returned]
            if back:  # ... and open again from the run that saw it back: the gap is there to see
                assert started[back[0]] in [v[0] for v in versions[cid]]
                assert started[back[0]] > started[change.day]
            else:
                assert versions[cid][-1][2] is False


def test_a_replay_with_nothing_fixed_releases_nothing(shop_days):
    """Issue 21.4: `quarantine orders --replay` with nothing fixed said every row was released
    and newly held. Here bronze.orders is loaded again first (a new `_loaded_at`), and the file
    gained a column since day 0: the held orders are still the same records."""
    ws, runs, manifests = shop_days
    reload = RunOptions(stages=["ingest_orders"], force=True)
    assert run_pipeline(ws, "shop", reload, reporter=PlainReporter(io.StringIO())).exit_code == 0
    outcome = replay_quarantine(ws, "orders", reporter=PlainReporter(io.StringIO()))
    held = manifests[-1].rejected_rows("orders")
    assert (outcome.held_before, outcome.released, outcome.still_held, outcome.newly_held) == (held, 0, held, 0)
    assert outcome.reasons == manifests[-1].dirt["orders"]
