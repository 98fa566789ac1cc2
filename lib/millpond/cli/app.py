"""The ``millpond`` command line.

User mistakes (:class:`~millpond.errors.MillpondError`) print one line to stderr and
exit 2; a run whose stages did not all succeed exits 1.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

import millpond
from millpond.environment import ENV_VARIABLE, activate, check_env_name, restored
from millpond.errors import MillpondError, SpecError
from millpond.quick_exit import exit_quickly
from millpond.run.progress import make_reporter

app = typer.Typer(
    help="millpond: pipelines of Papermill-run notebooks over a shared Ibis library.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # click's plain help: rich's help formatter costs 0.1 s of imports per call
)

WorkspaceOpt = Annotated[
    Optional[Path],
    typer.Option("--workspace", "-C", help="Workspace root (default: found from the current directory)."),
]


EnvOpt = Annotated[
    Optional[str],
    typer.Option(
        "--env",
        "-e",
        help="Environment: prod, or a development environment such as alice (default: $MILLPOND_ENV, else prod).",
    ),
]


def _use_env(env: str | None) -> str | None:
    """Work in environment ``env`` (when given) from here on, this process and its kernels."""
    if env is None:
        return None

    env = check_env_name(env)
    os.environ[ENV_VARIABLE] = env
    activate(env)
    return env


@app.callback()
def _options(env: EnvOpt = None) -> None:
    """millpond: pipelines of Papermill-run notebooks over a shared Ibis library."""
    _use_env(env)


def _workspace(path: Path | None):
    from millpond.workspace import Workspace

    return Workspace(path) if path else Workspace.find()


def _parse_params(pairs: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        if "=" not in pair:
            raise MillpondError(f"-p {pair}: expected key=value")
        key, value = pair.split("=", 1)
        params[key.strip()] = value
    return params


@app.command()
def run(
    pipeline: Annotated[Optional[str], typer.Argument(help="Pipeline name (pipelines/<name>.yml) or file.")] = None,
    param: Annotated[list[str], typer.Option("--param", "-p", help="Override a pipeline parameter: key=value.")] = [],
    stage: Annotated[list[str], typer.Option("--stage", "-s", help="Run only this stage (repeatable).")] = [],
    from_: Annotated[list[str], typer.Option("--from", help="Run this stage and everything downstream.")] = [],
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Stages to run at once.")] = 1,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even what has not changed.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would run, run nothing.")] = False,
    resume: Annotated[Optional[str], typer.Option("--resume", help="Rerun what failed or never ran in RUN_ID.")] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait for another run on this workspace instead of refusing.")
    ] = False,
    full_refresh: Annotated[
        list[str],
        typer.Option(
            "--full-refresh", help="Rebuild this incremental table whole (layer.table, repeatable); its stage runs."
        ),
    ] = [],
    plain: Annotated[
        Optional[bool], typer.Option("--plain/--rich", help="Force plain log lines or the live display.")
    ] = None,
    profile: Annotated[
        bool,
        typer.Option(
            "--profile",
            help="Show each materialization's query plan (EXPLAIN ANALYZE) in the executed notebooks; unchanged stages still skip (add --force).",
        ),
    ] = False,
    env: EnvOpt = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Run a pipeline's stages in DAG order, skipping what has not changed."""
    from millpond.run.runner import Runner, RunOptions

    if pipeline is None and resume is None:
        raise MillpondError("name a pipeline (e.g. `millpond run shop`) or pass --resume RUN_ID")
    ws = _workspace(workspace)
    options = RunOptions(
        params=_parse_params(param),
        stages=stage,
        from_stages=from_,
        jobs=jobs,
        force=force,
        dry_run=dry_run,
        resume=resume,
        wait=wait,
        full_refresh=full_refresh,
        profile=profile,
        env=_use_env(env),
    )
    runner = Runner(ws, pipeline or "", options, reporter=None if dry_run else make_reporter(plain))
    result = runner.run()
    if dry_run:
        for name, what in result.plan.items():
            typer.echo(f"{name:<28} {what}")
        return
    out = ws.runs_dir / result.run_id
    if out.exists():
        typer.echo(f"executed notebooks: {ws.relative(out)}")
    if ws.warehouse_file() is not None:
        typer.echo(f"warehouse: {ws.relative(ws.warehouse_file())}")
    raise typer.Exit(result.exit_code)


@app.command()
def runs(
    run_id: Annotated[Optional[str], typer.Argument(help="Show this run's stages.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n")] = 20,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """List run history, or one run's stages."""
    from millpond.cli.runs_view import show_run, show_runs

    ws = _workspace(workspace)
    if run_id:
        show_run(ws, run_id, as_json=as_json)
    else:
        show_runs(ws, limit, as_json=as_json)


@app.command()
def checks(
    table: Annotated[Optional[str], typer.Option("--table", "-t", help="Only this table (layer.table).")] = None,
    failing: Annotated[
        bool, typer.Option("--failing", help="Only checks whose latest result is warn or fail.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Latest result of every declared check, with its trend over recent runs."""
    from millpond.cli.runs_view import show_checks

    show_checks(_workspace(workspace), table=table, failing=failing, as_json=as_json)


@app.command()
def monitors(
    table: Annotated[
        Optional[str], typer.Option("--table", "-t", help="Every column of this table (layer.table).")
    ] = None,
    anomalies: Annotated[bool, typer.Option("--anomalies", help="The recorded anomalies instead.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Latest profile values with the band of recent runs and their trend, or the anomalies."""
    from millpond.cli.monitors_view import show_monitors

    show_monitors(_workspace(workspace), table=table, anomalies=anomalies, as_json=as_json)


@app.command()
def quarantine(
    table: Annotated[str, typer.Argument(help="A source or table: orders, silver.orders or quarantine.orders.")],
    limit: Annotated[int, typer.Option("--limit", "-n", help="Rows to show.")] = 10,
    replay: Annotated[
        bool, typer.Option("--replay", help="Rerun the stage that holds them (and its downstream) after a fix.")
    ] = False,
    pipeline: Annotated[
        Optional[str], typer.Option("--pipeline", help="With --replay: the pipeline, if several produce TABLE.")
    ] = None,
    param: Annotated[
        list[str], typer.Option("--param", "-p", help="With --replay: override a pipeline parameter.")
    ] = [],
    plain: Annotated[
        Optional[bool], typer.Option("--plain/--rich", help="With --replay: plain log lines or the live display.")
    ] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Rows held in quarantine for TABLE, by reason and run; --replay re-processes them."""
    from millpond.cli.runs_view import show_quarantine

    ws = _workspace(workspace)
    if replay:
        from millpond.run.replay import replay_quarantine

        outcome = replay_quarantine(
            ws, table, pipeline=pipeline, params=_parse_params(param), reporter=make_reporter(plain)
        )
        typer.echo(outcome.summary())
        raise typer.Exit(outcome.exit_code)
    show_quarantine(ws, table, limit=limit)


@app.command()
def report(
    run_id: Annotated[Optional[str], typer.Argument(help="The run to report on (default: the latest).")] = None,
    output: Annotated[
        Optional[Path], typer.Option("--output", "-o", help="Where to write the HTML (default: the reports folder).")
    ] = None,
    runs_: Annotated[
        int, typer.Option("--runs", "-n", min=1, help="Runs the history charts cover, this one included.")
    ] = 10,
    workspace: WorkspaceOpt = None,
) -> None:
    """Write the data quality report of a run: checks, samples, anomalies, history charts, quarantine."""
    from millpond.report.quality import write_quality_report

    ws = _workspace(workspace)
    written = write_quality_report(ws, run_id, output=output, runs=runs_)
    size = written.paths[0].stat().st_size
    typer.echo(f"quality report of run {written.data.run_id}: {ws.relative(written.paths[0])} ({size / 1e6:.1f} MB)")
    for extra in written.paths[1:]:
        typer.echo(f"latest: {ws.relative(extra)}")


@app.command()
def validate(
    pipeline: Annotated[Optional[list[str]], typer.Argument(help="Pipelines to check (default: all).")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Check pipeline specs, their notebooks and declared columns (against the latest builds) without running anything."""
    from millpond.pipeline.load import check_declared_columns
    from millpond.project import project_of

    ws = _workspace(workspace)
    project = project_of(ws)
    names = pipeline or [p.stem for p in ws.pipeline_files()]
    problems: list[str] = []
    for name in names:  # every file, every error: one line each
        try:
            p = project.pipeline(name)
            check_declared_columns(p, project.recorded_store())
        except SpecError as exc:
            problems += exc.lines
            continue
        wrong = _source_problems(ws, p)
        problems += wrong
        if wrong:
            continue
        typer.echo(f"{ws.relative(p.path)}: ok ({len(p.spec.stages)} stages)")
    for line in problems:
        typer.echo(f"error: {line}", err=True)
    if problems:
        raise typer.Exit(2)


def _source_problems(ws, pipeline) -> list[str]:
    """One line per declared source of an unknown kind or with options its kind refuses."""
    if not pipeline.spec.sources:
        return []
    from millpond.sources import source_class  # loads Ibis: only for pipelines that declare sources

    problems = []
    for name, spec in pipeline.spec.sources.items():
        where = f"{ws.relative(pipeline.path)}:{pipeline.lines.line_of(('sources', name))}"
        options = {**spec.options, **{option: f"[{ref}]" for option, ref in spec.secrets.items()}}
        try:
            source_class(spec.kind)(name, spec.model_copy(update={"options": options}), ws.root, declared_in=where)
        except MillpondError as exc:
            problems.append(str(exc) if str(exc).startswith(where) else f"{where}: sources: {name}: {exc}")
    return problems


@app.command()
def version() -> None:
    """Print the millpond version."""
    typer.echo(millpond.__version__)


@app.command()
def versions(
    table: Annotated[str, typer.Argument(help="The table (layer.table).")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """List a table's versions: when, by which run and stage, rows, and whether still kept."""
    from millpond.cli.versions_view import show_versions

    show_versions(_workspace(workspace), table, as_json=as_json)


@app.command()
def diff(
    table: Annotated[str, typer.Argument(help="The table (layer.table).")],
    old: Annotated[int, typer.Argument(help="The older version.")],
    new: Annotated[int, typer.Argument(help="The newer version.")],
    key: Annotated[
        Optional[str],
        typer.Option("--key", help="Key column(s), comma-separated (default: the incremental unique_key)."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=0, help="Sample rows of each kind.")] = 5,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Rows added, removed and changed between two versions of a table."""
    from millpond.cli.versions_view import show_diff

    keys = [k.strip() for k in key.split(",") if k.strip()] if key else None
    show_diff(_workspace(workspace), table, old, new, key=keys, limit=limit, as_json=as_json)


@app.command()
def rollback(
    table: Annotated[str, typer.Argument(help="The table (layer.table).")],
    version_: Annotated[int, typer.Argument(metavar="VERSION", help="The version to restore.")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Restore an earlier version of a table as its new latest version (atomic swap)."""
    from millpond.cli.versions_view import run_rollback

    typer.echo(run_rollback(_workspace(workspace), table, version_))


@app.command()
def compact(
    if_wasteful: Annotated[
        bool, typer.Option("--if-wasteful", help="Only past the thresholds of `compaction:` in millpond.yml.")
    ] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Give back the warehouse's free space (DuckDB: rewrite the file; PostgreSQL: VACUUM)."""
    from millpond.cli.versions_view import run_compact

    typer.echo(run_compact(_workspace(workspace), if_wasteful=if_wasteful))


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    try:
        with restored():  # `--env` lasts for this command
            code = app(args=argv, standalone_mode=False)
    except MillpondError as exc:
        print(f"error: {' '.join(str(exc).splitlines())}", file=sys.stderr)  # one line, whatever it quotes
        return 2
    except typer.Exit as exc:
        return exc.exit_code
    except SystemExit as exc:  # click's own exits (usage errors print their message)
        return int(exc.code or 0)
    except typer.exceptions.TyperException as exc:  # typer's bundled click: usage errors, bad values
        exc.show() if hasattr(exc, "show") else print(f"error: {exc}", file=sys.stderr)
        return int(getattr(exc, "exit_code", 2))
    except typer.Abort:
        print("aborted", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code if isinstance(code, int) else 0


def console_main() -> None:
    """The ``millpond`` command: :func:`main`, then :func:`exit_quickly`."""
    exit_quickly(main())


if __name__ == "__main__":
    console_main()
