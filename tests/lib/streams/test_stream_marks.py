"""A stage declared ``on_stream`` reruns whenever its stream committed since its last run, and
only then (the stream's mark is in its fingerprint); the mark says what the stream did."""

from __future__ import annotations

import yaml

from millpond.environment import env_dir
from millpond.run.runner import RunOptions, run_pipeline
from millpond.run.streaming import run_stream
from millpond.store.stream_marks import read_marks
from support.streams import append_events, disordered_events, stream_spec, stream_workspace
from support.workspaces import write_notebook


def test_a_stage_on_a_stream_reruns_when_the_stream_committed_and_only_then(tmp_path):
    ws = stream_workspace(tmp_path, {"clicks": stream_spec()})
    write_notebook(
        ws.root / "notebooks" / "look.ipynb",
        "seen = 'data/seen.txt'",
        "import millpond as mp\nctx = mp.stage()",
        "n = ctx.table('gold.clicks_live').events.sum().execute()\nwith open(ctx.path(seen), 'a') as f:\n"
        "    f.write(f'{n}\\n')",
    )
    path = ws.root / "pipelines" / "live.yml"
    pipeline = yaml.safe_load(path.read_text())
    pipeline["stages"][0]["on_stream"] = "clicks"
    path.write_text(yaml.safe_dump(pipeline, sort_keys=False))
    events = disordered_events(1, 900)
    folder = ws.root / "data" / "stream"

    def seen() -> list[int]:
        return [int(line) for line in (ws.root / "data" / "seen.txt").read_text().split()]

    append_events(folder, "a.jsonl", events[:500])
    run_stream(ws, "clicks")
    assert run_pipeline(ws, "live", RunOptions()).exit_code == 0
    assert run_pipeline(ws, "live", RunOptions()).exit_code == 0  # nothing new: skipped
    assert len(seen()) == 1
    append_events(folder, "b.jsonl", events[500:])
    run_stream(ws, "clicks")
    assert run_pipeline(ws, "live", RunOptions()).exit_code == 0
    first, second = seen()
    assert first < second  # it ran again, and saw the new windows

    mark = read_marks(env_dir(ws, "prod"))["clicks"]
    assert mark["events"] == 900 and mark["batches"] == 2 and mark["sink"] == "gold.clicks"
    assert sum(mark["late_by_reason"].values()) == mark["late"] > 0
