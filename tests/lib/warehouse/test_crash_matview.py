"""A real ``SIGKILL`` in the middle of a materialized view's refresh leaves the previous refresh.

A child Python process grows the upstream ``silver.events`` to ids ``0 .. rows - 1``
(``shop = id // 10``, ``amount = id % 7``), then refreshes ``gold.mv`` over it, one of:

- ``full``: the rows with ``amount % 3 != 0``, no watermark: rebuilt whole by the swap;
- ``rows``: the same rows, ``watermark="seq"``: the new upstream rows are inserted;
- ``groups``: count and sum of amount by shop, ``watermark="id"``: the shops the new
  rows touch are deleted and recomputed.

The parent kills the child between the statements of the refresh's transaction (its rows
written, the refresh state in ``_millpond.materialized_views`` not yet), then checks that
the view and its state are those of the previous refresh, so that the next build
refreshes the same way (incrementally for ``rows`` and ``groups``) and ends with exactly
the rows of one refresh, and a build after it is ``up to date``.
"""

from __future__ import annotations

import json
import textwrap

import pytest
from test_crash import (  # noqa: F401 - the fixture and the child's pausing transaction
    PAUSING_TRANSACTION,
    Warehouse,
    kill_at,
    run_to_completion,
    start_child,
    warehouse,
)

MATVIEW_CHILD = PAUSING_TRANSACTION + textwrap.dedent(
    """
    import json, sys
    import ibis
    import millpond.warehouse.matview as matview_module
    import millpond.warehouse.swap as swap_module
    from millpond.warehouse.sql import fetch, run_in_transaction
    from millpond.warehouse.materialize import materialize

    engine, target, rows, slow, shape = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "slow", sys.argv[5]
    con = ibis.duckdb.connect(target) if engine == "duckdb" else ibis.postgres.connect(**json.loads(target))
    # the upstream only gains rows: ids from its end up to rows - 1
    run_in_transaction(con, ["CREATE SCHEMA IF NOT EXISTS silver",
                             "CREATE TABLE IF NOT EXISTS silver.events (id BIGINT, shop BIGINT, amount BIGINT)"])
    start = fetch(con, "SELECT coalesce(max(id) + 1, 0) FROM silver.events")[0][0]
    run_in_transaction(con, ["INSERT INTO silver.events SELECT g, CAST(floor(g / 10.0) AS BIGINT), g % 7 "
                             f"FROM generate_series({start}, {rows - 1}) AS t(g)"])
    if slow:
        matview_module.run_in_transaction = swap_module.run_in_transaction = pausing_transaction
    events = con.table("events", database="silver")
    kept = events.filter(events.amount % 3 != 0)
    expr, watermark = {
        "full": (kept, None),
        "rows": (kept.select(seq=kept.id, shop=kept.shop, amount=kept.amount), "seq"),
        "groups": (events.group_by("shop").agg(n=events.count(), total=events.amount.sum()), "id"),
    }[shape]
    print("started", flush=True)
    built = materialize(con, expr, "gold.mv", kind="materialized_view", watermark=watermark,
                        upstream_version=lambda name: f"{rows} rows")
    print("done", built.refresh, flush=True)
    """
)


def expected(shape: str, rows: int) -> list[tuple]:
    """The view over upstream ids ``0 .. rows - 1``, computed here from the upstream's definition."""
    if shape != "groups":
        return sorted((i, i // 10, i % 7) for i in range(rows) if i % 7 % 3 != 0)
    shops = sorted({i // 10 for i in range(rows)})
    return [
        (s, sum(1 for i in range(rows) if i // 10 == s), sum(i % 7 for i in range(rows) if i // 10 == s)) for s in shops
    ]


def view_state(wh: Warehouse) -> tuple[list[tuple], tuple]:
    """gold.mv's rows and its stored refresh state (watermark maximum, upstream rows, shape, refreshes)."""
    view = sorted(tuple(int(v) for v in r) for r in wh.query('SELECT * FROM "gold"."mv"'))
    state = wh.query(
        "SELECT upstream, upstream_max, upstream_rows, view_shape, refreshes "
        'FROM "_millpond"."materialized_views" WHERE name = \'gold.mv\''
    )
    assert len(state) == 1
    return view, state[0]


# Each kill point is inside the refresh's one transaction: the state rows come last.
KILLS = {
    "full": ["tx ALTER TABLE gold._mp_tmp_mv", "tx DELETE FROM _millpond.materialized_views"],
    "rows": ["tx INSERT INTO gold.mv", "tx DELETE FROM _millpond.materialized_views"],
    "groups": ["tx DELETE FROM gold.mv", "tx INSERT INTO gold.mv", "tx INSERT INTO _millpond.materialized_views"],
}
REFRESH = {"full": "refreshed whole", "rows": "refreshed incrementally", "groups": "refreshed incrementally"}


@pytest.mark.parametrize("shape", ["full", "rows", "groups"])
def test_sigkill_mid_refresh_leaves_the_previous_refresh(tmp_path, warehouse, shape):  # noqa: F811 - the fixture, imported
    wh = warehouse
    # 95 ids: shop 9 holds 5 of its 10; growing to 130 touches shop 9 and adds shops 10 to 12
    assert run_to_completion(tmp_path, wh, 95, shape, script=MATVIEW_CHILD) == "done refreshed whole"
    before = view_state(wh)
    upstream, top, upstream_rows, shape_json, refreshes = before[1]
    assert before[0] == expected(shape, 95) and json.loads(shape_json)[0] == len(before[0])
    assert json.loads(upstream) == {"silver.events": "95 rows"} and refreshes == 1
    assert (top, upstream_rows) == ((None, None) if shape == "full" else ("94", 95))

    for marker in KILLS[shape]:
        kill_at(start_child(tmp_path, wh, 130, True, shape, script=MATVIEW_CHILD), marker)
        assert view_state(wh) == before, f"killed at {marker}"
    assert wh.staging() != []  # what the kills left, until the next refresh drops it

    assert run_to_completion(tmp_path, wh, 130, shape, script=MATVIEW_CHILD) == f"done {REFRESH[shape]}"
    view, (upstream, top, upstream_rows, shape_json, refreshes) = view_state(wh)
    assert view == expected(shape, 130) and json.loads(shape_json)[0] == len(view)
    assert (json.loads(upstream), refreshes) == ({"silver.events": "130 rows"}, 2)
    assert wh.staging() == []
    assert run_to_completion(tmp_path, wh, 130, shape, script=MATVIEW_CHILD) == "done up to date"
    assert view_state(wh)[0] == expected(shape, 130)
