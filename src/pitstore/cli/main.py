"""``pitstore``: the command line. Each command is a few lines over FeatureStore."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from pitstore import __version__
from pitstore.cli.render import (
    arrow_head,
    console,
    definitions_table,
    errors,
    features_table,
    format_value,
    show_plan,
)
from pitstore.cli.values import entity_value
from pitstore.definitions import Definition
from pitstore.errors import PitstoreError, SchemaError
from pitstore.store import FeatureStore
from pitstore.timeutil import to_utc, utcnow

app = typer.Typer(
    help="pitstore: a feature store with exact point-in-time training data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

RepoOption = Annotated[
    Path, typer.Option("--repo", "-r", help="Feature repo folder (holds pitstore.yaml).")
]
KINDS = {
    "entities": "entity",
    "views": "feature_view",
    "services": "feature_service",
    "on-demand": "on_demand_feature_view",
    "features": "feature",
}


def _store(repo: Path) -> FeatureStore:
    return FeatureStore(repo)


def _when(text: str) -> datetime:
    """Parse an ISO 8601 time or 'now'; naive times are UTC."""
    if text.strip().lower() == "now":
        return utcnow()
    try:
        return to_utc(datetime.fromisoformat(text))
    except ValueError:
        raise SchemaError(
            f"invalid time {text!r}: use ISO 8601 such as 2026-11-27T08:00:00 (UTC when no "
            "offset is given) or 'now'"
        ) from None


@app.command()
def version() -> None:
    """Print pitstore's version."""
    console.print(f"pitstore {__version__}")


@app.command()
def init(
    folder: Annotated[Path, typer.Argument(help="Where to create the repo.")] = Path("."),
    project: Annotated[str | None, typer.Option(help="Project name.")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing demo.")] = False,
) -> None:
    """Create a runnable demo feature repo with generated data."""
    from pitstore.store.scaffold import init_repo

    path = init_repo(folder, project, force)
    console.print(f"Created a demo feature repo in {path}")
    console.print(f"Next: cd {path} && pitstore apply")


@app.command()
def plan(repo: RepoOption = Path(".")) -> None:
    """Show what `apply` would change, without changing anything."""
    with _store(repo) as store:
        show_plan(store.plan())


@app.command()
def apply(repo: RepoOption = Path(".")) -> None:
    """Register the repo's definitions (one transaction)."""
    with _store(repo) as store:
        result = store.apply()
        show_plan(result.plan)
        if not result.plan.is_empty:
            console.print(f"Applied: registry revision {result.revision}.")


@app.command("list")
def list_(
    what: Annotated[str, typer.Argument(help="entities, views, on-demand, services or features")],
    repo: RepoOption = Path("."),
) -> None:
    """List registered objects of one kind."""
    if what not in KINDS:
        raise SchemaError(f"cannot list {what!r}; choose one of: {', '.join(KINDS)}")
    with _store(repo) as store:
        if what == "features":
            console.print(features_table(store.list_feature_views()))
            return
        objects: list[Definition] = []
        if what == "entities":
            objects.extend(store.list_entities())
        elif what == "views":
            objects.extend(store.list_feature_views())
        elif what == "on-demand":
            objects.extend(store.list_on_demand_feature_views())
        else:
            objects.extend(store.list_feature_services())
        console.print(definitions_table(KINDS[what], objects))


@app.command()
def describe(name: str, repo: RepoOption = Path(".")) -> None:
    """Show one registered object: its spec, version and lineage."""
    import json

    from pitstore.registry.lineage import Node

    with _store(repo) as store:
        obj = store.describe(name)
        console.print(
            f"[bold]{obj.kind.replace('_', ' ')} {escape(obj.name)}[/] (version {obj.version}, "
            f"{obj.updated_at:%Y-%m-%d %H:%M:%S} UTC by {escape(obj.updated_by)})",
            markup=True,
        )
        console.print_json(json.dumps(obj.spec))
        graph = store.lineage()
        node = Node(obj.kind, obj.name)
        up = sorted(map(str, graph.upstream(node)))
        down = sorted(map(str, graph.downstream(node)))
        console.print(f"upstream: {', '.join(up) or '-'}")
        console.print(f"downstream: {', '.join(down) or '-'}")


@app.command()
def history(name: str, repo: RepoOption = Path(".")) -> None:
    """Show every applied version of an object, with field-level changes."""
    from pitstore.registry.plan import diff_specs

    with _store(repo) as store:
        previous = None
        for record in store.history(name):
            console.print(
                f"v{record.version} {record.action} at {record.applied_at:%Y-%m-%d %H:%M:%S} "
                f"UTC by {record.applied_by} (revision {record.revision})"
            )
            if previous is not None and record.action == "changed":
                for change in diff_specs(previous, record.spec):
                    console.print(f"    {change.path}: {change.old!r} -> {change.new!r}")
            previous = record.spec


@app.command()
def doctor(repo: RepoOption = Path(".")) -> None:
    """Check that the configured registry, offline engine and online store are reachable."""
    with _store(repo) as store:
        results = store.doctor()
    for result in results:
        mark = "[green]ok[/]  " if result.ok else "[red]FAIL[/]"
        console.print(
            f"{mark} {escape(result.name)}: {escape(result.detail)} "
            f"[dim]({result.seconds:.2f} s)[/]",
            markup=True,
        )
    if not all(r.ok for r in results):
        raise typer.Exit(1)


@app.command()
def teardown(
    repo: RepoOption = Path("."),
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Remove the project's registry objects and online data (offline data is kept)."""
    if not yes:
        typer.confirm("Remove every registered object and all online data?", abort=True)
    with _store(repo) as store:
        store.teardown()
    console.print("Torn down: registry objects and online data removed.")


@app.command()
def historical(
    entities: Annotated[str, typer.Option(help="Parquet file of entity rows, or a SQL query.")],
    out: Annotated[Path, typer.Option(help="Parquet file to write.")],
    features: Annotated[
        list[str] | None, typer.Option("--features", "-f", help="view:feature (repeatable).")
    ] = None,
    service: Annotated[str | None, typer.Option(help="Feature service name.")] = None,
    full_feature_names: Annotated[bool, typer.Option(help="Name columns view__feature.")] = False,
    show: Annotated[int, typer.Option(help="Rows of the result to print.")] = 5,
    repo: RepoOption = Path("."),
) -> None:
    """Build point-in-time correct training data into a Parquet file."""
    import pyarrow.parquet as pq

    with _store(repo) as store, console.status("Building training data..."):
        job = store.get_historical_features(
            entities,
            _split(features),
            feature_service=service,
            full_feature_names=full_feature_names,
        )
        job.to_parquet(out)
    table = pq.read_table(out)
    console.print(f"Wrote {table.num_rows:,} rows x {table.num_columns} columns to {out}")
    if show:
        console.print(arrow_head(table, show))


def _split(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [v for value in values for v in value.split(",") if v]


@app.command()
def materialize(
    start: Annotated[str, typer.Argument(help="Start time (ISO 8601, UTC if naive).")],
    end: Annotated[str, typer.Argument(help="End time (ISO 8601 or 'now').")],
    views: Annotated[list[str] | None, typer.Option("--view", "-v")] = None,
    repo: RepoOption = Path("."),
) -> None:
    """Load the latest values with start <= timestamp <= end into the online store."""
    from pitstore.cli.progress import RichProgress

    with _store(repo) as store, RichProgress() as bars:
        report = store.materialize(_when(start), _when(end), views or None, progress=bars)
    console.print(f"Materialized {report.rows:,} rows into {len(report.views)} view(s).")


@app.command("materialize-incremental")
def materialize_incremental(
    end: Annotated[str, typer.Argument(help="End time (ISO 8601 or 'now').")],
    views: Annotated[list[str] | None, typer.Option("--view", "-v")] = None,
    repo: RepoOption = Path("."),
) -> None:
    """Materialize each view from where the last run stopped up to END."""
    from pitstore.cli.progress import RichProgress

    with _store(repo) as store, RichProgress() as bars:
        report = store.materialize_incremental(_when(end), views or None, progress=bars)
    ran = [v for v in report.views if not v.skipped]
    console.print(f"Materialized {report.rows:,} rows into {len(ran)} view(s).")
    if skipped := [v.view for v in report.views if v.skipped]:
        console.print(f"Already materialized past {end}: {', '.join(skipped)}.")


@app.command("get-online")
def get_online(
    entity: Annotated[
        list[str],
        typer.Option(
            "--entity", "-e", help="key=value (repeatable), typed by the key's declared type."
        ),
    ],
    features: Annotated[
        list[str] | None, typer.Option("--features", "-f", help="view:feature (repeatable).")
    ] = None,
    service: Annotated[str | None, typer.Option(help="Feature service name.")] = None,
    repo: RepoOption = Path("."),
) -> None:
    """Read the latest feature values of one entity."""
    pairs = [_key_value(e) for e in entity]
    with _store(repo) as store:
        refs = _split(features)
        types = store.online_reads.entity_columns(refs, service)
        row = {key: entity_value(key, text, types.get(key)) for key, text in pairs}
        response = store.get_online_features(refs, [row], feature_service=service)
    stamps = response.event_timestamps()
    for name, values in response.to_dict().items():
        status = response.statuses.get(name, ["KEY"])[0]
        when = stamps.get(name, [None])[0]
        suffix = f"  [dim]{status}{f' @ {when:%Y-%m-%d %H:%M:%S}' if when else ''}[/]"
        line = escape(f"{name} = {format_value(values[0])}")
        console.print(line + ("" if status == "KEY" else suffix), markup=True)


@app.command()
def serve(
    repo: RepoOption = Path("."),
    host: Annotated[str | None, typer.Option(help="Address (default: server.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: server.port).")] = None,
    workers: Annotated[int | None, typer.Option(help="Processes (default: 1).")] = None,
    engine: Annotated[
        str | None,
        typer.Option(help="HTTP server: granian or uvicorn (default: server.engine)."),
    ] = None,
) -> None:
    """Serve online features over HTTP (see docs/server.md) until SIGTERM or Ctrl-C."""
    from pitstore.server.run import serve as run_server

    run_server(repo, host, port, workers, engine)


@app.command()
def ui(
    repo: RepoOption = Path("."),
    host: Annotated[str | None, typer.Option(help="Address (default: server.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: server.port).")] = None,
    open_browser: Annotated[
        bool, typer.Option("--open/--no-open", help="Open the catalog in a browser.")
    ] = False,
) -> None:
    """Browse the feature catalog in a web browser (see docs/ui.md) until Ctrl-C."""
    from pitstore.ui.run import run

    def announce(url: str, auth: bool) -> None:
        console.print(f"pitstore catalog: [bold]{escape(url)}[/]", markup=True)
        if auth:
            console.print("Sign in with one of the tokens under server.auth.tokens.")
        console.print("The HTTP API is served too (see docs/server.md). Ctrl-C stops.")

    run(repo, host, port, announce, open_browser)


@app.command()
def push(
    source: Annotated[str, typer.Argument(help="Push or stream source name.")],
    file: Annotated[
        Path, typer.Argument(help="JSON (rows or columns) or JSON Lines file; '-' for stdin.")
    ],
    to: Annotated[str, typer.Option(help="online, offline or online_and_offline.")] = "online",
    idempotency_key: Annotated[
        str | None,
        typer.Option(help="The same key on a rerun of this push writes its rows once (a day)."),
    ] = None,
    repo: RepoOption = Path("."),
) -> None:
    """Push rows to a push source's views (validated first: all or nothing)."""
    rows = _read_rows(file)
    with _store(repo) as store:
        # JSON: bytes as base64
        report = store.push(source, rows, to, base64_bytes=True, idempotency_key=idempotency_key)
    console.print(
        f"Pushed {report.rows:,} rows to {source!r}: {report.written:,} applied online, "
        f"{report.logged:,} logged offline."
    )


def _read_rows(file: Path) -> object:
    """Rows from a JSON document (rows or columns) or from JSON Lines (one row a line)."""
    import json

    try:
        text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SchemaError(f"cannot read rows from {file}: {exc}") from None
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    except ValueError as exc:
        raise SchemaError(f"{file}: neither JSON nor JSON Lines: {exc}") from None


@app.command()
def ingest(
    source: Annotated[str, typer.Argument(help="Stream source name.")],
    to: Annotated[str, typer.Option(help="online, offline or online_and_offline.")] = (
        "online_and_offline"
    ),
    batch_size: Annotated[int | None, typer.Option(help="Most messages a batch.")] = None,
    max_wait_ms: Annotated[
        int | None, typer.Option(help="Longest wait to fill a batch after its first message.")
    ] = None,
    consumer: Annotated[
        str | None, typer.Option(help="Consumer name (Redis; default: host name).")
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus metrics on this port.")
    ] = None,
    max_messages: Annotated[int | None, typer.Option(help="Stop after this many.")] = None,
    idle_exit: Annotated[
        float | None, typer.Option(help="Stop after this many seconds without a message.")
    ] = None,
    repo: RepoOption = Path("."),
) -> None:
    """Consume a stream source's broker topic into its views until SIGINT/SIGTERM."""
    from pitstore.ingest.run import build_consumer, run_until_signalled

    with _store(repo) as store:
        worker = build_consumer(
            store,
            source,
            to=to,
            batch_size=batch_size,
            max_wait_ms=max_wait_ms,
            consumer=consumer,
            max_messages=max_messages,
            idle_exit_s=idle_exit,
        )
        console.print(f"Ingesting {source!r} from {worker.broker.kind} {worker.broker.topic!r}")
        totals = run_until_signalled(
            worker, metrics_port, lambda: errors.print("Stopping after this batch...")
        )
    console.print(
        f"Ingested {totals.written:,} messages ({totals.dead_lettered:,} dead-lettered) in "
        f"{totals.batches:,} batches, {totals.rate():,.0f} messages/s."
    )


def _key_value(text: str) -> tuple[str, str]:
    """``key=value`` split; the value is typed later, by the key's declared type."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise SchemaError(f"invalid --entity {text!r}: write key=value, e.g. driver_id=1001")
    return key, value


def main() -> None:
    """Entry point: run the app, turning pitstore errors into one clear line.

    An OSError the library did not translate (a file it cannot read or write, a full disk)
    is the user's environment, not a bug: one line too. Anything else keeps its traceback.
    """
    try:
        app()
    except (PitstoreError, OSError) as exc:
        errors.print(f"[red]error:[/] {escape(str(exc))}", markup=True)
        sys.exit(1)
