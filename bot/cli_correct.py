"""`abiwatch correct` and `abiwatch corrections`: people correcting the verdict on a
concern from the command line, and the audit trail and report of all corrections.

The same engine (db/corrections.py) takes corrections from Discord and from
`#abiwatch:` lines in list mail; this edge only parses, calls it and prints.
"""

from __future__ import annotations

import getpass
import re

import click

from abiwatch.db import correction_reports as reports
from abiwatch.db import corrections as corr
from abiwatch.db.lore import lore_url

ACTIONS_HELP = ("not-a-concern [REASON], resolved-by [MESSAGE-ID|LORE-LINK] [REASON], "
                "reopen [REASON], interface NAME, patch MESSAGE-ID")


def concern_id_of(text: str) -> int:
    """Return the concern id typed (`12` or `#12`); raise a one-line error otherwise."""
    m = re.fullmatch(r"#?(\d{1,12})", text.strip())
    if not m:
        raise click.ClickException(f"CONCERN_ID must be a concern number like 12, not "
                                   f"{corr.clean(text, 40)!r}")
    return int(m.group(1))


def outcome(state: dict) -> str:
    """Return what a concern now says after a correction, in a few words."""
    if state["status"] == "not-a-concern":
        return "not a concern: answers, the digest and the views leave it out"
    if state["status"] == "resolved":
        cites = f", citing {lore_url(state['resolved_by'])}" if state.get("resolved_by") else ""
        return f"resolved ({state['resolution']}){cites}"
    return f"{state['status']}, about {state['interface']}" + (
        f", patch {lore_url(state['patch_message_id'])}" if state.get("patch_message_id") else "")


def _who(by: str | None) -> str:
    if by:
        return by
    try:
        return getpass.getuser()
    except Exception:  # no login name (a container without a passwd entry)
        return "unknown"


@click.command()
@click.argument("concern_id")
@click.argument("action", nargs=-1)
@click.option("--reason", default=None, help="Why (kept with the correction, shown by explain).")
@click.option("--by", "by", default=None, metavar="NAME",
              help="Who makes the correction (default: your login name).")
@click.pass_obj
def correct(obj, concern_id: str, action: tuple[str, ...], reason: str | None,
            by: str | None) -> None:
    """Correct abiwatch's verdict on concern CONCERN_ID.

    \b
    ACTION is one of:
      not-a-concern [REASON]            it is not a concern: answers leave it out
      resolved-by [MESSAGE-ID] [REASON] it was resolved (by that mail, a Message-ID or lore link)
      reopen [REASON]                   it is still open
      interface NAME                    it is about another interface
      patch MESSAGE-ID                  it is about another patch

    The correction is recorded with who made it and when; it overrides the automatic
    verdict everywhere, survives `abiwatch tag --redo`, and a later one supersedes it.
    """
    cid = concern_id_of(concern_id)
    if not action:
        raise click.ClickException(f"say what to correct: {ACTIONS_HELP}")
    try:
        wanted = corr.parse_action(" ".join(action))
        if reason is not None:
            wanted = corr.Action(wanted.action, wanted.value, corr.clean(reason, corr.MAX_REASON))
        db = obj.db()
        state = corr.correct(db, cid, wanted, author=_who(by), source="cli",
                             command=" ".join(action))
    except corr.CorrectionError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"concern {cid} ({state['interface']}, raised by {state['author_name'] or state['author_addr']}): "
               f"{outcome(state)}; correction {state['correction_id']} by {_who(by)}")
    if wanted.value and "@" in wanted.value and not db.execute(
            "SELECT 1 FROM messages WHERE message_id = ?", [wanted.value]).fetchone():
        click.echo(f"note: {wanted.value} is not in the archive; its lore link is kept", err=True)


@click.group("corrections")
def corrections_group() -> None:
    """The corrections people made: the audit trail, and which decisions they correct."""


@corrections_group.command("list")
@click.option("--concern", "concern_id", default=None, help="Only the corrections of this concern.")
@click.option("--limit", type=click.IntRange(1, 100000), default=50, show_default=True)
@click.pass_obj
def corrections_list(obj, concern_id: str | None, limit: int) -> None:
    """List corrections newest first (applied or not, and why not), and mail commands
    that answer no concern yet."""
    db = obj.db(readonly=True)
    cid = concern_id_of(concern_id) if concern_id is not None else None
    rows = reports.recent(db, concern_id=cid, limit=limit)
    for k in rows:
        state = "applied" if k["applied"] else f"NOT applied: {k['refused']}"
        now = f"concern {k['current_id']}" if k["current_id"] else "concern no longer found"
        click.echo(f"#{k['id']} {k['made_at']}  {now} ({k['interface']}): {k['command']}"
                   f"  -- {k['author']} via {k['source']}  [{state}]")
        if k["reason"]:
            click.echo(f"    reason: {k['reason']}")
        if k["source"] == "mail":
            click.echo(f"    {lore_url(k['source_ref'])}")
    if not rows:
        click.echo("no corrections yet")
    if cid is None:
        for w in reports.waiting_mail_commands(db):
            click.echo(f"waiting: #abiwatch: {w['command']} -- {w['from_name'] or w['from_addr']}, "
                       f"{(w['date'] or '?')[:10]}: the mail it answers raised no concern "
                       f"{lore_url(w['message_id'])}")


@corrections_group.command("report")
@click.pass_obj
def corrections_report(obj) -> None:
    """Which automatic decisions people correct most: the cue or model that raised a
    concern that was none, the resolution rule that closed one still open, ..."""
    db = obj.db(readonly=True)
    found = reports.corrected_decisions(db)
    n = reports.counts(db)
    click.echo(f"{n['applied']} corrections applied, {n['refused']} recorded but not applied")
    if not found:
        click.echo("no automatic decision has been corrected yet")
        return
    width = max(len(d.by) for d in found)
    groups: dict[str, list[reports.Decision]] = {}
    for d in found:  # most corrected first, within the most corrected kind first
        groups.setdefault(d.what, []).append(d)
    for what, items in sorted(groups.items(), key=lambda g: -sum(d.n for d in g[1])):
        click.echo(f"\n{what} ({sum(d.n for d in items)}):")
        for d in items:
            ids = ", ".join(str(i) for i in d.concerns[:10]) + (" ..." if d.n > 10 else "")
            click.echo(f"  {d.n:4d}  {d.by:<{width}}  concerns {ids}")


def register(cli: click.Group) -> None:
    """Add `correct` and `corrections` to the abiwatch command group."""
    cli.add_command(correct)
    cli.add_command(corrections_group)
