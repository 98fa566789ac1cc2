"""Issue 21.3: a customer deleted from the raw data and back again keeps the deleted period in
``gold.dim_customer``: the delete is stamped with the run that saw it, not with the newest
``updated_at`` in the data (which lies after the runs' dates), and the return opens at the
run that saw it.

Expected values come from the edit itself and from the runs' own start times (their ids).
"""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from millpond.run.progress import PlainReporter
from millpond.run.runner import RunOptions, run_pipeline
from support.reference import build_reference_workspace
from support.workspaces import query

pytestmark = pytest.mark.slow


def _started(run_id: str) -> dt.datetime:
    return dt.datetime.strptime(run_id.split("-")[0], "%Y%m%dT%H%M%S")


def _run(ws) -> str:
    result = run_pipeline(ws, "shop", RunOptions(jobs=2), reporter=PlainReporter(io.StringIO()))
    assert result.exit_code == 0, result.stages
    return result.run_id


def test_a_deleted_customer_who_returns_keeps_the_deleted_period(tmp_path):
    ws = build_reference_workspace(tmp_path / "shop")
    raw = ws.path("data/raw/customers.csv")
    text = raw.read_text()
    rows = list(csv.DictReader(io.StringIO(text)))
    gone = rows[0]["customer_id"]
    newest = max(dt.datetime.fromisoformat(r["updated_at"]) for r in rows if r["updated_at"])
    # the customer's versions before the edit: one current version
    (first_from,) = query(ws, f"SELECT valid_from FROM gold.dim_customer WHERE customer_id = {gone}")[0]

    with open(ws.path("data/raw/orders.csv"), newline="") as fh:
        ids = {r["order_id"] for r in csv.DictReader(fh) if r["customer_id"] == gone and r["order_id"].isdigit()}
    first_facts = query(ws, f"SELECT count(*) FROM gold.fct_orders WHERE order_id IN ({', '.join(ids)})")[0][0]
    lines = text.splitlines(keepends=True)
    raw.write_text("".join(line for line in lines if not line.startswith(f"{gone},")))  # deleted at the source
    deleted_in = _run(ws)
    # its orders are held in quarantine (orphan_customer) and the incremental fact table lets them go
    # (propagate_deletes), so no order lingers without its silver row and no country is "unknown"
    with open(ws.path("data/raw/orders.csv"), newline="") as fh:
        theirs = {
            int(r["order_id"]) for r in csv.DictReader(fh) if r["customer_id"] == gone and r["order_id"].isdigit()
        }
    assert theirs, "the generator gives every customer orders"
    in_facts_before = first_facts
    held = query(
        ws,
        f"SELECT DISTINCT order_id FROM quarantine.orders WHERE reason = 'orphan_customer' AND customer_id = '{gone}'",
    )
    assert {int(o) for (o,) in held} == theirs
    in_facts = query(ws, f"SELECT count(*) FROM gold.fct_orders WHERE order_id IN ({', '.join(map(str, theirs))})")
    assert in_facts == [(0,)]
    orphans = "SELECT count(*) FROM gold.fct_orders f WHERE NOT EXISTS (SELECT 1 FROM silver.orders s USING (order_id))"
    assert query(ws, orphans.replace("USING (order_id)", "WHERE s.order_id = f.order_id")) == [(0,)]
    assert query(ws, "SELECT count(*) FROM gold.mart_revenue_by_country WHERE country = 'unknown'") == [(0,)]
    raw.write_text(text)  # and back
    back_in = _run(ws)
    # its orders are back in the facts, however old (the lines of fct_order_lines reference them:
    # check_gold's relationships check fails the run otherwise)
    back = query(ws, f"SELECT count(*) FROM gold.fct_orders WHERE order_id IN ({', '.join(map(str, theirs))})")
    assert back == [(in_facts_before,)] and in_facts_before > 0

    history = query(
        ws,
        f"SELECT valid_from, valid_to, is_current FROM gold.dim_customer WHERE customer_id = {gone} ORDER BY valid_from",
    )
    assert history == [
        (first_from, _started(deleted_in), False),  # closed by the run that saw it gone
        (_started(back_in), None, True),  # open again from the run that saw it back
    ]
    assert _started(deleted_in) > newest  # not the data's newest updated_at, which hid the gap
    assert _started(back_in) > _started(deleted_in)  # the deleted period is there to see
    # one current row per customer, and no two versions of one customer overlap
    assert query(ws, "SELECT count(*) - count(DISTINCT customer_id) FROM gold.dim_customer WHERE is_current") == [(0,)]
    overlaps = query(
        ws,
        "SELECT count(*) FROM gold.dim_customer a JOIN gold.dim_customer b ON a.customer_id = b.customer_id"
        " AND a.scd_id < b.scd_id AND a.valid_from < coalesce(b.valid_to, TIMESTAMP '9999-12-31')"
        " AND b.valid_from < coalesce(a.valid_to, TIMESTAMP '9999-12-31')",
    )
    assert overlaps == [(0,)]
