"""Reading the corrections back: the audit trail, what they say about the automatic
decisions (which cue, model or resolution rule people correct most), and labels
for training the concern classifier on them. Read-only; values are parameters."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field

import sqlite_utils

from abiwatch.db.blobs import decompress_raw
from abiwatch.db.corrections import VERDICTS

_KIND = "CASE WHEN k.action IN ('not-a-concern', 'resolved-by', 'reopen') THEN 'verdict' ELSE k.action END"
# The corrections in effect: per concern and kind (verdict, interface, patch), the
# newest applied one (the order effective_concerns uses).
_IN_EFFECT = f"""
    SELECT * FROM (SELECT k.*, ROW_NUMBER() OVER (PARTITION BY k.message_id, k.interface, {_KIND}
                                                  ORDER BY k.made_at DESC, k.id DESC) AS n
                   FROM corrections k WHERE k.applied = 1) WHERE n = 1
"""


def recent(db: sqlite_utils.Database, *, concern_id: int | None = None,
           limit: int = 50) -> list[dict]:
    """Return corrections newest first (of one concern, or all), with the concern's
    current id and sentence when it still exists."""
    where, params = "", []
    if concern_id is not None:
        where = ("WHERE (k.message_id, k.interface) IN (SELECT message_id, interface FROM concerns "
                 "WHERE id = ?)")
        params.append(concern_id)
    return list(db.query("SELECT k.*, c.id AS current_id, c.text FROM corrections k LEFT JOIN "
                             "concerns c ON c.message_id = k.message_id AND c.interface = k.interface "
                             f"{where} ORDER BY k.made_at DESC, k.id DESC LIMIT ?", [*params, limit]))


def waiting_mail_commands(db: sqlite_utils.Database) -> list[dict]:
    """Return mail commands not applied to any concern: the mail they answer raised none
    (yet: they are tried again after every `abiwatch tag`)."""
    return list(db.query("""
        SELECT mc.message_id, mc.position, mc.command, m.from_name, m.from_addr, m.date,
               COALESCE(m.in_reply_to, m.parent_id) AS replies_to
        FROM mail_commands mc JOIN messages m ON m.message_id = mc.message_id
        WHERE NOT EXISTS (SELECT 1 FROM corrections k WHERE k.source = 'mail'
                          AND k.source_ref = mc.message_id AND k.position = mc.position)
        ORDER BY m.date, mc.message_id, mc.position"""))


@dataclass
class Decision:
    """One kind of automatic decision people corrected: how many times, on which concerns."""

    what: str   # e.g. "raised a concern that was none"
    by: str     # the rule, cue, model or resolution policy that decided it
    concerns: list[int] = field(default_factory=list)  # concern ids at correction time

    @property
    def n(self) -> int:
        return len(self.concerns)


def _decision(k: dict, auto: dict) -> tuple[str, str] | None:
    """Return (what was wrong, what decided it) for a correction in effect, or None."""
    rule = auto.get("rule_id") or "?"
    cue = f"{rule} (\"{auto['cue']}\")" if auto.get("cue") and rule != "model.textcat" else rule
    status = auto.get("status")
    if k["action"] == "not-a-concern":
        return "raised a concern that was none", cue
    if k["action"] in ("resolved-by", "reopen") and not auto.get("confident", 1):
        return "kept a concern under the shown threshold", cue
    if k["action"] == "reopen" and status == "resolved":
        return "resolved a concern that was still open", auto.get("resolution") or "?"
    if k["action"] == "resolved-by" and status == "open":
        stale = (auto.get("stale") or "").split(":")[0]
        return "missed a resolution", f"left open ({stale})" if stale else "left open"
    if k["action"] == "resolved-by" and k["value"] and k["value"] != auto.get("resolved_by"):
        return "cited the wrong resolving mail", auto.get("resolution") or "?"
    if k["action"] == "interface":
        return "chose the wrong interface", f"{k['interface']} -> {k['value']}"
    if k["action"] == "patch":
        return "linked the wrong patch", f"patch link by {auto.get('link_how') or '?'}"
    return None  # agrees with the automatic verdict (e.g. reopening an open concern)


def corrected_decisions(db: sqlite_utils.Database) -> list[Decision]:
    """Return the automatic decisions people corrected, most often corrected first: the
    cue or model that raised a concern that was none, the resolution rule that closed
    one too early, ... Each concern counts once per kind, by its correction in effect."""
    found: dict[tuple[str, str], Decision] = {}
    for k in db.query(_IN_EFFECT + " ORDER BY made_at, id"):
        auto = json.loads(k["automatic"] or "{}")
        what = _decision(k, auto)
        if what is not None:
            found.setdefault(what, Decision(*what)).concerns.append(k["concern_id"])
    return sorted(found.values(), key=lambda d: (-d.n, d.what, d.by))


def training_labels(db: sqlite_utils.Database) -> list[dict]:
    """Return sentence labels from the verdicts people gave: `not-a-concern` makes the
    concern's sentence a negative, `resolved-by` and `reopen` a positive. Shaped like
    the judged sentences of the tuning sets: {"message_id", "sentence", "concern"}."""
    out = []
    for k in db.query(_IN_EFFECT + " AND action IN ({}) ORDER BY made_at, id".format(
            ",".join("?" * len(VERDICTS))), list(VERDICTS)):
        sentence = json.loads(k["automatic"] or "{}").get("text")
        if sentence:
            out.append({"message_id": k["message_id"], "sentence": sentence,
                        "concern": k["action"] != "not-a-concern", "interface": k["interface"]})
    return out


def raw_mail(db: sqlite_utils.Database, message_ids: list[str]) -> dict[str, bytes]:
    """Return message id -> the raw bytes of its first copy, for the given messages."""
    out: dict[str, bytes] = {}
    for mid in dict.fromkeys(message_ids):
        row = db.execute("SELECT raw FROM raw_messages WHERE message_id = ? AND is_variant = 0 "
                         "ORDER BY rowid LIMIT 1", [mid]).fetchone()
        if row is not None:
            out[mid] = decompress_raw(row[0])
    return out


def counts(db: sqlite_utils.Database) -> dict[str, int]:
    """Return how many corrections are applied and how many were only recorded."""
    rows = db.execute("SELECT applied, COUNT(*) FROM corrections GROUP BY applied").fetchall()
    got = defaultdict(int, {bool(a): n for a, n in rows})
    return {"applied": got[True], "refused": got[False]}
