"""Operator commands: `config`, `sql`, `digest`, `subscribers` and `serve`.

A thin edge like cli.py: parse options, load settings, call the core, print.
"""

from __future__ import annotations

import json
import socket
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import click

from abiwatch.bot.config import (
    Settings,
    database_path,
    interface_problems,
    read_settings,
    send_problems,
    warnings,
)

config_option = click.option(
    "--config", "config_path", type=click.Path(dir_okay=False), default=None,
    help="Settings file (TOML). Default: $ABIWATCH_CONFIG, else built-in defaults.")


def _settings(config_path: str | None) -> Settings:
    settings, problems = read_settings(config_path)
    if problems:
        raise click.ClickException(
            "the configuration cannot be used:\n  - " + "\n  - ".join(problems)
            + "\n(`abiwatch config check` explains each setting's problem)")
    return settings


def _db_path(obj, settings: Settings) -> str:
    """Return the database for this command's settings (its --config may name another)."""
    return database_path(click.get_current_context().find_root().params.get("db_path"), settings)


def _open(path: str, *, readonly: bool):
    from abiwatch.db import no_database, open_db

    if not Path(path).is_file():
        raise click.ClickException(no_database(path))
    return open_db(path, readonly=readonly)


# --- config -----------------------------------------------------------------

@click.group("config")
def config_group() -> None:
    """Check or show the settings (config file plus environment)."""


@config_group.command("check")
@config_option
@click.pass_obj
def config_check(obj, config_path) -> None:
    """Validate the settings and say in plain words what is wrong; exit 1 if anything is."""
    from abiwatch.bot.config import config_path as find_config

    settings, problems = read_settings(config_path)
    file = find_config(config_path)
    click.echo(f"config file: {file}" if file else
               "config file: none (built-in defaults; pass --config or set ABIWATCH_CONFIG)")
    db = _db_path(obj, settings)
    known: list[str]
    if Path(db).is_file():
        from abiwatch.db import digest_queries

        handle = _open(db, readonly=True)
        n = handle.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
        known = digest_queries.interface_names(handle)
        click.echo(f"database: {db} ({n} messages)")
    else:
        from abiwatch.nlp.catalog import load_catalog

        known = [i.name for i in load_catalog().interfaces]
        click.echo(f"database: {db} (does not exist yet: `abiwatch ingest` creates it)")
    if known:
        problems += interface_problems(settings, known)
    problems += send_problems(settings)
    for w in warnings(settings):
        click.echo(f"warning: {w}")
    for p in problems:
        click.echo(f"problem: {p}")
    if problems:
        click.echo(f"{len(problems)} problem(s): fix them and run `abiwatch config check` again")
        sys.exit(1)
    click.echo("OK: the settings can be used")


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(str(value), ensure_ascii=False)


@config_group.command("show")
@config_option
@click.pass_obj
def config_show(obj, config_path) -> None:
    """Print the settings in effect as TOML, secrets masked."""
    from dataclasses import asdict

    s = _settings(config_path)
    data = asdict(s)
    data["database"]["path"] = _db_path(obj, s)
    del data["smtp"]["password"]
    click.echo(f"# from {s.source or 'built-in defaults'}; mail goes to "
               f"{s.smtp.host}:{s.smtp.effective_port}")
    click.echo(f"# ABIWATCH_SMTP_PASSWORD: {'set' if s.smtp.password else 'not set'}; "
               f"DISCORD_TOKEN: {'set' if s.discord_token else 'not set'}")
    for key in ("database", "smtp", "digest", "sql", "serve", "corrections"):
        click.echo(f"\n[{key}]")
        for k, v in data[key].items():
            click.echo(f"{'from' if (key, k) == ('digest', 'sender') else k} = {_toml(v)}")
    for sub in data["subscribers"]:
        click.echo("\n[[subscribers]]")
        for k, v in sub.items():
            click.echo(f"{k} = {_toml(v)}")


# --- sql --------------------------------------------------------------------

@click.command()
@click.argument("query")
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Value for :NAME in the query (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True)
@click.option("--time-limit", type=int, default=None, metavar="MS",
              help="Stop the query after this long (default: sql.time_limit_ms, 5000).")
@click.option("--max-rows", type=click.IntRange(1, 10_000_000), default=None,
              help="Print at most this many rows (default: sql.max_rows, 1000).")
@config_option
@click.pass_obj
def sql(obj, query, params, fmt, time_limit, max_rows, config_path) -> None:
    """Run one read-only SELECT and print the rows (QUERY '-' reads it from standard input).

    \b
    Examples:
      abiwatch sql "SELECT interface, COUNT(*) FROM open_concerns GROUP BY 1"
      abiwatch sql "SELECT * FROM concern_timeline WHERE interface = :i" -p i=VMI --format csv
    """
    from abiwatch.bot import tabular
    from abiwatch.db import readonly
    from abiwatch.db.readonly import QueryError, run_readonly_query

    s = _settings(config_path)
    if query == "-":
        query = sys.stdin.read()
    values = {}
    for p in params:
        name, sep, value = p.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{p!r} must look like NAME=VALUE", param_hint="-p")
        values[name.strip().lstrip(":")] = value
    try:
        res = run_readonly_query(_db_path(obj, s), query, values,
                                 time_limit_ms=time_limit or s.sql.time_limit_ms,
                                 max_rows=max_rows or s.sql.max_rows)
    except QueryError as exc:
        raise click.ClickException(str(exc)) from exc
    if fmt == "csv":
        click.echo(tabular.format_csv(res.columns, res.rows), nl=False)
    elif fmt == "json":
        click.echo(tabular.format_json(res.columns, res.rows))
    else:
        click.echo(tabular.format_table(res.columns, res.rows))
    if res.over_bytes:
        click.echo(f"(only the first {len(res.rows)} rows are shown: the rest would take more "
                   f"than {readonly.size_text(readonly.MAX_RESULT_BYTES)}; select fewer rows or shorter values, "
                   "e.g. substr(column, 1, 1000))", err=True)
    elif res.truncated:
        click.echo(f"(only the first {len(res.rows)} rows are shown: add LIMIT/OFFSET, or raise "
                   "--max-rows)", err=True)


# --- digest -----------------------------------------------------------------

def _day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise click.BadParameter(f"{text!r} is not a date like 2007-03-05",
                                 param_hint=option) from exc


@click.command()
@click.option("--week", metavar="YYYY-Www", help="ISO week, e.g. 2007-W10 (default: the last "
              "full week).")
@click.option("--since", metavar="DATE", help="First day of the period (instead of --week).")
@click.option("--until", metavar="DATE", help="Last day of the period, included "
              "(default: 6 days after --since).")
@click.option("--to", "to", multiple=True, metavar="ADDRESS",
              help="Send to this address instead of the subscribers (repeatable).")
@click.option("--dry-run", is_flag=True, help="Send nothing; print the text part, or write "
              ".eml files with --out.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="With --dry-run: write one .eml file per recipient in this folder.")
@click.option("--resend", is_flag=True, help="Send even to recipients who already got this "
              "period's digest.")
@config_option
@click.pass_obj
def digest(obj, week, since, until, to, dry_run, out, resend, config_path) -> None:
    """Mail the weekly digest of concerns, resolutions, series and NAKs to the subscribers.

    Each (period, recipient) is sent once; re-running sends nothing new. A
    recipient that fails does not stop the others; the exit code is 1 if any failed.
    """
    from abiwatch.bot import digest as dg
    from abiwatch.db import digest_queries

    s = _settings(config_path)
    if week and (since or until):
        raise click.UsageError("give either --week or --since/--until, not both")
    if until and not since:
        raise click.UsageError("--until needs --since")
    if out and not dry_run:
        dry_run = True  # writing files is what --out asks for; never mail as a side effect
    try:
        if week:
            start, end = dg.parse_week(week)
        elif since:
            start = _day(since, "--since")
            last = _day(until, "--until") or start + timedelta(days=6)
            if last < start:
                raise click.BadParameter("--until is before --since", param_hint="--until")
            end = last + timedelta(days=1)
        else:
            start, end = dg.last_full_week(datetime.now(UTC).date())
    except dg.DigestError as exc:
        raise click.BadParameter(str(exc), param_hint="--week") from exc
    if not dry_run and (problems := send_problems(s)):
        raise click.ClickException("; ".join(problems))
    db = _open(_db_path(obj, s), readonly=dry_run)
    people = dg.recipients(s, digest_queries.subscribers(db), to)
    if not people:
        raise click.ClickException(
            "nobody to send to: add [[subscribers]] to the config file, run `abiwatch "
            "subscribers add ADDRESS`, or pass --to ADDRESS")
    report = dg.send_digests(db, s, start, end, people, out_dir=out, dry_run=dry_run,
                             resend=resend)
    for o in report.outcomes:
        click.echo(f"{o.status:8} {o.recipient}  {o.path or o.detail}")
        if out is None and o.message is not None:
            click.echo(o.message.get_body(("plain",)).get_content())
    counts = {k: sum(o.status == k for o in report.outcomes)
              for k in ("sent", "written", "skipped", "failed")}
    click.echo(f"digest {report.label}: " + ", ".join(f"{n} {k}" for k, n in counts.items() if n)
               + ("; already-sent recipients are skipped, --resend sends again"
                  if counts["skipped"] else ""))
    if report.failed:
        sys.exit(1)


# --- subscribers --------------------------------------------------------------

@click.group()
def subscribers() -> None:
    """List, add or remove digest subscribers kept in the database."""


@subscribers.command("list")
@config_option
@click.pass_obj
def subscribers_list(obj, config_path) -> None:
    """List subscribers from the config file and from the database."""
    from abiwatch.db import digest_queries

    s = _settings(config_path)
    for sub in s.subscribers:
        click.echo(f"{sub.email}  {', '.join(sub.interfaces) or 'all'}  (config file)")
    for row in digest_queries.subscribers(_open(_db_path(obj, s), readonly=True)):
        click.echo(f"{row['email']}  {', '.join(row['interfaces']) or 'all'}  (database)")


@subscribers.command("add")
@click.argument("email")
@click.option("--name", default=None, help="Name shown in the To: header.")
@click.option("--interface", "interfaces", multiple=True,
              help="Interface to follow (repeatable; default: all).")
@config_option
@click.pass_obj
def subscribers_add(obj, email, name, interfaces, config_path) -> None:
    """Subscribe EMAIL to the digest (for some interfaces, or all)."""
    from email.utils import parseaddr

    from abiwatch.bot.digest import DigestError, resolve_interfaces
    from abiwatch.db import digest_queries

    if "@" not in parseaddr(email)[1]:
        raise click.BadParameter(f"{email!r} is not a mail address", param_hint="EMAIL")
    s = _settings(config_path)
    db = _open(_db_path(obj, s), readonly=False)
    try:
        names = resolve_interfaces(db, list(interfaces)) or []
    except DigestError as exc:
        raise click.BadParameter(str(exc), param_hint="--interface") from exc
    digest_queries.add_subscriber(db, parseaddr(email)[1], name, names)
    click.echo(f"subscribed {email} to {', '.join(names) or 'all interfaces'}")


@subscribers.command("remove")
@click.argument("email")
@config_option
@click.pass_obj
def subscribers_remove(obj, email, config_path) -> None:
    """Unsubscribe EMAIL (subscribers in the config file are removed by editing it)."""
    from abiwatch.db import digest_queries

    s = _settings(config_path)
    if not digest_queries.remove_subscriber(_open(_db_path(obj, s), readonly=False), email):
        raise click.ClickException(f"{email} is not an active subscriber in the database")
    click.echo(f"unsubscribed {email}")


# --- serve --------------------------------------------------------------------

@click.command()
@click.option("--host", default=None, help="Address to listen on (default: serve.host, "
              "127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default: serve.port, 8001).")
@click.option("--schema-doc", type=click.Path(dir_okay=False), default=None,
              help="Markdown schema document for descriptions (default: docs/schema.md).")
@click.option("--metadata", "print_metadata", is_flag=True,
              help="Print the Datasette metadata as JSON and exit.")
@click.option("--publish-private", is_flag=True,
              help="Also serve what is kept back by default: the subscribers and digests_sent "
                   "tables and local file paths (raw_messages.source, source_files.path...). "
                   "Only for a server nobody else can reach.")
@config_option
@click.pass_obj
def serve(obj, host, port, schema_doc, print_metadata, publish_private, config_path) -> None:
    """Browse and query the database with Datasette, read-only, with full-text search.

    Subscribers' addresses, what was mailed to whom, local file paths and the Discord
    ids of correctors are kept back (refused, or read as empty) unless --publish-private.
    """
    from abiwatch.bot import serve as srv

    s = _settings(config_path)
    path = _db_path(obj, s)
    _open(path, readonly=True).conn.close()
    doc = schema_doc or srv.SCHEMA_DOC
    if print_metadata:
        click.echo(json.dumps(srv.metadata_for(path, doc), indent=2))
        return
    host, port = host or s.serve.host, port or s.serve.port
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port} ({exc.strerror}): "
                                   "choose another --port, or stop what uses it") from exc
    click.echo(f"serving {path} read-only at http://{host}:{port}/ (Ctrl-C to stop)")
    srv.run(path, s.serve, host, port, doc, publish_private=publish_private)


def register(cli: click.Group) -> None:
    """Add the operator commands to the abiwatch command group."""
    for command in (config_group, sql, digest, subscribers, serve):
        cli.add_command(command)

