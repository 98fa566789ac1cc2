"""DAG order and stage selection."""

from __future__ import annotations

import pytest

from millpond.pipeline.dag import downstream_of, find_cycle, select, topological_order, upstream_of

# ingest_a -> clean_a -> build -> report ; ingest_b -> clean_b -> build ; side (independent)
GRAPH = {
    "ingest_a": [],
    "ingest_b": [],
    "clean_a": ["ingest_a"],
    "clean_b": ["ingest_b"],
    "build": ["clean_a", "clean_b"],
    "report": ["build"],
    "side": [],
}


def test_order_puts_every_stage_after_what_it_needs():
    order = topological_order(GRAPH)
    assert sorted(order) == sorted(GRAPH)
    for stage, needs in GRAPH.items():
        assert all(order.index(up) < order.index(stage) for up in needs)


def test_order_is_deterministic_and_follows_declaration_on_ties():
    assert topological_order(GRAPH) == ["ingest_a", "ingest_b", "clean_a", "clean_b", "build", "report", "side"]


@pytest.mark.parametrize(
    ("stages", "from_stages", "expected"),
    [
        ((), (), ["ingest_a", "ingest_b", "clean_a", "clean_b", "build", "report", "side"]),
        (("build",), (), ["build"]),
        ((), ("clean_b",), ["clean_b", "build", "report"]),
        (("side",), ("build",), ["build", "report", "side"]),
    ],
)
def test_selection(stages, from_stages, expected):
    assert select(GRAPH, stages, from_stages) == expected


def test_upstream_and_downstream():
    assert upstream_of(GRAPH, "build") == {"ingest_a", "ingest_b", "clean_a", "clean_b"}
    assert downstream_of(GRAPH, ["ingest_b"]) == {"ingest_b", "clean_b", "build", "report"}


def test_cycles_are_found_and_named():
    assert find_cycle(GRAPH) is None
    cycle = find_cycle({**GRAPH, "ingest_a": ["report"]})
    assert cycle[0] == cycle[-1]
    assert set(cycle) == {"ingest_a", "clean_a", "build", "report"}
    with pytest.raises(ValueError, match="cycle"):
        topological_order({"a": ["b"], "b": ["a"]})
