"""Issue 21.5: a failing check's sample reads right: the failing column first and marked, its
unexpected values with counts (as GX shows them), numbers without float noise, and for
``unique`` how many keys are duplicated over how many rows."""

from __future__ import annotations

import re

from millpond.report.quality import write_quality_report
from millpond.run.runner import run_pipeline
from millpond.workspace import Workspace
from support.stores import store_of
from support.workspaces import make_workspace, write_notebook

# weather readings: 3 keys (origin, hour) sent twice = 6 failing rows of `unique`;
# wind speeds, two of them impossible (over 200)
READINGS = (
    "import millpond as mp, ibis\nctx = mp.stage()",
    "ctx.materialize(ibis.memtable({\n"
    "    'tailnum': ['N1', 'N2', 'N3', 'N4', 'N5', 'N6', 'N7', 'N8'],\n"
    "    'origin': ['EWR', 'EWR', 'JFK', 'JFK', 'LGA', 'LGA', 'EWR', 'JFK'],\n"
    "    'hour': [1, 1, 2, 2, 3, 3, 4, 5],\n"
    "    'wind_speed': [6.904679999999999, 602.0, 3.5, 1042.0, 4.0, 5.0, 6.0, 7.0],\n"
    "}), 'bronze.weather')",
)


def _run(tmp_path) -> Workspace:
    write_notebook(tmp_path / "notebooks/weather.ipynb", "x = 0", *READINGS)
    checks = [
        {"unique": {"columns": ["origin", "hour"], "severity": "warn"}},
        {"between": {"column": "wind_speed", "min": 0, "max": 200, "severity": "warn"}},
    ]
    stage = {
        "name": "weather",
        "notebook": "notebooks/weather.ipynb",
        "produces": ["bronze.weather"],
        "checks": {"bronze.weather": checks},
    }
    make_workspace(tmp_path, {"p": {"stages": [stage]}})
    ws = Workspace(tmp_path)
    assert run_pipeline(ws, "p").exit_code == 0
    return ws


def test_failing_values_are_counted_and_the_failing_columns_come_first(tmp_path):
    ws = _run(tmp_path)
    run_id = store_of(ws).runs(1)[0]["run_id"]
    by_check = {r["check_name"]: r for r in store_of(ws).check_results(run_id)}
    unique = by_check["(origin, hour) is unique"]
    assert unique["failing_rows"] == 6
    assert unique["detail"]["distinct"] == 3 and unique["detail"]["duplicates"] is True
    assert sorted((v["value"]["origin"], v["value"]["hour"], v["rows"]) for v in unique["detail"]["values"]) == [
        ("EWR", 1, 2),
        ("JFK", 2, 2),
        ("LGA", 3, 2),
    ]
    assert list(unique["sample"][0])[:2] == ["origin", "hour"]  # the key first, then the rest of the row
    wind = next(r for name, r in by_check.items() if "wind_speed" in name)
    assert sorted(v["value"] for v in wind["detail"]["values"]) == [602.0, 1042.0]
    assert list(wind["sample"][0])[0] == "wind_speed"

    html = write_quality_report(ws).paths[0].read_text()
    assert "3 duplicated keys over 6 rows" in html
    assert "2 distinct failing values of wind_speed" in html
    assert '<th class="mp-failing">origin</th><th class="mp-failing">hour</th><th>tailnum</th>' in html
    assert re.search(r'<td class="mp-failing">602</td>', html)  # not 602.0
    assert "602.0" not in html and "6.904679999999999" not in html


def test_a_pii_columns_failing_values_are_masked(tmp_path):
    write_notebook(
        tmp_path / "notebooks/people.ipynb",
        "x = 0",
        "import millpond as mp, ibis\nctx = mp.stage()",
        "ctx.materialize(ibis.memtable({'email': ['ann@example.com', 'ann@example.com', 'bo@example.com']}),"
        " 'bronze.people')",
    )
    stage = {
        "name": "people",
        "notebook": "notebooks/people.ipynb",
        "produces": ["bronze.people"],
        "checks": {"bronze.people": [{"unique": {"columns": "email", "severity": "warn"}}]},
    }
    make_workspace(tmp_path, {"p": {"stages": [stage]}}, {"name": "t", "quality": {"pii": ["email"]}})
    ws = Workspace(tmp_path)
    assert run_pipeline(ws, "p").exit_code == 0
    (result,) = store_of(ws).check_results(store_of(ws).runs(1)[0]["run_id"])
    assert result["detail"]["values"] == [{"value": "***", "rows": 2}]
    assert "ann@example.com" not in write_quality_report(ws).paths[0].read_text()
