"""``millpond validate`` reconciles what each stage's last run read (recorded by ``ctx.table``)
with its ``needs``: a read the notebook does not show is caught once the stage has run
(issue 20, point 1; the hardening issue's rule)."""

from __future__ import annotations

import yaml

from millpond.cli import main
from support.workspaces import make_workspace, write_notebook


def _pipeline(needs: list[str]) -> dict:
    return {
        "stages": [
            {"name": "a", "notebook": "notebooks/a.ipynb", "produces": ["probe.t1"]},
            {"name": "b", "notebook": "notebooks/b.ipynb", "needs": needs, "produces": ["probe.t2"]},
        ]
    }


def test_a_read_hidden_from_validate_is_found_from_the_last_run(tmp_path, capsys):
    write_notebook(
        tmp_path / "notebooks/a.ipynb",
        "n = 3",
        "import millpond as mp, ibis\nctx = mp.stage()",
        "ctx.materialize(ibis.memtable({'id': list(range(n))}), 'probe.t1')",
    )
    write_notebook(
        tmp_path / "notebooks/b.ipynb",
        "suffix = 't1'",
        "import millpond as mp\nctx = mp.stage()",
        "ctx.materialize(ctx.table('probe.' + suffix).mutate(twice=lambda t: t.id * 2), 'probe.t2')",
    )
    make_workspace(tmp_path, {"p": _pipeline(["a"])})
    assert main(["run", "p", "-C", str(tmp_path), "--plain"]) == 0
    assert main(["validate", "-C", str(tmp_path)]) == 0

    (tmp_path / "pipelines/p.yml").write_text(yaml.safe_dump(_pipeline([]), sort_keys=False))
    capsys.readouterr()
    assert main(["validate", "-C", str(tmp_path)]) == 2
    lines = (tmp_path / "pipelines/p.yml").read_text().splitlines()
    needs_line = next(i for i, line in enumerate(lines, 1) if line.strip().startswith("needs:"))
    assert capsys.readouterr().err.strip() == (
        f"error: pipelines/p.yml:{needs_line}: stages[1].needs: stage b reads probe.t1, which stage a builds, "
        "but does not need a: add `needs: [a]` to stage b (its last run read it)"
    )
