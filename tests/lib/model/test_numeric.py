"""Tests for millpond.model.numeric.exact_mean and exact_quotient, on every backend (``con`` fixture).

Expected means are computed by Python's ``decimal`` module (exact, then rounded half
away from zero), never by an engine.
"""

from __future__ import annotations

import random
from decimal import ROUND_HALF_UP, Decimal, localcontext

import ibis
import pyarrow as pa
import pytest

from millpond.errors import MillpondError
from millpond.model.numeric import exact_mean, exact_quotient


def load(con, values, dtype: pa.DataType, groups=None):
    data = {"x": pa.array(values, dtype)}
    if groups is not None:
        data["g"] = pa.array(groups, pa.int64())
    return con.create_table("t", ibis.memtable(pa.table(data)))


def python_mean(values, scale: int) -> Decimal | None:
    present = [v for v in values if v is not None]
    if not present:
        return None
    with localcontext() as ctx:
        ctx.prec = 100
        mean = sum(present, Decimal(0)) / len(present)
        return mean.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)


def scalar(con, expr):
    table = con.to_pyarrow(expr.name("m").as_table())
    return table.column("m").type, table.column("m")[0].as_py()


def test_a_mean_of_a_thousandth_stays_a_thousandth(con):
    t = load(con, [Decimal("0.004"), Decimal("0.005"), Decimal("0.018"), None], pa.decimal128(10, 3))
    arrow_type, value = scalar(con, exact_mean(t.x, scale=3))
    assert arrow_type == pa.decimal128(38, 3)
    assert value == Decimal("0.009") and value.as_tuple().exponent == -3
    assert scalar(con, exact_mean(t.x))[1] == Decimal("0.009000000")  # default: own scale + 6


def test_plain_mean_of_a_decimal_rounds_to_its_scale_but_exact_mean_does_not(con):
    # 0.01 and 0.02 average to 0.015; Ibis types mean() as decimal(10, 2), so DuckDB gives 0.02.
    # PostgreSQL computes 0.015, which to_pyarrow() cannot fit into decimal(10, 2).
    t = load(con, [Decimal("0.01"), Decimal("0.02")], pa.decimal128(10, 2))
    assert t.x.mean().type() == ibis.dtype("decimal(10, 2)")
    assert scalar(con, exact_mean(t.x, scale=3)) == (pa.decimal128(38, 3), Decimal("0.015"))
    if con.name == "duckdb":  # AVG is the DOUBLE 0.01499..., cut to two places, differently by each path
        assert scalar(con, t.x.mean())[1] == Decimal("0.01")
        assert con.execute(t.x.mean()) == Decimal("0.02")
    else:
        with pytest.raises(pa.ArrowInvalid, match="Rescaling Decimal value would cause data loss"):
            scalar(con, t.x.mean())


def test_large_values_keep_every_digit(con):
    # A float holds ~16 significant digits; these means need 24.
    values = [
        Decimal("123456789012345678.123456"),
        Decimal("123456789012345678.123457"),
        Decimal("-0.000001"),
        Decimal("987654321098765432.999999"),
    ]
    t = load(con, values, pa.decimal128(38, 6))
    expected = python_mean(values, 9)
    # sum 1234567899123456789.246911, divided by 4
    assert expected == Decimal("308641974780864197.311727750")
    assert scalar(con, exact_mean(t.x, scale=9))[1] == expected


def test_random_values_of_33_digits_are_exact(con):
    rng = random.Random(3)
    for trial in range(5):
        values = [Decimal(rng.randint(-(10**33), 10**33)).scaleb(-3) for _ in range(rng.randint(2, 9))]
        con.drop_table("t", force=True)
        t = load(con, values, pa.decimal128(38, 3))
        assert scalar(con, exact_mean(t.x, scale=3))[1] == python_mean(values, 3), f"trial {trial}"


@pytest.mark.parametrize(
    ("values", "expected"),
    [([1, 2], 2), ([-1, -2], -2), ([1, 2, 2, 2], 2), ([0, 1], 1), ([0, -1], -1), ([5], 5)],
)
def test_ties_round_half_away_from_zero(con, values, expected):
    t = load(con, values, pa.int64())
    assert scalar(con, exact_mean(t.x, scale=0))[1] == Decimal(expected)


def test_no_values_gives_null(con):
    t = load(con, [None, None], pa.decimal128(10, 2))
    assert scalar(con, exact_mean(t.x))[1] is None


def test_grouped_with_where_matches_python_on_random_data(con):
    rng = random.Random(7)
    values = [Decimal(rng.randint(-(10**9), 10**9)).scaleb(-4) if rng.random() > 0.1 else None for _ in range(300)]
    groups = [rng.randint(1, 12) for _ in values]
    t = load(con, values, pa.decimal128(18, 4), groups)
    result = t.group_by("g").aggregate(m=exact_mean(t.x, scale=7), p=exact_mean(t.x, scale=4, where=t.x > 0))
    got = {r["g"]: (r["m"], r["p"]) for r in con.to_pyarrow(result).to_pylist()}
    expected = {}
    for g in set(groups):
        mine = [v for v, k in zip(values, groups, strict=True) if k == g]
        positive = [v for v in mine if v is not None and v > 0]
        expected[g] = (python_mean(mine, 7), python_mean(positive, 4))
    assert got == expected


def test_floats_and_impossible_scales_are_refused():
    t = ibis.table({"ratio": "float64", "price": "decimal(10, 2)"}, name="t")
    with pytest.raises(MillpondError, match="'ratio' is float64"):
        exact_mean(t.ratio)
    with pytest.raises(MillpondError, match="scale 1 of 'price' must be between its own scale 2"):
        exact_mean(t.price, scale=1)


def python_quotient(total: Decimal, count: int, scale: int) -> Decimal | None:
    if count == 0:
        return None
    with localcontext() as ctx:
        ctx.prec = 100
        return (total / count).quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)


def quotient_cases() -> list[tuple[Decimal, int]]:
    """Totals of decimal(18, 2) up to all 18 digits, counts up to 2**47, exact ties, zero counts."""
    rng = random.Random(11)
    largest = 10**18 - 1  # in cents
    cases = [
        (largest, 1),
        (-largest, 1),
        (largest, 2),
        (-largest, 2),
        (largest, 7),
        (largest, 2**47 - 1),
        (1, 2),
        (-1, 2),
        (3, 2),
        (-3, 2),
        (1, 3),
        (0, 5),
        (5, 0),
        (0, 0),
        (largest - 1, 2),
        (1, 2**47 - 1),
    ]
    for _ in range(400):
        digits = rng.choice([1, 3, 8, 13, 16, 17, 18])
        count = rng.choice([1, 2, 3, 7, 10, rng.randint(1, 10**4), rng.randint(1, 10**9), rng.randint(1, 2**47)])
        cents = rng.randint(-(10**digits - 1), 10**digits - 1)
        cases.append((cents, count))
        half = rng.randint(1, 10**6) * 2  # an exact tie: a multiple of the count plus half of it
        quotient = rng.randint(-(10**11), 10**11)
        cases.append((quotient * half + (half // 2 if quotient >= 0 else -(half // 2)), half))
    return [(Decimal(cents).scaleb(-2), count) for cents, count in cases]


def test_exact_quotient_of_cents_matches_python_to_the_last_of_18_digits(con):
    cases = quotient_cases()
    data = pa.table(
        {
            "total": pa.array([t for t, _ in cases], pa.decimal128(18, 2)),
            "n": pa.array([n for _, n in cases], pa.int64()),
        }
    )
    t = con.create_table("q", ibis.memtable(data))
    # decimal(18, 2) takes the integer path; the same totals as decimal(38, 2) the decimal one
    result = t.select(
        narrow=exact_quotient(t.total, t.n, 2),
        wide=exact_quotient(t.total.cast("decimal(38, 2)"), t.n, 2),
        fine=exact_quotient(t.total, t.n, 4),
    )
    got = con.to_pyarrow(result)
    assert got.schema.field("narrow").type == pa.decimal128(38, 2)
    for column, scale in (("narrow", 2), ("wide", 2), ("fine", 4)):
        expected = [python_quotient(total, n, scale) for total, n in cases]
        wrong = [
            (case, g, e) for case, g, e in zip(cases, got.column(column).to_pylist(), expected, strict=True) if g != e
        ]
        assert not wrong, f"{column}: {len(wrong)} of {len(cases)} differ, e.g. {wrong[:3]}"


def test_exact_quotient_takes_the_integer_path_only_when_the_units_fit_in_18_digits():
    t = ibis.table(
        {
            "money": "decimal(18, 2)",
            "wide": "decimal(38, 2)",
            "i": "int32",
            "big": "int64",
            "milli": "decimal(18, 3)",
            "n": "int64",
        },
        name="t",
    )

    def integer_path(total, scale):
        return "FLOOR" in ibis.to_sql(t.select(m=exact_quotient(total, t.n, scale)), dialect="duckdb")

    assert integer_path(t.money, 2)
    assert not integer_path(t.money, 3)  # 19 digits of tenths of a cent
    assert not integer_path(t.wide, 2)
    assert integer_path(t.i, 8) and not integer_path(t.i, 9)
    assert not integer_path(t.big, 0)
    assert not integer_path(t.milli, 2)  # fewer places than the total's own: the decimal path rounds
