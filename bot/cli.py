"""The `abiwatch` command: a thin edge that parses options, calls the core and
prints. Every command takes --db (or ABIWATCH_DB)."""

from __future__ import annotations

import errno
import logging
import sqlite3
import sys
from pathlib import Path

import click

from abiwatch.bot import report
from abiwatch.bot.config import Settings, database_path, read_settings
from abiwatch.db import DEFAULT_DB, DatabaseMissing, no_database, open_db

SAMPLE_DIR = Path(__file__).parent / "sample"
EXIT_NOTHING_READ = 1  # ingest: no input could be read
EXIT_SOME_FAILED = 3  # ingest: some inputs could not be read in whole; the rest was stored


class Context:
    def __init__(self, db_path: str):
        self.db_path = db_path

    def db(self, *, readonly: bool = False, create: bool = False):
        """Open the database; only ingest and demo may create it (a typo in --db is an error)."""
        if not create:
            self.require_db()
        try:
            return open_db(self.db_path, readonly=readonly)
        except DatabaseMissing as exc:
            raise click.ClickException(str(exc)) from exc

    def require_db(self) -> None:
        if self.db_path != ":memory:" and not Path(self.db_path).exists():
            raise click.ClickException(no_database(self.db_path))


def hoist_global_options(args: list[str]) -> list[str]:
    """Return args with --db (and -v) moved before the subcommand, so that
    `abiwatch ingest FILE --db X` means what `abiwatch --db X ingest FILE` does."""
    front, rest, i = [], [], 0
    seen_command = False
    while i < len(args):
        a = args[i]
        if seen_command and a == "--db" and i + 1 < len(args):
            front += args[i:i + 2]
            i += 2
            continue
        if seen_command and (a.startswith("--db=") or a in ("-v", "-vv", "--verbose")):
            front.append(a)
        else:
            seen_command = seen_command or not a.startswith("-")
            rest.append(a)
        i += 1
    if not front:
        return args
    # the group's own options come first, then what followed them
    return front + rest


class AbiwatchGroup(click.Group):
    """The abiwatch command group: global options may also follow the subcommand, and
    storage that fails (a full disk, read-only storage) is one line, not a traceback."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(list(args)))

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (sqlite3.Error, OSError) as exc:
            obj = ctx.obj if isinstance(ctx.obj, Context) else None
            text = storage_problem(exc, obj.db_path if obj else "the database",
                                   ctx.invoked_subcommand or "abiwatch")
            if text is None:
                raise
            raise click.ClickException(text) from None


def _about(filename, db_path: str) -> bool:
    """Return True when filename is the database, one of its side files or its folder."""
    db = Path(db_path).resolve()
    name = Path(filename).resolve()
    return name == db.parent or str(name).startswith(str(db))


_FULL = ("database or disk is full", "no space left")
_READ_ONLY = ("readonly database", "read-only file system", "unable to open database file",
              "permission denied")


def storage_problem(exc: BaseException, db_path: str, command: str) -> str | None:
    """Return one line that says what a storage failure means and what to do, or None
    when exc is not one (a bug keeps its traceback).

    Matched on the message too: an error raised in an ingest worker comes back
    pickled, without its SQLite code.
    """
    name = getattr(exc, "sqlite_errorname", "") or ""
    err = getattr(exc, "errno", None)
    if isinstance(exc, OSError) and exc.filename and not _about(exc.filename, db_path):
        return None  # another file (an input, an --out folder): its own error says it
    low = str(exc).lower()
    again = (f"nothing is half-written: the database is as after its last whole step, and "
             f"`abiwatch {command}` goes on from there when run again")
    if name == "SQLITE_FULL" or err == errno.ENOSPC or any(w in low for w in _FULL):
        return (f"the disk holding {db_path} is full ({exc}): `abiwatch {command}` stopped; "
                f"{again} once there is space (or move the database and point --db at it)")
    if (name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN")) or err in (errno.EROFS,
            errno.EACCES) or any(w in low for w in _READ_ONLY)):
        return (f"{db_path} cannot be written ({exc}): it is on read-only storage or this "
                f"user may not write its folder, and `abiwatch {command}` writes; the reading "
                "commands (ask, stats, sql, serve) still work")
    if name.startswith("SQLITE_IOERR") or "disk i/o error" in low or err == errno.EIO:
        return (f"reading or writing {db_path} failed ({exc}): check the disk; {again}")
    if name.startswith("SQLITE_BUSY") or "database is locked" in low:
        return (f"{db_path} stayed locked by another process for too long ({exc}): wait for "
                f"it to finish and run `abiwatch {command}` again")
    return None


@click.group(cls=AbiwatchGroup,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--db", "db_path", envvar="ABIWATCH_DB", default=None,
              help=f"SQLite database file (or set ABIWATCH_DB; else [database] path in the "
                   f"config file; else ./{DEFAULT_DB}).")
@click.option("-v", "--verbose", count=True, help="More logging (-vv for debug).")
@click.version_option(package_name="abiwatch")
@click.pass_context
def cli(ctx: click.Context, db_path: str, verbose: int) -> None:
    """Track ABI/API concerns raised on kernel mailing lists, and whether they were answered.

    \b
    Typical use:
      abiwatch ingest ~/mail/lkml.mbox --list linux-kernel
      abiwatch tag
      abiwatch ask "which concerns about VMI are still open?"
    """
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=max(level, logging.DEBUG),
                        format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = Context(database_path(db_path, _settings(ctx)))


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--list", "list_name", metavar="NAME",
              help="Record the messages as coming from this list (default: from List-Id).")
@click.option("--format", "fmt", type=click.Choice(["auto", "mboxrd", "mboxo"]), default="auto",
              show_default=True,
              help="mbox flavour: mboxrd undoes '>From ' quoting; auto = mboxrd when the file "
                   "starts with 'From mboxrd@z', else mboxo.")
@click.option("--workers", type=int, default=None,
              help="Parser processes (default: 2 for archives over 8 MB, else 1).")
@click.option("--rescan", is_flag=True,
              help="Read files again even if they were ingested before and are unchanged.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar (default: only on a terminal).")
@click.pass_obj
def ingest(obj: Context, paths, list_name, fmt, workers, rescan, progress) -> None:
    """Ingest mail archives into the database.

    PATHS may be mbox files (mboxo or mboxrd, plain or .gz), .eml files, Maildir
    folders, directories of these (searched recursively), public-inbox v2
    archives (a folder holding git/0.git, git/1.git, ...) or '-' for an mbox on
    standard input. Re-running is safe: known messages are skipped, public-inbox
    archives continue from the last commit read.

    \b
    Exit status: 0 every input was read; 1 no input could be read (or another
    error); 3 some inputs could not be read in whole (not mail, unreadable or
    damaged; each is listed and recorded in parse_problems), the rest was stored.
    """
    from abiwatch.ingest.load import ingest as run_ingest

    db = obj.db(create=True)
    stats = run_ingest(db, list(paths), list_name=list_name, fmt=fmt, workers=workers,
                       rescan=rescan, progress=progress, command=" ".join(sys.argv[1:]),
                       stdin=sys.stdin.buffer if "-" in paths else None)
    click.echo(report.ingest_summary(stats))
    if stats.not_mail:
        # a cron job must notice a file that failed even when the others were stored
        sys.exit(EXIT_NOTHING_READ if stats.read == 0 else EXIT_SOME_FAILED)


@cli.command()
@click.option("--sample", type=click.Path(exists=True, file_okay=True), default=None,
              help="Archive to use instead of the bundled sample.")
@click.pass_obj
def demo(obj: Context, sample) -> None:
    """Ingest and tag the bundled sample of real LKML threads, then answer a few questions."""
    from abiwatch.bot.engine import Engine
    from abiwatch.bot.render import to_text
    from abiwatch.ingest.load import ingest as run_ingest
    from abiwatch.nlp.tagging import tag as run_tag

    db = obj.db(create=True)
    stats = run_ingest(db, [sample or str(SAMPLE_DIR)], progress=False, command="demo")
    click.echo(report.ingest_summary(stats))
    st = run_tag(db, progress=False)
    click.echo(f"tagged {st.analyzed} messages: {st.concerns} concerns "
               f"({st.open} open, {st.resolved} resolved)")
    click.echo("")
    click.echo(report.archive_report(db))
    engine = Engine(obj.db_path)
    for question in ("which concerns about VMI are still open?",
                     "what happened to the 'get rid of paravirt patching' patch?"):
        click.echo(f"\n$ abiwatch ask \"{question}\"")
        click.echo(to_text(engine.ask(question)))
    click.echo(f"\nDatabase: {obj.db_path}. Try: abiwatch --db {obj.db_path} chat")


@cli.command()
@click.option("--redo", is_flag=True,
              help="Re-tag every message (after editing the catalog or the cue patterns).")
@click.option("--catalog", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Interface catalog (TOML) to use instead of the built-in one.")
@click.option("--patterns", type=click.Path(exists=True, file_okay=False), default=None,
              help="Folder of cue pattern files (*.jsonl) to use instead of the built-in ones.")
@click.option("--workers", type=int, default=None,
              help="Tagging processes (default: 2 when there are many messages).")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="Settings file (TOML), for corrections.trusted. Default: $ABIWATCH_CONFIG.")
@click.pass_obj
def tag(obj: Context, redo, catalog, patterns, workers, progress, config_path) -> None:
    """Find interfaces, ABI/API talk and concerns in ingested mail; link and resolve them.

    Only messages not tagged yet are analysed (all of them with --redo, or when
    the catalog or patterns changed); the threads and series they belong to are
    re-decided, so a later reply can resolve an earlier concern. Then the
    `#abiwatch:` commands found in mail are applied (see `abiwatch correct`);
    corrections are kept apart and survive --redo.
    """
    from abiwatch.bot.config import read_settings
    from abiwatch.nlp.catalog import CatalogError
    from abiwatch.nlp.tagging import tag as run_tag

    settings, problems = read_settings(config_path)
    if problems:
        # Who may correct by mail is in the settings: rather than refuse commands from
        # people a broken file would have trusted (for good), leave them for a later run.
        click.echo("warning: mail commands (#abiwatch:) are left for a later run: the "
                   "configuration cannot be used: " + "; ".join(problems), err=True)
    try:
        st = run_tag(obj.db(), redo=redo, catalog_path=catalog, patterns_path=patterns,
                     workers=workers, progress=progress,
                     trusted=None if problems else settings.corrections.trusted)
    except CatalogError as exc:
        raise click.ClickException(str(exc)) from exc
    rate = st.analyzed / st.seconds if st.seconds else 0
    click.echo(f"tagged {st.analyzed} messages in {st.seconds:.1f}s ({rate:,.0f} msg/s); "
               f"{st.threads} threads re-decided; {st.concerns} concerns "
               f"({st.open} open, {st.resolved} resolved; {st.unsure} more under the "
               f"confidence threshold, shown with --unsure)")
    if st.corrected or st.refused:
        click.echo(f"mail commands: {st.corrected} corrections applied, {st.refused} recorded "
                   "but not applied (`abiwatch corrections list` shows why)")


@cli.command()
@click.argument("concern")
@click.pass_obj
def explain(obj: Context, concern: str) -> None:
    """Show why a concern was found: its sentence, the rule that fired, its patch and resolution.

    CONCERN is a concern's id (the #12 answers show), or the Message-ID or lore link of
    the mail that raised it (every concern of that mail is explained).
    """
    from abiwatch.db.lore import message_id_from

    db = obj.db(readonly=True)
    if concern.isdigit():
        ids = [int(concern)]
    else:
        mid = message_id_from(concern)
        if mid is None:
            raise click.ClickException(f"{concern[:80]!r} is neither a concern id nor a "
                                       "Message-ID or lore link")
        ids = [r[0] for r in db.execute("SELECT id FROM concerns WHERE message_id = ? ORDER BY id",
                                        [mid])]
    texts = [t for t in (report.explain_concern(db, i) for i in ids) if t is not None]
    if not texts:
        raise click.ClickException(
            f"no concern {concern[:80]}; list them with: abiwatch ask unresolved, or abiwatch sql "
            "\"SELECT id, interface, status, text FROM concerns\"")
    click.echo("\n\n".join(texts))


@cli.command()
@click.pass_obj
def stats(obj: Context) -> None:
    """Print what the database holds: messages, threads, patches, series, trailers."""
    click.echo(report.archive_report(obj.db(readonly=True)))


def _settings(ctx: click.Context) -> Settings:
    """Return the settings of the config file ($ABIWATCH_CONFIG) and the environment.

    A broken config file is refused here, for every command, as `config check`
    reports it: a command that ran on defaults instead (a database in the current
    folder, no trusted correctors) would do something else than asked. `config`
    itself, which diagnoses it, and --help still work.
    """
    settings, problems = read_settings()
    asking_help = any(a in ("-h", "--help") for a in sys.argv[1:])
    if problems and ctx.invoked_subcommand != "config" and not asking_help:
        raise click.ClickException(
            "the configuration cannot be used:\n  - " + "\n  - ".join(problems)
            + "\n(`abiwatch config check` explains each setting's problem)")
    return settings


def _register_commands() -> None:
    # Each edge module adds its own commands; cli.py stays the place options are shared.
    # Listed explicitly: a module that fails to import is an error, not a missing command.
    from abiwatch.bot import (
        cli_ask,
        cli_commits,
        cli_correct,
        cli_discord,
        cli_model,
        cli_ops,
    )

    for module in (cli_ops, cli_ask, cli_discord, cli_model, cli_correct, cli_commits):
        module.register(cli)


_register_commands()


def main() -> None:
    """Console entry point."""
    cli(prog_name="abiwatch")


if __name__ == "__main__":  # pragma: no cover
    main()
