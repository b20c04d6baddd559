"""Corrections: people who know overriding the automatic verdict on a concern.

One engine for the three ways in (the `abiwatch correct` command, Discord, and
`#abiwatch:` lines in list mail): every correction is read with `parse_action`,
checked with `check_action` and written by `record`, as one row of
`corrections`. Nothing is updated or deleted: a later correction supersedes an
earlier one in the `effective_concerns` view, which is where every answer, the
digest and the other views read a concern's verdict.

A correction names its concern by the natural key (message_id, interface), not by
the concern id, so it survives `abiwatch tag --redo`; the id it had is kept for
the record. Values are always query parameters.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlite_utils

from abiwatch.db.lore import message_id_from

VERDICTS = ("not-a-concern", "resolved-by", "reopen")
ACTIONS = (*VERDICTS, "interface", "patch")
SOURCES = ("cli", "discord", "mail")
INVALID = "invalid"  # the action of a mail command that could not be read (never applied)
MAX_COMMAND = 500
MAX_REASON = 300
MAX_AUTHOR = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class CorrectionError(ValueError):
    """A correction that cannot be made; the message is one line saying why."""


@dataclass(frozen=True)
class Action:
    """What a correction says: one of ACTIONS, its value and an optional reason."""

    action: str
    value: str | None = None  # the resolving mail or patch (message id), or an interface name
    reason: str | None = None

    def describe(self) -> str:
        """Return the action as it would be typed (`resolved-by <id>`)."""
        return " ".join(p for p in (self.action, self.value and (
            self.value if self.action == "interface" else f"<{self.value}>")) if p)


def now() -> str:
    """Return the current time as stored dates are written (UTC, `...Z`)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def clean(text: str | None, limit: int) -> str | None:
    """Return text on one line (control characters become spaces), cut to limit; None if empty."""
    text = " ".join(_CONTROL.sub(" ", text or "").split())[:limit]
    return text or None


def parse_action(text: str) -> Action:
    """Return the action a correction command says; raise CorrectionError if it says none.

    The grammar, shared by the command line, Discord and mail:
    `not-a-concern [REASON]`, `resolved-by [MESSAGE-ID|LORE-LINK] [REASON]`,
    `reopen [REASON]`, `interface NAME [REASON]`, `patch MESSAGE-ID|LORE-LINK [REASON]`.
    """
    words = (clean(text, MAX_COMMAND) or "").split(" ")
    name = words[0].lower().rstrip(":")
    rest = words[1:]
    if name not in ACTIONS:
        shown = clean(words[0], 40) or "nothing"
        raise CorrectionError(f"unknown correction {shown!r}: say one of {', '.join(ACTIONS)}")
    value = None
    if name in ("resolved-by", "patch") and rest:
        value = message_id_from(rest[0])
        if value is not None:
            rest = rest[1:]
    if name == "patch" and value is None:
        raise CorrectionError("patch needs the patch's Message-ID or lore link, "
                              "like patch <20060803223035.GA26366@kroah.com>")
    if name == "interface":
        if not rest:
            raise CorrectionError("interface needs the interface's name, like interface Xen")
        value, rest = rest[0], rest[1:]
    reason = clean(" ".join(rest).lstrip("-—:;,. "), MAX_REASON)
    return Action(name, value, reason)


def interface_name(db: sqlite_utils.Database, name: str) -> str:
    """Return the catalog's spelling of an interface name (any case); raise if unknown."""
    known = [r[0] for r in db.execute("SELECT name FROM interfaces ORDER BY rowid")]
    for k in known:
        if k.lower() == name.lower():
            return k
    raise CorrectionError(f"unknown interface {clean(name, 40)!r}; known: "
                          f"{', '.join(known) or 'none (run `abiwatch tag` first)'}")


def check_action(db: sqlite_utils.Database, action: Action) -> Action:
    """Return the action ready to record (interface names in the catalog's spelling)."""
    if action.action == "interface":
        return Action(action.action, interface_name(db, action.value or ""), action.reason)
    return action


def concern_row(db: sqlite_utils.Database, concern_id: int) -> dict | None:
    """Return a concern's automatic verdict (the `concerns` row, with its patch link), or None."""
    rows = list(db.query("SELECT c.*, mp.how AS link_how FROM concerns c "
                             "LEFT JOIN message_patch mp ON mp.message_id = c.message_id "
                             "WHERE c.id = ?", [concern_id]))
    return rows[0] if rows else None


def _automatic(concern: dict) -> str:
    """Return the automatic verdict a correction overrides, as JSON (for the report)."""
    keys = ("status", "resolved_by", "resolution", "stale", "confidence", "confident", "rule_id",
            "cue", "patch_message_id", "link_how", "text")
    return json.dumps({k: concern.get(k) for k in keys}, sort_keys=True)


def record(db: sqlite_utils.Database, concern: dict, action: Action, *, author: str,
           source: str, author_id: str | None = None, source_ref: str | None = None,
           position: int | None = None, made_at: str | None = None, applied: bool = True,
           refused: str | None = None, command: str | None = None) -> int:
    """Write one correction of concern (a `concerns` row) and return its id; the caller's
    transaction, if any, holds it."""
    if source not in SOURCES:
        raise CorrectionError(f"unknown source {source!r}")
    who = clean(author, MAX_AUTHOR)
    if not who:
        raise CorrectionError("a correction needs the name of who makes it")
    cur = db.conn.execute(
        "INSERT INTO corrections (message_id, interface, concern_id, action, value, reason, "
        "command, author, author_id, source, source_ref, position, made_at, applied, refused, "
        "automatic) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [concern["message_id"], concern["interface"], concern["id"], action.action, action.value,
         action.reason, clean(command, MAX_COMMAND) or action.describe(), who,
         clean(author_id, MAX_AUTHOR), source, source_ref, position, made_at or now(),
         int(applied), refused, _automatic(concern)])
    return cur.lastrowid


def correct(db: sqlite_utils.Database, concern_id: int, action: Action, *, author: str,
            source: str, author_id: str | None = None, source_ref: str | None = None,
            command: str | None = None) -> dict:
    """Record an applied correction of the concern with concern_id (from the command line or
    chat); return the concern as it now reads (an `effective_concerns` row, or the
    automatic row with status 'not-a-concern')."""
    concern = concern_row(db, concern_id)
    if concern is None:
        raise CorrectionError(f"no concern with id {concern_id}")
    action = check_action(db, action)
    with db.conn:
        correction_id = record(db, concern, action, author=author, source=source,
                               author_id=author_id, source_ref=source_ref, command=command)
    state = effective(db, concern_id) or {**concern, "status": "not-a-concern"}
    return {**state, "correction_id": correction_id}


def effective(db: sqlite_utils.Database, concern_id: int) -> dict | None:
    """Return a concern as corrected (its `effective_concerns` row); None if it was marked
    not a concern (or does not exist)."""
    rows = list(db.query("SELECT * FROM effective_concerns WHERE id = ?", [concern_id]))
    return rows[0] if rows else None


def history(db: sqlite_utils.Database, message_id: str, interface: str) -> list[dict]:
    """Return every correction of the concern (message_id, interface), oldest first, with
    whether it is the one in effect for its kind."""
    rows = list(db.query("SELECT * FROM corrections WHERE message_id = ? AND interface = ? "
                             "ORDER BY made_at, id", [message_id, interface]))
    latest: dict[str, int] = {}
    for r in rows:
        if r["applied"]:
            latest[_kind(r["action"])] = r["id"]
    for r in rows:
        r["in_effect"] = latest.get(_kind(r["action"])) == r["id"]
    return rows


def _kind(action: str) -> str:
    """Return which part of the verdict an action corrects: 'verdict', 'interface' or 'patch'."""
    return "verdict" if action in VERDICTS else action


# --- mail commands --------------------------------------------------------------


@dataclass
class MailOutcome:
    """What applying the mail commands did: corrections applied, recorded but refused, and
    commands whose mail answers no concern (yet)."""

    applied: int = 0
    refused: int = 0
    unmatched: int = 0


def _targets(db: sqlite_utils.Database, in_reply_to: str | None, parent_id: str | None) -> list[dict]:
    """Return the concerns raised by the message a command mail replies to."""
    for parent in dict.fromkeys(p for p in (in_reply_to, parent_id) if p):
        rows = list(db.query("SELECT c.*, mp.how AS link_how FROM concerns c LEFT JOIN "
                                 "message_patch mp ON mp.message_id = c.message_id "
                                 "WHERE c.message_id = ? ORDER BY c.id", [parent]))
        if rows:
            return rows
    return []


def trusted_by(db: sqlite_utils.Database, sender: str | None, concern: dict,
               trusted: Iterable[str]) -> str | None:
    """Return why sender may correct concern ('trusted', 'raiser', 'patch author'), or None."""
    if not sender:
        return None
    sender = sender.lower()
    if sender in {t.strip().lower() for t in trusted}:
        return "trusted"
    if sender == (concern.get("author_addr") or "").lower():
        return "raiser"
    authors = {r[0] for r in db.execute(
        "SELECT lower(from_addr) FROM messages WHERE message_id = ? UNION "
        "SELECT lower(author_addr) FROM series WHERE id = ?",
        [concern.get("patch_message_id"), concern.get("series_id")]) if r[0]}
    return "patch author" if sender in authors else None


def apply_mail_commands(db: sqlite_utils.Database, trusted: Iterable[str] = ()) -> MailOutcome:
    """Turn each `#abiwatch:` command ingested from mail into corrections of the concerns
    raised by the message it replies to; return what was done.

    Idempotent: a command already recorded for a concern is not recorded again, and a
    command whose parent raises no concern yet waits for a later run (after `tag`).
    Commands from a sender who is not trusted (the config's `corrections.trusted`,
    the concern's raiser, the patch's author) are recorded with applied = 0.
    """
    trusted = list(trusted)
    out = MailOutcome()
    commands = list(db.query("""
        SELECT mc.message_id, mc.position, mc.command, m.from_name, m.from_addr, m.date,
               m.in_reply_to, m.parent_id
        FROM mail_commands mc JOIN messages m ON m.message_id = mc.message_id
        ORDER BY m.date, mc.message_id, mc.position"""))
    stamp = now()
    with db.conn:
        for cmd in commands:
            concerns = _targets(db, cmd["in_reply_to"], cmd["parent_id"])
            if not concerns:
                out.unmatched += 1
                continue
            for concern in concerns:
                if db.execute("SELECT 1 FROM corrections WHERE source = 'mail' AND source_ref = ? "
                              "AND position = ? AND message_id = ? AND interface = ?",
                              [cmd["message_id"], cmd["position"], concern["message_id"],
                               concern["interface"]]).fetchone():
                    continue
                applied = _record_mail(db, cmd, concern, trusted, stamp)
                out.applied += applied
                out.refused += not applied
    return out


def _record_mail(db: sqlite_utils.Database, cmd: dict, concern: dict, trusted: list[str],
                 stamp: str) -> bool:
    """Record one mail command against one concern; return whether it was applied."""
    refused = None
    try:
        action = check_action(db, parse_action(cmd["command"]))
    except CorrectionError as exc:
        action, refused = Action(INVALID), f"not understood: {exc}"
    if refused is None and trusted_by(db, cmd["from_addr"], concern, trusted) is None:
        refused = (f"{cmd['from_addr'] or 'an unknown sender'} is not trusted: not in "
                   "corrections.trusted, not the raiser, not the patch's author")
    # A mail's date orders it among corrections, but never after the moment it was read:
    # a future Date header must not outrank every later correction.
    made_at = min(cmd["date"] or stamp, stamp)
    record(db, concern, action, author=cmd["from_name"] or cmd["from_addr"] or "unknown sender",
           author_id=cmd["from_addr"], source="mail", source_ref=cmd["message_id"],
           position=cmd["position"], made_at=made_at, applied=refused is None, refused=refused,
           command=cmd["command"])
    return refused is None
