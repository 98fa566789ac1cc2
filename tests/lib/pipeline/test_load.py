"""Every rejection of a pipeline spec names file, line and field in one line."""

from __future__ import annotations

import re

import pytest

from millpond.errors import SpecError
from millpond.pipeline.load import load_pipeline
from millpond.workspace import Workspace
from support.workspaces import make_workspace, write_notebook


@pytest.fixture
def ws(tmp_path):
    write_notebook(tmp_path / "notebooks/a.ipynb", "run_date = '2024-01-31'\nlimit = 10", "print(limit)")
    write_notebook(tmp_path / "notebooks/b.ipynb", "factor = 2.0", "print(factor)")
    make_workspace(tmp_path, {})
    return Workspace(tmp_path)


def write(ws: Workspace, text: str, name: str = "p") -> None:
    (ws.root / "pipelines" / f"{name}.yml").write_text(text)


GOOD = """\
params:
  run_date: {type: date, default: 2024-01-31}
stages:
  - name: a
    notebook: notebooks/a.ipynb
    params: {limit: 5}
    produces: [bronze.a]
  - name: b
    notebook: notebooks/b.ipynb
    needs: [a]
    produces: [silver.b]
"""


def rejection(ws: Workspace, text: str) -> str:
    write(ws, text)
    with pytest.raises(SpecError) as info:
        load_pipeline(ws, "p")
    message = str(info.value)
    assert "\n" not in message
    return message


def test_a_valid_pipeline_loads_with_order_and_params(ws):
    write(ws, GOOD)
    p = load_pipeline(ws, "p")
    assert p.order == ["a", "b"]
    assert p.resolve_params({"run_date": "2024-02-29"}) == {"run_date": "2024-02-29"}
    assert p.stage_params(p.stage("a"), p.resolve_params()) == {"run_date": "2024-01-31", "limit": 5}
    assert p.stage_params(p.stage("b"), p.resolve_params()) == {}


def test_unknown_key_names_line_and_allowed_keys(ws):
    msg = rejection(ws, GOOD.replace("    needs: [a]\n", "    zzz: [a]\n"))
    assert msg.startswith("pipelines/p.yml:10: stages[1].zzz: unknown key (allowed:")
    assert "needs" in msg


def test_a_misspelled_key_names_the_key_it_resembles(ws):
    msg = rejection(ws, GOOD.replace("    needs: [a]\n", "    needz: [a]\n"))
    assert msg == "pipelines/p.yml:10: stages[1].needz: unknown key (did you mean needs?)"


def test_unknown_top_level_key(ws):
    assert rejection(ws, "colour: blue\n" + GOOD).startswith("pipelines/p.yml:1: colour: unknown key")


def test_unknown_needs(ws):
    msg = rejection(ws, GOOD.replace("needs: [a]", "needs: [a, ghost]"))
    assert msg.startswith("pipelines/p.yml:10: stages[1].needs[1]: unknown stage 'ghost'")


def test_cycle_names_its_stages(ws):
    text = GOOD.replace("    params: {limit: 5}\n", "    params: {limit: 5}\n    needs: [b]\n")
    msg = rejection(ws, text)
    assert re.search(r"cycle: (a -> b -> a|b -> a -> b)", msg), msg
    assert msg.startswith("pipelines/p.yml:")


def test_missing_notebook(ws):
    msg = rejection(ws, GOOD.replace("notebooks/b.ipynb", "notebooks/nope.ipynb"))
    assert msg == "pipelines/p.yml:9: stages[1].notebook: notebook not found: notebooks/nope.ipynb"


def test_parameter_the_notebook_does_not_declare(ws):
    msg = rejection(ws, GOOD.replace("{limit: 5}", "{limitt: 5}"))
    assert msg.startswith(
        "pipelines/p.yml:6: stages[0].params.limitt: notebook notebooks/a.ipynb declares no parameter 'limitt'"
    )
    assert "run_date, limit" in msg


def test_stage_parameter_of_wrong_type(ws):
    msg = rejection(ws, GOOD.replace("{limit: 5}", "{limit: five}"))
    assert msg.startswith(
        "pipelines/p.yml:6: stages[0].params.limit: wrong type: notebook notebooks/a.ipynb declares limit as int, got str"
    )


def test_pipeline_parameter_default_of_wrong_type(ws):
    msg = rejection(ws, GOOD.replace("default: 2024-01-31", "default: yesterday"))
    assert msg.startswith("pipelines/p.yml:2: params.run_date")
    assert "expected date" in msg


def test_unknown_parameter_type(ws):
    msg = rejection(ws, GOOD.replace("type: date", "type: datetime"))
    assert msg.startswith("pipelines/p.yml:2: params.run_date.type:")


def test_two_stages_producing_one_table(ws):
    msg = rejection(ws, GOOD.replace("produces: [silver.b]", "produces: [bronze.a]"))
    assert msg == "pipelines/p.yml:11: stages[1].produces[0]: table 'bronze.a' is already produced by stage 'a'"


def test_badly_named_table(ws):
    msg = rejection(ws, GOOD.replace("produces: [silver.b]", "produces: [b]"))
    assert msg.startswith("pipelines/p.yml:8: stages[1]:") and "layer.table" in msg


def test_duplicate_stage_name(ws):
    msg = rejection(ws, GOOD.replace("name: b", "name: a").replace("needs: [a]", "needs: []"))
    assert msg.startswith("pipelines/p.yml:8: stages[1].name: duplicate stage name 'a'")


def test_invalid_yaml_names_line(ws):
    msg = rejection(ws, GOOD + "  - name: [unclosed\n")
    assert msg.startswith("pipelines/p.yml:13: invalid YAML")


def test_a_comma_inside_a_flow_mapping_is_an_unknown_key_not_a_crash(ws):
    # `{limit: 5, 6}`: YAML reads "6" as a second key with no value
    msg = rejection(ws, GOOD.replace("params: {limit: 5}", "params: {limit: 5, 6}"))
    assert msg.startswith("pipelines/p.yml:6: stages[0].params")
    assert "6" in msg


def test_cli_override_is_typed(ws):
    write(ws, GOOD)
    p = load_pipeline(ws, "p")
    with pytest.raises(SpecError, match=r"^-p run_date=soon: expected date, got 'soon'$"):
        p.resolve_params({"run_date": "soon"})
    with pytest.raises(SpecError, match=r"^-p nope: pipeline 'p' has no parameter 'nope' \(declared: run_date\)$"):
        p.resolve_params({"nope": "1"})


def test_workspace_file_rejects_unknown_keys(tmp_path):
    (tmp_path / "millpond.yml").write_text("name: x\nwarehous: duckdb://x.duckdb\n")
    with pytest.raises(SpecError, match=r"^millpond.yml:2: warehous: unknown key"):
        Workspace(tmp_path)


def test_notebook_parameters_are_cached_by_source(ws):
    from millpond.pipeline.notebooks import declared_parameters, source_fingerprint

    nb = ws.root / "notebooks/a.ipynb"
    first = declared_parameters(nb, ws.meta_dir)
    cache = ws.meta_dir / "notebook-parameters.json"
    assert first == {"run_date": "str", "limit": "int"}
    assert __import__("json").loads(cache.read_text()) == {source_fingerprint(nb): first}
    write_notebook(nb, "run_date = '2024-01-31'\nlimit = 10\nextra = 1.5", "print(limit)")
    assert declared_parameters(nb, ws.meta_dir) == {"run_date": "str", "limit": "int", "extra": "float"}
    assert len(__import__("json").loads(cache.read_text())) == 2


# -- hostile values: refused at validate time, with one line, not at run time --------------


def test_a_merge_key_shares_stage_settings(ws):
    text = GOOD.replace("stages:\n", "defaults: &slow {timeout: 900, retries: 3}\nstages:\n", 1).replace(
        "    needs: [a]\n", "    needs: [a]\n    <<: *slow\n    retries: 0\n"
    )
    write(ws, text)
    p = load_pipeline(ws, "p")
    assert p.spec.policy(p.stage("b")) == (900, 0, 1.0)  # timeout merged, retries written in the stage
    assert p.spec.policy(p.stage("a")) == (900, 3, 1.0)  # defaults


def test_a_merged_value_is_refused_at_the_line_where_it_is_written(ws):
    text = GOOD.replace("stages:\n", "defaults: &d {timeout: .inf}\nstages:\n", 1).replace(
        "    needs: [a]\n", "    needs: [a]\n    <<: *d\n"
    )
    msg = rejection(ws, text)
    assert msg == "pipelines/p.yml:3: defaults.timeout: Input should be a finite number"


def test_a_notebook_path_too_long_for_the_system_is_one_line(ws):
    msg = rejection(ws, GOOD.replace("notebooks/b.ipynb", "notebooks/" + "x" * 200_000 + ".ipynb"))
    assert msg == "pipelines/p.yml:9: stages[1].notebook: path too long (200016 bytes; at most 4096)"


def test_a_path_component_too_long_is_one_line(ws):
    msg = rejection(ws, GOOD.replace("notebooks/b.ipynb", "notebooks/" + "b" * 300 + ".ipynb"))
    assert msg.startswith(
        "pipelines/p.yml:9: stages[1].notebook: a path component is too long (306 bytes; at most 255): 'bbb"
    )


def test_a_reads_glob_python_cannot_use_is_refused(ws):
    msg = rejection(
        ws, GOOD.replace("    produces: [bronze.a]\n", "    reads: [data/raw/***.csv]\n    produces: [bronze.a]\n")
    )
    assert msg == "pipelines/p.yml:7: stages[0].reads[0]: '**' must be a whole path component, as in data/**/*.csv"


def test_a_reads_glob_that_would_walk_the_whole_disk_is_refused(ws):
    msg = rejection(
        ws, GOOD.replace("    produces: [bronze.a]\n", "    reads: ['../../../**/*.csv']\n    produces: [bronze.a]\n")
    )
    assert msg == (
        "pipelines/p.yml:7: stages[0].reads[0]: '**' after '..' searches every folder above the workspace; "
        "name the folder to read"
    )


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("timeout: .inf", "defaults.timeout: Input should be a finite number"),
        ("timeout: .nan", "defaults.timeout: Input should be a finite number"),
        ("timeout: 1e308", "defaults.timeout: Input should be less than or equal to 604800"),
        ("retry_backoff: 1e308", "defaults.retry_backoff: Input should be less than or equal to 3600"),
        ("retry_backoff: -.inf", "defaults.retry_backoff: Input should be a finite number"),
    ],
)
def test_durations_must_be_finite_and_bounded(ws, setting, expected):
    assert rejection(ws, f"defaults: {{{setting}}}\n" + GOOD) == f"pipelines/p.yml:1: {expected}"


def test_a_stage_override_of_a_date_parameter_must_be_a_date(ws):
    # the notebook's default is a str, so its inspector alone accepts any text
    msg = rejection(ws, GOOD.replace("{limit: 5}", "{limit: 5, run_date: not-a-date}"))
    assert msg == (
        "pipelines/p.yml:6: stages[0].params.run_date: "
        "expected date (the pipeline declares run_date a date parameter), got 'not-a-date'"
    )


def test_a_workspace_parameter_must_have_the_declared_type(ws):
    (ws.root / "millpond.yml").write_text("name: test\nparams:\n  run_date: not-a-date\n")
    write(ws, GOOD)
    with pytest.raises(SpecError) as info:
        load_pipeline(Workspace(ws.root), "p")
    assert str(info.value) == (
        "millpond.yml:3: params.run_date: expected date (a pipeline declares run_date a date parameter), got 'not-a-date'"
    )


def test_a_regex_check_is_compiled_at_validate_time(ws):
    checks = "    checks:\n      bronze.a:\n        - regex: {column: email, pattern: email}\n"
    write(ws, GOOD.replace("    produces: [bronze.a]\n", "    produces: [bronze.a]\n" + checks))
    load_pipeline(ws, "p")  # a named pattern is no regex to compile
    bad = checks.replace("pattern: email", "pattern: '[a-z'")
    msg = rejection(ws, GOOD.replace("    produces: [bronze.a]\n", "    produces: [bronze.a]\n" + bad))
    assert msg == (
        "pipelines/p.yml:10: stages[0].checks.bronze.a[0].regex.pattern: not a valid regular expression: "
        "unterminated character set at position 0 (or a built-in pattern: email)"
    )


def test_a_notebook_path_with_a_line_break_stays_on_one_line(ws):
    msg = rejection(ws, GOOD.replace("notebooks/b.ipynb", '"notebooks/b\\nc.ipynb"'))
    assert msg == "pipelines/p.yml:9: stages[1].notebook: notebook not found: 'notebooks/b\\nc.ipynb'"


def test_checks_validated_by_an_older_millpond_are_validated_again(ws):
    import hashlib
    import json

    checks = {"bronze.a": [{"regex": {"column": "email", "pattern": "[a-z"}}]}
    # what an older millpond recorded as valid for this checks section (no regex compiled then)
    old_key = hashlib.sha256(json.dumps(checks, sort_keys=True, default=str).encode()).hexdigest()[:24]
    ws.meta_dir.mkdir(parents=True, exist_ok=True)
    (ws.meta_dir / "validated-checks.json").write_text(json.dumps([old_key]))
    text = GOOD.replace(
        "    produces: [bronze.a]\n",
        "    produces: [bronze.a]\n    checks:\n      bronze.a:\n        - regex: {column: email, pattern: '[a-z'}\n",
    )
    assert "not a valid regular expression" in rejection(ws, text)


def test_a_check_with_a_number_for_a_key_is_one_line(ws):
    checks = "    checks:\n      bronze.a:\n        - {not_null: [a], 5: b}\n"
    msg = rejection(ws, GOOD.replace("    produces: [bronze.a]\n", "    produces: [bronze.a]\n" + checks))
    assert msg.startswith("pipelines/p.yml:10: stages[0].checks.bronze.a[0]: a check is a mapping with exactly one key")
