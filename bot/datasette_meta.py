"""Datasette metadata for the abiwatch database: descriptions, search, canned queries.

Descriptions come from docs/schema.md when it exists (the documented schema is
the public interface) and fall back to the short ones kept here, so `abiwatch
serve` is useful before and after that document is written. Only names that
exist in the database are used, so a stale description never shows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlite_utils

SCHEMA_DOC = Path(__file__).resolve().parents[1] / "docs" / "schema.md"

# table -> (description, {column: description})
DESCRIPTIONS: dict[str, tuple[str, dict[str, str]]] = {
    "messages": ("One row per mail, parsed; own text is what the author wrote, without quotes, "
                 "signature or list footer.", {
        "message_id": "Message-ID without angle brackets; lore link: "
                      "https://lore.kernel.org/r/<message_id>",
        "synthetic_id": "1 when the mail had no Message-ID and one was derived from its content",
        "date": "Sent date in UTC (ISO 8601)",
        "date_raw": "The Date header as written",
        "date_source": "Where the date came from: header, dateutil repair, Received or mbox From_",
        "own_text": "What the author wrote: quoted text, signature and list footer removed",
        "quoted_text": "Lines quoted from earlier mail",
        "parent_id": "The message this one replies to (may be a placeholder)",
        "parent_source": "How the parent was found: in-reply-to, references or subject",
        "thread_id": "Message-ID of the thread's root",
        "is_patch": "1 when the subject says PATCH (or similar)",
        "has_diff": "1 when the body carries a diff",
        "norm_subject": "Subject without Re:/[PATCH ...] prefixes, lowercased"}),
    "threads": ("One row per thread, with its root and date range.", {
        "root_is_placeholder": "1 when the root mail is missing from the archive"}),
    "placeholders": ("Messages referenced by replies but missing from the archive.", {}),
    "message_references": ("The References header of each message, in order.", {}),
    "message_lists": ("Which mailing list(s) each message came from.", {}),
    "lists": ("Mailing lists seen, with their List-Id.", {}),
    "series": ("Patch series: a cover letter and its parts; versions are linked.", {
        "series_key": "What ties versions together: change-id, else author and subject",
        "version": "The vN of the series (1 when not given)",
        "is_rfc": "1 for an RFC series",
        "supersedes": "id of the previous version of this series",
        "superseded_by": "id of the next version",
        "total": "Number of patches announced (the N in 1/N)",
        "received": "Number of patches found in the archive",
        "first_date": "When the first mail of the series was sent"}),
    "patches": ("One row per patch mail (or cover letter, or pull request).", {
        "kind": "diff, attachment, cover, pull, revision (a new version posted in a reply) or announce",
        "series_id": "The series this patch belongs to",
        "part": "The n in [PATCH n/N]",
        "diff": "The patch itself"}),
    "patch_files": ("Files each patch touches, with its diffstat.", {}),
    "trailers": ("Trailers (Signed-off-by, Acked-by, Reviewed-by, NAK...) from own text.", {
        "name": "Canonical trailer name (Nacked-by and bare NAK for NAKs)",
        "patch_message_id": "The patch the trailer applies to",
        "applies_to": "patch, or series when given on a cover letter",
        "ignored_reason": "not-sender: a follow-up's trailer naming someone else; not counted"}),
    "patch_trailers": ("Trailers each patch carries, cover-letter follow-ups on every patch.", {}),
    "parse_problems": ("Everything that could not be parsed cleanly, per message.", {}),
    "source_files": ("Archive files read, so unchanged files are skipped next time.", {}),
    "inbox_progress": ("Last commit read from each public-inbox git epoch.", {}),
    "ingest_runs": ("One row per `abiwatch ingest` run, with its counts.", {}),
    "raw_messages": ("The raw bytes of every mail, so nothing is ever lost.", {}),
    "interfaces": ("The interface catalog (paravirt_ops, VMI, Xen, KVM...).", {
        "kind": "ABI, API or both"}),
    "message_interfaces": ("Which interfaces each message discusses, and the evidence.", {
        "source": "Where the evidence is: subject, text or diff"}),
    "message_tags": ("ABI/API talk found in a message.", {}),
    "nlp_hits": ("Every rule that fired, with its id, so each finding can be explained.", {}),
    "message_patch": ("Which patch a reply is about, and how that was decided.", {
        "how": "in-reply-to, references, link trailer or subject"}),
    "concerns": ("ABI/API concerns raised in mail, and whether each was resolved, as the "
                 "tagger decided (effective_concerns: as people corrected them).", {
        "text": "The sentence that raises the concern",
        "kind": "objection, question, request, risk or nak",
        "status": "open or resolved (automatic; see effective_concerns)",
        "resolved_by": "Message-ID of the mail that shows the resolution",
        "resolution": "How it was resolved, in words",
        "confidence": "How sure the rules are that this is a concern (0..1)",
        "rule_id": "The rule that fired (see nlp/data/patterns)",
        "date": "When it was raised (UTC)"}),
    "concern_candidates": ("Sentences that looked like concerns but were not kept.", {}),
    "corrections": ("Corrections people made to a concern's verdict (CLI, Discord, mail); "
                    "never deleted, the newest applied one wins.", {
        "action": "not-a-concern, resolved-by, reopen, interface or patch",
        "applied": "0: recorded only (an untrusted mail sender, or not understood)",
        "refused": "Why it was not applied"}),
    "mail_commands": ("#abiwatch: command lines found in mail, applied after tagging.", {}),
    "effective_concerns": ("Every concern as people corrected it; answers and the digest "
                           "read this.", {
        "correction": "The verdict a person gave (resolved-by or reopen)",
        "corrected_by": "Who gave it"}),
    "tagged_messages": ("Messages already tagged, with the catalog version used.", {}),
    "subscribers": ("Who receives the weekly digest, and for which interfaces.", {
        "interfaces": "JSON list (or comma-separated) of interface names; empty means all",
        "active": "0 after unsubscribing"}),
    "digests_sent": ("Digests already sent, so a week is mailed to a recipient once.", {
        "week": "ISO week (2007-W10) or first..last day of the period"}),
    "message_links": ("Every message with its lore.kernel.org link.", {}),
    "patch_versions": ("Series with their versions in order, to follow a patch over time.", {}),
    "open_concerns": ("Concerns still open, newest first, with their links.", {}),
    "concern_timeline": ("Every concern with when and by whom it was resolved.", {
        "days_to_resolve": "Days between the concern and its resolution"}),
    "interface_activity": ("Messages, threads, people, patches and concerns per interface "
                           "and month.", {}),
}

HIDDEN = ("raw_messages", "_migrations", "tagged_messages", "concern_candidates")

QUERIES: dict[str, dict[str, str]] = {
    "open_concerns_by_interface": {
        "title": "Open concerns for an interface",
        "description": "Concerns still open, oldest first, with their age; leave interface "
                       "empty for all.",
        "sql": "SELECT id, interface, kind, date,\n"
               "       CAST(julianday('now') - julianday(date) AS INTEGER) AS age_days,\n"
               "       author_name, text, url, patch_title\n"
               "FROM open_concerns\n"
               "WHERE :interface = '' OR interface = :interface COLLATE NOCASE\n"
               "ORDER BY date",
    },
    "interface_activity_by_month": {
        "title": "Activity per interface and month",
        "description": "Messages, threads, people, patches and concerns raised per month.",
        "sql": "SELECT * FROM interface_activity\n"
               "WHERE :interface = '' OR interface = :interface COLLATE NOCASE\n"
               "ORDER BY interface, month",
    },
    "patch_versions_by_title": {
        "title": "Versions of a patch series",
        "description": "Every version of the series whose title contains the words given.",
        "sql": "SELECT series_key, version, is_rfc, title, author_name, first_date, received,\n"
               "       total, 'https://lore.kernel.org/r/' || series_id AS url\n"
               "FROM patch_versions\n"
               "WHERE title LIKE '%' || :title || '%'\n"
               "ORDER BY series_key, version, first_date",
    },
    "concern_timeline_by_interface": {
        "title": "Concern timeline",
        "description": "Each concern, when it was raised and when and how it was resolved; "
                       "status is open, resolved or empty for both.",
        "sql": "SELECT * FROM concern_timeline\n"
               "WHERE (:interface = '' OR interface = :interface COLLATE NOCASE)\n"
               "  AND (:status = '' OR status = :status)\n"
               "ORDER BY raised",
    },
}

_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_ROW = re.compile(r"^\s*\|(.+)\|\s*$")
_BULLET = re.compile(r"^\s*[-*]\s+`?([A-Za-z_][\w.]*)`?(?:\s*\([^)]*\))?\s*[:—–-]\s+(.+)$")


def _clean(text: str) -> str:
    return " ".join(text.replace("`", "").split()).strip()


def _names(cell: str, current: list[str], columns: Mapping[str, list[str]]) -> list[tuple[str, str]]:
    """Return (table, column) pairs named by a first cell like "a, b" or "t.a, b"."""
    out = []
    table = current[0] if current else None
    for part in _clean(cell).split(","):
        part = part.strip()
        if "." in part:
            table, _, part = part.rpartition(".")
        if table in columns and part in columns[table]:
            out.append((table, part))
    return out


def live_columns(db: sqlite_utils.Database) -> dict[str, list[str]]:
    """Return table or view -> its column names, as the database has them."""
    tables = db.table_names()
    return {t: [c.name for c in (db[t].columns if t in tables else db.view(t).columns)]
            for t in tables + db.view_names()}


def parse_schema_doc(text: str, columns: Mapping[str, list[str]]) -> dict[str, dict[str, Any]]:
    r"""Return table -> {"description", "columns"} read from a schema document in Markdown.

    A heading naming tables or views (`### messages`, `### source_files and
    inbox_progress`) starts their section; the first paragraph under it
    describes them; a table row (`| col | what |`, `| a, b | what |`,
    `| table.col | what |`) or a bullet (`- \`col\`: what`) describes
    columns, with the row's last cell as the text. Names not in `columns`
    (the live database) are ignored.
    """
    return _parse_schema_doc(text, columns)[0]


def documented_columns(text: str, columns: Mapping[str, list[str]]) -> dict[str, set[str]]:
    """Return table -> the column names the schema document covers: those it
    describes and those a `Columns: a, b.` line lists (views described as a whole)."""
    doc, listed = _parse_schema_doc(text, columns)
    return {t: set(entry["columns"]) | listed.get(t, set()) for t, entry in doc.items()}


def _parse_schema_doc(text: str, columns: Mapping[str, list[str]]
                      ) -> tuple[dict[str, dict[str, Any]], dict[str, set[str]]]:
    out: dict[str, dict[str, Any]] = {}
    listed: dict[str, set[str]] = {}
    current: list[str] = []
    paragraph: list[str] = []
    fenced = False

    def flush() -> None:
        if paragraph:
            for t in current:
                out[t].setdefault("description", _clean(" ".join(paragraph)))
        paragraph.clear()

    def describe(pairs: list[tuple[str, str]], what: str) -> None:
        for table, col in pairs:
            out.setdefault(table, {"columns": {}})["columns"].setdefault(col, _clean(what))

    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            flush()
            continue
        if fenced:
            continue
        h = _HEADING.match(line)
        if h:
            flush()
            words = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", h[2].replace("`", " "))
            current = [w for w in dict.fromkeys(words) if w in columns]
            for t in current:
                out.setdefault(t, {"columns": {}})
            continue
        if not current:
            continue
        row = _ROW.match(line)
        bullet = _BULLET.match(line)
        if row:
            flush()
            cells = [c.strip() for c in row[1].split("|")]
            if len(cells) > 1 and _clean(cells[-1]):
                describe(_names(cells[0], current, columns), cells[-1])
        elif bullet:
            flush()
            describe(_names(bullet[1], current, columns), bullet[2])
        elif line.startswith("Columns:"):
            flush()
            for table, col in _names(line[len("Columns:"):].strip().rstrip("."), current, columns):
                listed.setdefault(table, set()).add(col)
        elif line.strip():
            paragraph.append(line.strip())
        else:
            flush()
    flush()
    return out, listed


def build_metadata(db: sqlite_utils.Database, db_name: str,
                   schema_doc: str | Path | None = SCHEMA_DOC) -> dict[str, Any]:
    """Return Datasette metadata for the database: descriptions, FTS, canned queries."""
    columns = live_columns(db)
    names = list(columns)
    doc: dict[str, dict[str, Any]] = {}
    source = "built-in descriptions (bot/datasette_meta.py)"
    if schema_doc and Path(schema_doc).is_file():
        doc = parse_schema_doc(Path(schema_doc).read_text(encoding="utf-8"), columns)
        source = f"{Path(schema_doc).name}, then built-in descriptions"
    tables: dict[str, dict[str, Any]] = {}
    for t in names:
        desc, cols = DESCRIPTIONS.get(t, ("", {}))
        from_doc = doc.get(t, {})
        merged = {**{c: d for c, d in cols.items() if c in columns[t]},
                  **from_doc.get("columns", {})}
        entry: dict[str, Any] = {}
        if from_doc.get("description") or desc:
            entry["description"] = from_doc.get("description") or desc
        if merged:
            entry["columns"] = merged
        if t in HIDDEN:
            entry["hidden"] = True
        tables[t] = entry
    if "messages" in tables and "messages_fts" in names:
        tables["messages"].update({"fts_table": "messages_fts", "fts_pk": "id",
                                   "sort_desc": "date", "label_column": "subject"})
    if "concerns" in tables:
        tables["concerns"].update({"sort_desc": "date", "label_column": "text"})
    return {
        "title": "abiwatch",
        "description": "ABI/API concerns raised on kernel mailing lists, and whether they "
                       f"were answered. Descriptions from {source}.",
        "source": "lore.kernel.org",
        "source_url": "https://lore.kernel.org/",
        "databases": {db_name: {"tables": tables, "queries": QUERIES}},
    }
