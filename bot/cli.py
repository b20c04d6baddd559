"""The `abiwatch` command: a thin edge that parses options, calls the core and
prints. Every command takes --db (or ABIWATCH_DB)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from bot import report
from db import DEFAULT_DB, DatabaseMissing, open_db

SAMPLE_DIR = Path(__file__).parent / "sample"


class Context:
    def __init__(self, db_path: str):
        self.db_path = db_path

    def db(self, *, readonly: bool = False):
        try:
            return open_db(self.db_path, readonly=readonly)
        except DatabaseMissing as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--db", "db_path", envvar="ABIWATCH_DB", default=DEFAULT_DB, show_default=True,
              help="SQLite database file (or set ABIWATCH_DB).")
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
    ctx.obj = Context(db_path)


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
    """
    from ingest.load import ingest as run_ingest

    db = obj.db()
    stats = run_ingest(db, list(paths), list_name=list_name, fmt=fmt, workers=workers,
                       rescan=rescan, progress=progress, command=" ".join(sys.argv[1:]),
                       stdin=sys.stdin.buffer if "-" in paths else None)
    click.echo(report.ingest_summary(stats))
    if stats.not_mail:
        sys.exit(1 if stats.read == 0 else 0)


@cli.command()
@click.option("--sample", type=click.Path(exists=True, file_okay=True), default=None,
              help="Archive to use instead of the bundled sample.")
@click.pass_obj
def demo(obj: Context, sample) -> None:
    """Ingest the bundled sample of real LKML threads and print what abiwatch found."""
    from ingest.load import ingest as run_ingest

    db = obj.db()
    stats = run_ingest(db, [sample or str(SAMPLE_DIR)], progress=False, command="demo")
    click.echo(report.ingest_summary(stats))
    click.echo("")
    click.echo(report.archive_report(db))


@cli.command()
@click.pass_obj
def stats(obj: Context) -> None:
    """Print what the database holds: messages, threads, patches, series, trailers."""
    click.echo(report.archive_report(obj.db(readonly=True)))


def main() -> None:
    """Console entry point."""
    cli(prog_name="abiwatch")


if __name__ == "__main__":  # pragma: no cover
    main()
