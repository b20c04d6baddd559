"""`abiwatch ask` and `abiwatch chat`: the answer engine from the terminal."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from abiwatch.bot.engine import Engine
from abiwatch.bot.render import to_json, to_text


def register(cli: click.Group) -> None:
    """Add the ask and chat commands to the abiwatch command group."""

    @cli.command()
    @click.argument("question", nargs=-1, required=True)
    @click.option("--json", "as_json", is_flag=True, help="Print a JSON object for scripts.")
    @click.pass_obj
    def ask(obj, question, as_json) -> None:
        """Answer one question, in plain words or as a command.

        For example: abiwatch ask "which concerns about VMI are still open?".
        Commands work too: unresolved [INTERFACE], concerns INTERFACE [--status S] [--by P]
        [--since D], interface NAME, patch WORDS, thread MESSAGE-ID, search QUERY, who PERSON.
        """
        obj.require_db()
        answer = Engine(obj.db_path).ask(" ".join(question))
        click.echo(to_json(answer) if as_json else to_text(answer))
        if not answer.ok:
            sys.exit(1)

    @cli.command()
    @click.pass_obj
    def chat(obj) -> None:
        """Ask questions interactively (history in ~/.abiwatch_history; empty line or Ctrl-D quits)."""
        try:
            import readline
        except ImportError:  # pragma: no cover - not on every platform
            readline = None
        history = Path(os.path.expanduser("~/.abiwatch_history"))
        if readline is not None and history.exists():
            readline.read_history_file(str(history))
        engine = Engine(obj.db_path)
        last = None  # the question before, for "more" and "and for Xen?"
        click.echo("Ask about kernel interface concerns; `help` lists the commands.")
        try:
            while True:
                try:
                    line = input("abiwatch> ").strip()
                except EOFError:
                    break
                if not line or line in ("quit", "exit"):
                    break
                asked = engine.follow_up(line, last)
                if asked is None:
                    try:
                        asked = engine.understand(line)
                    except ValueError:
                        click.echo(to_text(engine.ask(line)))  # says what could not be read
                        continue
                click.echo(to_text(engine.answer(asked)))
                last = asked
        finally:
            if readline is not None:
                try:
                    readline.write_history_file(str(history))
                except OSError:
                    pass
