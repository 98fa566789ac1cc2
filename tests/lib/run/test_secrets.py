"""A secret's value never appears in a notebook, an executed copy, a log or the store."""

from __future__ import annotations

import pytest

from millpond.cli import main
from millpond.workspace import Workspace
from support.workspaces import make_workspace, write_notebook

VALUE = "tr0ub4dor-and-3-horses"


@pytest.fixture
def workspace(tmp_path, monkeypatch) -> Workspace:
    monkeypatch.setenv("MILLPOND_TEST_API_TOKEN", VALUE)
    write_notebook(
        tmp_path / "notebooks/uses_secret.ipynb",
        "api_token = 'secret:api_token'",
        "import millpond as mp\nctx = mp.stage()",
        "token = ctx.secret(api_token)\nprint('token length', len(token))",
        "import ibis\nctx.materialize(ibis.memtable({'n': [len(token)]}), 'bronze.token_length')",
    )
    spec = {"stages": [{"name": "s", "notebook": "notebooks/uses_secret.ipynb", "produces": ["bronze.token_length"]}]}
    make_workspace(tmp_path, {"p": spec}, {"name": "t", "secrets": {"api_token": {"env": "MILLPOND_TEST_API_TOKEN"}}})
    return Workspace(tmp_path)


def test_secret_is_resolved_in_the_kernel_and_leaks_nowhere(workspace, capsys):
    assert main(["run", "p", "-C", str(workspace.root), "--plain"]) == 0
    output = capsys.readouterr()
    files = [p for p in workspace.root.rglob("*") if p.is_file()]
    executed = [p for p in files if p.suffix == ".ipynb" and "runs" in p.parts]
    assert executed, "the executed notebook is kept"
    assert f"token length {len(VALUE)}" in executed[0].read_text()
    assert "secret:api_token" in executed[0].read_text()
    leaks = [str(p) for p in files if VALUE.encode() in p.read_bytes()]
    assert leaks == []
    assert VALUE not in output.out + output.err


def test_undeclared_or_unset_secret_is_a_clear_error(workspace, monkeypatch):
    from millpond.errors import MillpondError
    from millpond.secrets import resolve

    with pytest.raises(MillpondError, match=r"^secret 'nope' is not declared in millpond.yml \(declared: api_token\)$"):
        resolve("secret:nope", workspace.secret_env())
    monkeypatch.delenv("MILLPOND_TEST_API_TOKEN")
    with pytest.raises(
        MillpondError, match=r"^secret 'api_token': environment variable MILLPOND_TEST_API_TOKEN is not set$"
    ):
        resolve("secret:api_token", workspace.secret_env())
