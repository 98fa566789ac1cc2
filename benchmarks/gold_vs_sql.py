"""Transform cost: each gold build through Ibis as a ratio to hand-written DuckDB SQL.

Copies the reference workspace to a temporary folder, generates the shop at ``--scale``
(default 30: 150,000 orders, 370,000 order lines), runs `millpond run shop` once,
then opens the warehouse file directly and, for every gold table, times ``--repeat``
alternating rounds (after one warm-up of each) of:

A. **Ibis**: the expression the stage notebook builds (the ``shop.gold`` /
   ``marketing`` function on the silver or gold input tables; for ``dim_customer`` this
   includes the query that finds the snapshot time) and
   ``millpond.engines.duckdb_ctas.create_table_as`` of it (one ``CREATE TABLE AS`` casting to
   Ibis's types), which is how ``ctx.materialize`` builds a table, minus its bookkeeping.
   The connection compiles through the workspace's cache of compiled SQL, as every
   connection ``millpond`` opens does (``millpond.warehouse.compile_cache``), warm from the
   run before, as on every run after the first with unchanged code. ``compile`` is Ibis's
   own compile (on a connection without the cache) and ``no cache`` adds it back: the
   ratio of a first run. ``ibis ct`` times Ibis's ``con.create_table(..., overwrite=True)``
   instead of ``create_table_as``;
B. **engine**: Ibis's compiled SQL run by hand as one ``CREATE TABLE ... AS``: the
   query's own cost, so A - B is what Ibis adds in Python and statements (its columns keep
   DuckDB's own types, e.g. DECIMAL(38, 2) where Ibis elides a cast to decimal(18, 2) that
   A's CREATE TABLE AS and create_table's INSERT apply);
C. **SQL**: one hand-written ``CREATE TABLE ... AS SELECT`` giving the same table.

Both write to a ``bench`` schema; the two results must be equal (same column names and
types, ``EXCEPT ALL`` empty both ways) or the script fails. It prints per-table medians in
milliseconds and the ratios A / C and B / C, then (unless ``--no-bookkeeping``) the whole
``ctx.materialize`` path of each table (schema check, contract, versions, the compiled SQL
kept for lineage, lake publishing, plus the monitors' profile the runner's stage records)
against the plain ``create_table`` on the same connection.

A last row, ``floor``, is no gold table: one column of the 31-row ``dim_date`` read and
built the same three ways, the smallest build there is. Its Ibis time minus its SQL time
is what building any table through Ibis costs in Python besides its query.

``dim_customer`` is timed twice: its first build (no previous snapshot) and a rerun over
the snapshot the run left, which is what the notebook does on every later run.
``fct_orders`` is built whole here; the notebook merges it incrementally once it exists
(the whole-path part times it with ``full_refresh``, as ``--full-refresh gold.fct_orders``).

Each side builds a new table, as ``ctx.materialize`` does (it swaps the old one out
afterwards): the table of the round before is dropped, untimed, and a ``CHECKPOINT``
(untimed) precedes every timed build, so DuckDB's automatic checkpoints do not land in one
side's timings. Ibis's own compile, for the ``compile`` column, runs after A: what it
leaves for Python's collector would otherwise land in A's timing, and a stage never compiles
twice. The whole run takes about 4 minutes at the default scale.

    .venv/bin/python benchmarks/gold_vs_sql.py [--scale 30] [--repeat 5] [--workspace PATH] [--keep]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from timing import median, timed

REPO = Path(__file__).resolve().parents[1]
MILLPOND = str(Path(sys.executable).parent / "millpond")
START, RUN_DATE = dt.date(2024, 1, 1), dt.date(2024, 1, 31)  # the pipeline's default parameters
SCHEMA = "bench"
FLOOR = "floor"

DATE_KEY = "(year({d}) * 10000 + month({d}) * 100 + day({d}))::INTEGER"

# The hand-written side: what an analyst who knows DuckDB would write for each table.
SQL: dict[str, str] = {
    "dim_customer_first": """
        SELECT md5(customer_id::VARCHAR) AS customer_key, customer_id, first_name, last_name, email, phone,
               country, signup_date, updated_at,
               md5(customer_id::VARCHAR || '|' || coalesce(strftime(updated_at, '%Y-%m-%d %H:%M:%S.%f'), ''))
                   AS scd_id,
               updated_at AS valid_from, NULL::TIMESTAMP AS valid_to, true AS is_current
        FROM silver.customers
        ORDER BY customer_id, valid_from
    """,
    # Type 2 by updated_at over the snapshot the last run left: close changed and deleted
    # current versions, open versions for changed, new and returning customers.
    "dim_customer": """
        WITH src AS (
            SELECT md5(customer_id::VARCHAR) AS customer_key, customer_id, first_name, last_name, email, phone,
                   country, signup_date, updated_at
            FROM silver.customers
        ),
        snapshot_time AS (
            SELECT greatest(max(updated_at), (SELECT max(valid_from) FROM gold.dim_customer)) AS now
            FROM silver.customers
        ),
        kept AS (
            SELECT p.* EXCLUDE (valid_to, is_current),
                   CASE WHEN NOT p.is_current THEN p.valid_to
                        WHEN s.customer_id IS NULL THEN (SELECT now FROM snapshot_time)
                        WHEN s.updated_at > p.updated_at THEN s.updated_at
                        ELSE p.valid_to END AS valid_to
            FROM gold.dim_customer AS p
            LEFT JOIN src AS s ON s.customer_id = p.customer_id
        ),
        current_versions AS (SELECT customer_id, updated_at FROM gold.dim_customer WHERE is_current),
        seen AS (SELECT DISTINCT customer_id FROM gold.dim_customer),
        opened AS (  -- changed and new customers open at updated_at, returning ones at the snapshot time
            SELECT s.*, CASE WHEN c.customer_id IS NULL AND seen.customer_id IS NOT NULL
                             THEN (SELECT now FROM snapshot_time) ELSE s.updated_at END AS valid_from
            FROM src AS s
            LEFT JOIN current_versions AS c ON c.customer_id = s.customer_id
            LEFT JOIN seen ON seen.customer_id = s.customer_id
            WHERE c.customer_id IS NULL OR s.updated_at > c.updated_at
        )
        SELECT * EXCLUDE (valid_to), valid_to, valid_to IS NULL AS is_current FROM kept
        UNION ALL
        SELECT * EXCLUDE (valid_from),
               md5(customer_id::VARCHAR || '|' || coalesce(strftime(valid_from, '%Y-%m-%d %H:%M:%S.%f'), ''))
                   AS scd_id,
               valid_from, NULL::TIMESTAMP AS valid_to, true AS is_current
        FROM opened
        ORDER BY customer_id, valid_from
    """,
    "dim_product": """
        SELECT row_number() OVER (ORDER BY product_id) AS product_key, product_id, sku, name, category,
               unit_price, active
        FROM silver.products
        ORDER BY product_key
    """,
    "dim_date": f"""
        SELECT {DATE_KEY.format(d="d")} AS date_key, d AS date, year(d)::INTEGER AS year,
               month(d)::INTEGER AS month, day(d)::INTEGER AS day, isodow(d)::SMALLINT AS weekday,
               dayname(d) AS weekday_name, isodow(d) >= 6 AS is_weekend
        FROM (SELECT range::DATE AS d FROM range(DATE '{START}', DATE '{RUN_DATE}' + 1, INTERVAL 1 DAY))
        ORDER BY date
    """,
    "fct_orders": f"""
        WITH lines AS (
            SELECT order_id, count(*) AS line_count, sum(quantity)::BIGINT AS items,
                   sum(quantity * unit_price) AS gross_amount, sum(discount) AS discount_amount,
                   sum(quantity * unit_price - discount) AS net_amount
            FROM silver.order_lines GROUP BY order_id
        ),
        paid AS (
            SELECT order_id, count(*) AS payment_count, sum(amount) AS paid_amount, max(paid_ts) AS last_paid_ts
            FROM silver.payments GROUP BY order_id
        ),
        customer_keys AS (SELECT DISTINCT customer_id, customer_key FROM gold.dim_customer)
        SELECT o.order_id, k.customer_key, {DATE_KEY.format(d="o.order_date")} AS date_key, o.order_ts,
               o.order_date, o.status, o.currency, o.channel,
               coalesce(l.line_count, 0) AS line_count, coalesce(l.items, 0) AS items,
               coalesce(l.gross_amount, 0)::DECIMAL(18, 2) AS gross_amount,
               coalesce(l.discount_amount, 0)::DECIMAL(18, 2) AS discount_amount,
               coalesce(l.net_amount, 0)::DECIMAL(18, 2) AS net_amount,
               coalesce(p.payment_count, 0) AS payment_count,
               coalesce(p.paid_amount, 0)::DECIMAL(18, 2) AS paid_amount,
               o.status <> 'cancelled' AS is_revenue,
               greatest(o.order_ts, p.last_paid_ts) AS updated_at
        FROM silver.orders AS o
        LEFT JOIN lines AS l USING (order_id)
        LEFT JOIN paid AS p USING (order_id)
        LEFT JOIN customer_keys AS k USING (customer_id)
        ORDER BY o.order_id
    """,
    "fct_order_lines": f"""
        SELECT l.order_line_id, l.order_id, p.product_key, {DATE_KEY.format(d="o.order_date")} AS date_key,
               l.quantity, l.unit_price, l.discount,
               (l.quantity * l.unit_price - l.discount)::DECIMAL(18, 2) AS amount,
               o.status <> 'cancelled' AS is_revenue
        FROM silver.order_lines AS l
        JOIN silver.orders AS o USING (order_id)
        JOIN gold.dim_product AS p USING (product_id)
        ORDER BY l.order_line_id
    """,
    # avg_order_value: the exact mean, rounded half away from zero to cents, in integer cents.
    "mart_daily_revenue": f"""
        WITH daily AS (
            SELECT date_key,
                   count(*) FILTER (is_revenue) AS orders,
                   sum(net_amount) FILTER (is_revenue) AS revenue,
                   sum(items) FILTER (is_revenue) AS items,
                   count(DISTINCT customer_key) FILTER (is_revenue) AS customers,
                   (sum(net_amount) FILTER (is_revenue) * 100)::HUGEINT AS cents,
                   count(*) FILTER (NOT is_revenue) AS cancelled_orders
            FROM gold.fct_orders
            WHERE order_date <= DATE '{RUN_DATE}'
            GROUP BY date_key
        )
        SELECT d.date, d.date_key, coalesce(orders, 0) AS orders,
               coalesce(revenue, 0)::DECIMAL(18, 2) AS revenue, coalesce(items, 0)::BIGINT AS items,
               coalesce(customers, 0) AS customers,
               ((sign(cents) * ((2 * abs(cents) + orders) // (2 * orders)))::DECIMAL(18, 0) * 0.01)::DECIMAL(18, 2)
                   AS avg_order_value,
               coalesce(cancelled_orders, 0) AS cancelled_orders
        FROM gold.dim_date AS d
        LEFT JOIN daily USING (date_key)
        WHERE d.date <= DATE '{RUN_DATE}'
        ORDER BY d.date
    """,
    "mart_revenue_by_country": """
        SELECT coalesce(c.country, 'unknown') AS country, count(DISTINCT o.customer_key) AS customers,
               count(*) AS orders, sum(o.net_amount)::DECIMAL(18, 2) AS revenue
        FROM gold.fct_orders AS o
        LEFT JOIN gold.dim_customer AS c ON c.customer_key = o.customer_key AND c.is_current
        WHERE o.is_revenue
        GROUP BY ALL
        ORDER BY revenue DESC, country
    """,
    # Not a gold table: the smallest build there is, what building any table through Ibis
    # costs besides its query (a read, one select, create_table_as).
    FLOOR: "SELECT date_key FROM gold.dim_date",
}


@dataclass
class Build:
    """One gold table: the Ibis expression as its notebook builds it, and how ctx.materialize is called."""

    name: str
    expr: Callable  # (table reader) -> ir.Table
    target: str  # the warehouse table the notebook materializes
    options: dict


def gold_builds() -> list[Build]:
    from millpond.model.scd import existing_snapshot
    from shop import gold, marketing

    def previous(t):  # what notebooks/gold/30_build_dim_customer.ipynb passes on a rerun
        return existing_snapshot(t.con, "gold.dim_customer")

    return [
        Build("dim_customer_first", lambda t: gold.dim_customer(t("silver.customers"), None), "", {}),
        Build("dim_customer", lambda t: gold.dim_customer(t("silver.customers"), previous(t)), "gold.dim_customer", {}),
        Build("dim_product", lambda t: gold.dim_product(t("silver.products")), "gold.dim_product", {}),
        Build("dim_date", lambda t: gold.dim_date(START, RUN_DATE), "gold.dim_date", {}),
        Build(
            "fct_orders",
            lambda t: gold.fct_orders(
                t("silver.orders"), t("silver.order_lines"), t("silver.payments"), t("gold.dim_customer")
            ),
            "gold.fct_orders",
            {
                "kind": "incremental",
                "strategy": "merge",
                "unique_key": "order_id",
                "watermark": "updated_at",
                "lookback": "3d",
                "full_refresh": True,
            },
        ),
        Build(
            "fct_order_lines",
            lambda t: gold.fct_order_lines(t("silver.order_lines"), t("silver.orders"), t("gold.dim_product")),
            "gold.fct_order_lines",
            {},
        ),
        Build(
            "mart_daily_revenue",
            lambda t: gold.mart_daily_revenue(t("gold.fct_orders"), t("gold.dim_date"), RUN_DATE),
            "gold.mart_daily_revenue",
            {},
        ),
        Build(
            "mart_revenue_by_country",
            lambda t: marketing.revenue_by_country(t("gold.fct_orders"), t("gold.dim_customer")),
            "gold.mart_revenue_by_country",
            {},
        ),
        Build(FLOOR, lambda t: t("gold.dim_date").select("date_key"), "", {}),
    ]


class Reader:
    """``t("layer.table")`` on one Ibis connection, as ``ctx.table`` reads it."""

    def __init__(self, con):
        self.con = con

    def __call__(self, name: str):
        from millpond.engines import described_table

        schema, table = name.split(".")
        return described_table(self.con, table, schema)


def make_workspace(scale: float) -> Path:
    """A fresh copy of the reference workspace at ``scale``, built once by `millpond run shop`."""
    from shop.generate import generate

    root = Path(tempfile.mkdtemp(prefix="millpond-gold-sql-"))
    for name in ("millpond.yml", "pipelines", "notebooks"):
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, root / name)
    t0 = time.perf_counter()
    manifest = generate(root / "data" / "raw", seed=42, scale=scale)
    print(
        f"generated scale {scale:g} in {time.perf_counter() - t0:.1f} s: {manifest.valid_rows['orders']:,} orders, "
        f"{manifest.valid_rows['order_lines']:,} order lines, {manifest.valid_rows['customers']:,} customers"
    )
    seconds = timed([MILLPOND, "run", "shop", "--jobs", "2", "--plain", "-C", str(root)], root)
    print(f"`millpond run shop --jobs 2` took {seconds:.1f} s")
    return root


def _ms(seconds: list[float]) -> float:
    return median(seconds) * 1000


def check_equal(raw, name: str, other: str = "sql") -> int:
    """Fail unless ``bench.ibis_<name>`` and ``bench.<other>_<name>`` hold the same rows and columns."""
    a, b = f"{SCHEMA}.ibis_{name}", f"{SCHEMA}.{other}_{name}"
    cols = [raw.execute(f"DESCRIBE {t}").fetchall() for t in (a, b)]
    types = [[(c[0], c[1]) for c in t] for t in cols]
    if types[0] != types[1]:
        sys.exit(f"{name}: columns differ\n  ibis: {types[0]}\n  sql:  {types[1]}")
    for left, right in ((a, b), (b, a)):
        extra = raw.execute(f"SELECT count(*) FROM (FROM {left} EXCEPT ALL FROM {right})").fetchone()[0]
        if extra:
            sample = raw.execute(f"FROM {left} EXCEPT ALL FROM {right} LIMIT 3").fetchall()
            sys.exit(f"{name}: {extra} rows of {left} are not in {right}, e.g. {sample}")
    return raw.execute(f"SELECT count(*) FROM {a}").fetchone()[0]


def ibis_vs_sql(root: Path, builds: list[Build], repeat: int) -> dict[str, dict[str, float]]:
    """Medians (ms) per table of the Ibis build, its compile, create_table, Ibis's SQL run by hand and the
    hand-written SQL; fails unless the Ibis and hand-written tables are equal."""
    import ibis

    from millpond.engines import create_table_as
    from millpond.warehouse.compile_cache import CompiledSqlCache, cache_compiles
    from millpond.warehouse.connect import COMPILED_SQL_FILE
    from millpond.workspace import Workspace

    workspace = Workspace(root)
    con = ibis.duckdb.connect(str(workspace.warehouse_file()))
    cache_compiles(con, CompiledSqlCache(workspace.meta_dir / COMPILED_SQL_FILE))  # as millpond's connections do
    uncached = ibis.duckdb.connect()  # Ibis's own compile, for the "compile" column
    raw = con.con
    raw.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    t = Reader(con)
    results = {}
    try:
        for build in builds:
            samples: dict[str, list[float]] = {
                "build": [],
                "compile": [],
                "create": [],
                "engine": [],
                "sql": [],
                "ibis_ct": [],
            }
            sql = f"CREATE TABLE {SCHEMA}.sql_{build.name} AS {SQL[build.name]}"

            def fresh(table: str) -> None:
                """No ``table``, and an empty WAL: each side builds a new table, as ctx.materialize
                does (it swaps the old one out afterwards), and no checkpoint lands in a timing."""
                raw.execute(f"DROP TABLE IF EXISTS {SCHEMA}.{table}")
                raw.execute("CHECKPOINT")

            for round_ in range(repeat + 1):  # round 0 warms up
                fresh(f"ibis_{build.name}")
                t0 = time.perf_counter()
                expr = build.expr(t)
                t1 = time.perf_counter()
                create_table_as(con, f"ibis_{build.name}", expr, SCHEMA)  # how ctx.materialize builds it
                t2 = time.perf_counter()
                compiled = uncached.compile(expr)  # after the build: its garbage must not land in one
                t3 = time.perf_counter()
                raw.execute("CHECKPOINT")
                t8 = time.perf_counter()
                con.create_table(f"ct_{build.name}", build.expr(t), database=SCHEMA, overwrite=True)
                t9 = time.perf_counter()
                fresh(f"engine_{build.name}")
                t4 = time.perf_counter()
                raw.execute(f"CREATE TABLE {SCHEMA}.engine_{build.name} AS {compiled}")
                t5 = time.perf_counter()
                fresh(f"sql_{build.name}")
                t6 = time.perf_counter()
                raw.execute(sql)
                t7 = time.perf_counter()
                if round_:
                    for key, seconds in zip(samples, (t1 - t0, t3 - t2, t2 - t1, t5 - t4, t7 - t6, t9 - t8)):
                        samples[key].append(seconds)
            rows = check_equal(raw, build.name)
            check_equal(raw, build.name, "ct")  # the same table as Ibis's create_table
            results[build.name] = r = {"rows": rows, **{k: _ms(v) for k, v in samples.items()}}
            ibis_ms = r["build"] + r["create"]
            print(
                f"  {build.name:<24}{rows:>10,}{r['build']:>8.1f}{r['compile']:>9.1f}{r['create']:>9.1f}"
                f"{ibis_ms:>9.1f}{r['engine']:>9.1f}{r['sql']:>9.1f}{ibis_ms / r['sql']:>7.2f}"
                f"{(ibis_ms + r['compile']) / r['sql']:>10.2f}{r['engine'] / r['sql']:>8.2f}"
                f"{(r['build'] + r['ibis_ct']) / r['sql']:>9.2f}",
                flush=True,
            )
        raw.execute(f"DROP SCHEMA {SCHEMA} CASCADE")
    finally:
        con.disconnect()
        uncached.disconnect()
    return results


def whole_path(root: Path, builds: list[Build], repeat: int) -> dict[str, dict[str, float]]:
    """Medians (ms) of plain create_table vs ctx.materialize + the monitors' profile, on the stage's connection."""
    from millpond.quality.monitors import profile_table
    from millpond.stage_api.context import StageContext
    from millpond.workspace import Workspace

    os.environ["MILLPOND_PIPELINE"] = "shop"
    ctx = StageContext(Workspace(root))
    results = {}
    try:
        con = ctx.con
        con.raw_sql(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        t = Reader(con)
        for build in builds:
            if not build.target:
                continue
            samples: dict[str, list[float]] = {"plain": [], "materialize": [], "profile": []}
            for round_ in range(repeat + 1):
                t0 = time.perf_counter()
                con.create_table(f"plain_{build.name}", build.expr(t), database=SCHEMA, overwrite=True)
                t1 = time.perf_counter()
                ctx.materialize(build.expr(t), build.target, **build.options)
                t2 = time.perf_counter()
                profile_table(t(build.target), build.target)
                t3 = time.perf_counter()
                if round_:
                    for key, seconds in zip(samples, (t1 - t0, t2 - t1, t3 - t2)):
                        samples[key].append(seconds)
            results[build.name] = r = {k: _ms(v) for k, v in samples.items()}
            whole = r["materialize"] + r["profile"]
            print(
                f"  {build.name:<24}{r['plain']:>9.1f}{r['materialize']:>13.1f}{r['profile']:>9.1f}"
                f"{whole:>9.1f}{whole / r['plain']:>8.2f}",
                flush=True,
            )
        con.raw_sql(f"DROP SCHEMA {SCHEMA} CASCADE")
    finally:
        ctx.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=30.0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workspace", type=Path, help="an already built copy of the workspace (skips generate + run)")
    parser.add_argument("--tables", nargs="+", metavar="NAME", help=f"only these (of {', '.join(SQL)})")
    parser.add_argument("--no-bookkeeping", action="store_true", help="skip the whole ctx.materialize path")
    parser.add_argument(
        "--show-sql", metavar="NAME", help="print Ibis's compiled SQL of NAME and the hand SQL, then exit"
    )
    parser.add_argument("--keep", action="store_true", help="keep the workspace and print its path")
    args = parser.parse_args()

    builds = [b for b in gold_builds() if not args.tables or b.name in args.tables]
    root = args.workspace.resolve() if args.workspace else make_workspace(args.scale)
    db_file = root / "data" / "warehouse.duckdb"
    if args.show_sql:
        import ibis

        con = ibis.duckdb.connect(str(db_file), read_only=True)
        (build,) = [b for b in gold_builds() if b.name == args.show_sql]
        print(
            f"-- Ibis\n{ibis.to_sql(build.expr(Reader(con)), dialect='duckdb')}\n\n-- hand-written\n{SQL[build.name]}"
        )
        return
    try:
        print(f"\nIbis vs hand-written SQL, median of {args.repeat} alternating rounds (ms)")
        print(
            f"  {'table':<24}{'rows':>10}{'build':>8}{'compile':>9}{'create':>9}{'ibis':>9}{'engine':>9}{'sql':>9}"
            f"{'ratio':>7}{'no cache':>10}{'engine/sql':>11}{'ibis ct':>8}"
        )
        results = ibis_vs_sql(root, builds, args.repeat)
        floor = results.pop(FLOOR, None)
        total = {
            key: sum(r[key] for r in results.values())
            for key in ("build", "compile", "create", "engine", "sql", "ibis_ct")
        }
        ibis_total = total["build"] + total["create"]
        print(
            f"  {'total':<24}{'':>10}{total['build']:>8.1f}{total['compile']:>9.1f}{total['create']:>9.1f}"
            f"{ibis_total:>9.1f}{total['engine']:>9.1f}{total['sql']:>9.1f}{ibis_total / total['sql']:>7.2f}"
            f"{(ibis_total + total['compile']) / total['sql']:>10.2f}{total['engine'] / total['sql']:>8.2f}{(total['build'] + total['ibis_ct']) / total['sql']:>9.2f}"
        )
        print(
            "  ibis = build (the gold function, with any query it runs) + create (how ctx.materialize builds it:\n"
            "  millpond.engines.duckdb_ctas, one compile, through the cache of compiled SQL, and one CREATE TABLE AS\n"
            "  casting to Ibis's types). compile = Ibis's own compile, without the cache; no cache = (ibis + compile)\n"
            "  / sql, as on the first run after the code changed. engine = Ibis's compiled SQL run by hand as one CREATE TABLE ... AS: the\n"
            "  query's own cost. ibis ct = build + Ibis's own create_table (CREATE, INSERT ... SELECT, DROP, RENAME),\n"
            "  as a ratio to sql."
        )
        if floor:
            print(
                f"  {FLOOR} is no gold table (not in the total): one column of the 31-row dim_date, the smallest build\n"
                f"  there is; its ibis - sql, {floor['build'] + floor['create'] - floor['sql']:.1f} ms, is what any build costs "
                "in Python besides its query."
            )
        slow = [n for n, r in results.items() if (r["build"] + r["create"]) / r["sql"] > 1.1]
        print(
            f"  ibis over 1.1x sql: {', '.join(slow) or 'none'}; engine over 1.1x sql: "
            f"{', '.join(n for n, r in results.items() if r['engine'] / r['sql'] > 1.1) or 'none'}"
        )
        if not args.no_bookkeeping:
            print(
                f"\nThe whole ctx.materialize path vs plain create_table, same connection, median of {args.repeat} (ms)"
            )
            print(f"  {'table':<24}{'plain':>9}{'materialize':>13}{'profile':>9}{'whole':>9}{'ratio':>8}")
            whole = whole_path(root, builds, args.repeat)
            plain = sum(r["plain"] for r in whole.values())
            total = sum(r["materialize"] + r["profile"] for r in whole.values())
            print(f"  {'total':<24}{plain:>9.1f}{'':>13}{'':>9}{total:>9.1f}{total / plain:>8.2f}")
    finally:
        if args.keep or args.workspace:
            print(f"workspace: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
