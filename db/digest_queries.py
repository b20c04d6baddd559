"""Queries for the weekly digest, and its two small tables (subscribers, digests_sent).

A period is [start, end): `start` and `end` are 'YYYY-MM-DD' texts and `end` is
the first day after the period. Stored dates are ISO texts in UTC ending in 'Z',
so plain text comparison orders them. `interfaces` is a list of interface names
or None for all of them; it is passed as JSON so the SQL text never changes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlite_utils

NAK_NAMES = ("NAK", "Nacked-by")


def _ifs(interfaces: Sequence[str] | None) -> str | None:
    return None if interfaces is None else json.dumps(list(interfaces))


_IN_IFS = "(:ifs IS NULL OR {col} IN (SELECT value FROM json_each(:ifs)))"

# When a concern was resolved: its resolving mail's date; for one resolved by hand
# without citing a mail, when the correction was made.
_RESOLVED_AT = "COALESCE(r.date, CASE WHEN c.correction = 'resolved-by' THEN c.corrected_at END)"

# A concern as corrected by people (effective_concerns), with its raiser's message
# and, when resolved, the resolving message; with its series and thread, which place
# it in the digest, and the patch it is about (part/total/title, else the mail's subject).
_CONCERN = f"""
    SELECT c.id, c.interface, c.kind, c.text, c.status, c.message_id, c.date,
           c.author_name, c.author_addr, c.patch_message_id, c.resolution, c.resolved_by,
           m.subject, m.thread_id, {_RESOLVED_AT} AS resolved_date,
           r.from_name AS resolver_name, r.from_addr AS resolver_addr,
           r.subject AS resolver_subject, c.correction, c.corrected_by, c.corrected_at,
           COALESCE(c.series_id, pp.series_id) AS series_id,
           pp.part AS patch_part, pp.total AS patch_total, pp.title AS patch_title,
           pp.version AS patch_version, pp.is_rfc AS patch_is_rfc
    FROM effective_concerns c
    JOIN messages m ON m.message_id = c.message_id
    LEFT JOIN messages r ON r.message_id = c.resolved_by
    LEFT JOIN patches pp ON pp.message_id = c.patch_message_id
"""
# The digest shows what answers show by default: the confident concerns.
_SURE = " AND c.confident = 1"


def interface_names(db: sqlite_utils.Database) -> list[str]:
    """Return every interface name known to the database, catalog order first."""
    names = [r[0] for r in db.execute("SELECT name FROM interfaces ORDER BY rowid")]
    extra = [r[0] for r in db.execute(
        "SELECT DISTINCT interface FROM effective_concerns WHERE interface NOT IN "
        "(SELECT name FROM interfaces) ORDER BY interface")]
    return names + extra


def concerns_raised(db: sqlite_utils.Database, start: str, end: str,
                    interfaces: Sequence[str] | None) -> list[dict]:
    """Return concerns raised in the period, oldest first."""
    return list(db.query(_CONCERN + " WHERE c.date >= :start AND c.date < :end AND "
                         + _IN_IFS.format(col="c.interface") + _SURE + " ORDER BY c.date, c.id",
                         {"start": start, "end": end, "ifs": _ifs(interfaces)}))


def concerns_resolved(db: sqlite_utils.Database, start: str, end: str,
                      interfaces: Sequence[str] | None) -> list[dict]:
    """Return concerns whose resolving message was sent in the period, in that order."""
    return list(db.query(_CONCERN + f" WHERE c.status = 'resolved' AND {_RESOLVED_AT} >= :start "
                         f"AND {_RESOLVED_AT} < :end AND " + _IN_IFS.format(col="c.interface")
                         + _SURE + " ORDER BY resolved_date, c.id",
                         {"start": start, "end": end, "ifs": _ifs(interfaces)}))


def concerns_open_before(db: sqlite_utils.Database, start: str, end: str,
                         interfaces: Sequence[str] | None) -> list[dict]:
    """Return concerns raised before the period and open at its end, oldest first.

    Open as of the period's end, not today, so a digest for a past week reads as it
    would have then.
    """
    return list(db.query(_CONCERN + " WHERE c.date < :start AND (c.status = 'open' OR "
                         f"{_RESOLVED_AT} >= :end) AND " + _IN_IFS.format(col="c.interface")
                         + _SURE + " ORDER BY c.date, c.id",
                         {"start": start, "end": end, "ifs": _ifs(interfaces)}))


def series_chains(db: sqlite_utils.Database, series_ids: Sequence[str], end: str) -> list[dict]:
    """Return, for each series, its chain of versions as the period's end saw it.

    chain: a name shared by every version of the series (the smallest member id);
    the newest version posted before `end` (title, version, link); last_active: the
    date of the last mail before `end` in the thread of any version.
    """
    return list(db.query("""
        WITH RECURSIVE
        given(id) AS (SELECT DISTINCT value FROM json_each(:ids)),
        -- Walk supersedes and superseded_by both ways; UNION stops at a cycle.
        chain(id, member) AS (
            SELECT id, id FROM given
            UNION
            SELECT c.id, v.value FROM chain c JOIN series s ON s.id = c.member
            JOIN json_each(json_array(s.supersedes, s.superseded_by)) v
            WHERE v.value IS NOT NULL),
        ranked AS (
            SELECT c.id, s.title, s.version, s.is_rfc, s.author_name, s.author_addr,
                   COALESCE(s.cover_message_id, s.id) AS link_id,
                   ROW_NUMBER() OVER (PARTITION BY c.id ORDER BY s.first_date < :end DESC,
                                      s.version DESC, s.first_date DESC) AS n
            FROM chain c JOIN series s ON s.id = c.member),
        active AS (
            SELECT c.id, MIN(c.member) AS chain,
                   MAX((SELECT MAX(m.date) FROM messages m
                        WHERE m.thread_id = tm.thread_id AND m.date < :end)) AS last_active
            FROM chain c LEFT JOIN messages tm ON tm.message_id = c.member
            GROUP BY c.id)
        SELECT a.id AS series_id, a.chain, a.last_active, r.title, r.version, r.is_rfc,
               r.author_name, r.author_addr, r.link_id
        FROM active a LEFT JOIN ranked r ON r.id = a.id AND r.n = 1
    """, {"ids": json.dumps(sorted(set(series_ids))), "end": end}))


def thread_info(db: sqlite_utils.Database, thread_ids: Sequence[str], end: str) -> list[dict]:
    """Return each thread's root, subject and the date of its last mail before `end`.

    The subject is the root's; when the root is not in the archive (a patch series whose
    postings are missing), the first direct reply's, which names the cover letter
    (root_subject; NULL when neither is in the archive, subject is then the first mail's).
    series_id is the first series posted in the thread: a reply to a patch missing from
    the archive still belongs to that series.
    """
    return list(db.query("""
        SELECT t.thread_id, t.root_message_id,
               (SELECT p.series_id FROM messages tm JOIN patches p ON p.message_id = tm.message_id
                WHERE tm.thread_id = t.thread_id AND p.series_id IS NOT NULL
                ORDER BY tm.date LIMIT 1) AS series_id,
               COALESCE((SELECT subject FROM messages WHERE message_id = t.root_message_id),
                        (SELECT subject FROM messages WHERE parent_id = t.root_message_id
                           AND thread_id = t.thread_id ORDER BY date LIMIT 1)) AS root_subject,
               t.subject,
               (SELECT MAX(date) FROM messages WHERE thread_id = t.thread_id
                  AND date < :end) AS last_active
        FROM threads t WHERE t.thread_id IN (SELECT value FROM json_each(:ids))
    """, {"ids": json.dumps(sorted(set(thread_ids))), "end": end}))


def new_series(db: sqlite_utils.Database, start: str, end: str,
               interfaces: Sequence[str] | None) -> list[dict]:
    """Return series first posted in the period, one row per interface their mails touch."""
    # A series is about an interface when any of its mails (cover or patch) is.
    return list(db.query("""
        SELECT DISTINCT s.id, s.id AS series_id, s.title, s.version, s.is_rfc, s.total,
               s.received, s.author_name, s.author_addr, s.first_date, s.supersedes,
               COALESCE(s.cover_message_id, s.id) AS link_id,
               (SELECT thread_id FROM messages WHERE message_id = s.id) AS thread_id,
               prev.version AS prev_version, prev.is_rfc AS prev_is_rfc,
               prev.first_date AS prev_date, mi.interface
        FROM series s
        -- CROSS JOIN keeps this order: a week's series first, not every interface row.
        CROSS JOIN patches p ON p.series_id = s.id
        CROSS JOIN message_interfaces mi ON mi.message_id = p.message_id
        LEFT JOIN series prev ON prev.id = s.supersedes
        WHERE s.first_date >= :start AND s.first_date < :end AND """
                         + _IN_IFS.format(col="mi.interface") + " ORDER BY s.first_date, s.id",
                         {"start": start, "end": end, "ifs": _ifs(interfaces)}))


def series_merged(db: sqlite_utils.Database, start: str, end: str,
                  interfaces: Sequence[str] | None) -> list[dict]:
    """Return series versions merged in the period (their first merged commit's date), one
    row per interface, with the concerns still open when they went in."""
    return list(db.query("""
        SELECT DISTINCT s.id, s.id AS series_id, s.title, s.version, s.is_rfc,
               s.author_name, s.author_addr,
               COALESCE(s.cover_message_id, s.id) AS link_id, st.state, st.merged_parts,
               st.parts, st.merged_date, st.first_commit, st.release, mi.interface,
               (SELECT thread_id FROM messages WHERE message_id = s.id) AS thread_id,
               (SELECT COUNT(*) FROM merged_open_concerns mo WHERE mo.merged_series_id = s.id
                  AND mo.interface = mi.interface) AS open_at_merge
        FROM series_state st
        JOIN series s ON s.id = st.series_id
        CROSS JOIN patches p ON p.series_id = s.id
        CROSS JOIN message_interfaces mi ON mi.message_id = p.message_id
        WHERE st.state IN ('merged', 'partial')
          AND st.merged_date >= :start AND st.merged_date < :end AND """
                         + _IN_IFS.format(col="mi.interface") + " ORDER BY st.merged_date, s.id",
                         {"start": start, "end": end, "ifs": _ifs(interfaces)}))


def notable_trailers(db: sqlite_utils.Database, start: str, end: str,
                     interfaces: Sequence[str] | None,
                     maintainers: Sequence[str] = ()) -> list[dict]:
    """Return NAKs and maintainers' Acked-by given in the period, one row per interface.

    A maintainer is anyone in `maintainers` (addresses); when that is empty,
    anyone who acks a patch they did not send, since by kernel convention
    Acked-by comes from those responsible for the code. Acks repeated inside a
    patch mail (carried from an earlier version) are not news and are left out.
    A trailer is about the interfaces of its mail, its patch, its series and its
    thread: a NAK in reply to a patch missing from the archive still counts for
    the interfaces the thread discusses.
    """
    return list(db.query("""
        WITH t AS (
            SELECT t.id, t.name, t.value, t.person_name, t.person_addr, t.message_id,
                   t.patch_message_id, t.series_id, m.date, m.from_name, m.subject,
                   m.thread_id, COALESCE(pt.title, pm.subject) AS patch_title,
                   pt.part AS patch_part, pt.total AS patch_total,
                   pt.version AS patch_version, pt.is_rfc AS patch_is_rfc
            -- The week's messages (messages_date index), then their trailers.
            FROM messages m
            CROSS JOIN trailers t ON t.message_id = m.message_id
            LEFT JOIN patches pt ON pt.message_id = t.patch_message_id
            LEFT JOIN messages pm ON pm.message_id = t.patch_message_id
            WHERE m.date >= :start AND m.date < :end AND t.ignored_reason IS NULL
              AND (t.name IN (SELECT value FROM json_each(:naks))
                   OR (t.name = 'Acked-by'
                       AND t.message_id IS NOT COALESCE(t.patch_message_id, '')
                       AND lower(COALESCE(t.person_addr, ''))
                           IS NOT lower(COALESCE(pm.from_addr, ''))
                       AND (:maint IS NULL OR lower(t.person_addr)
                            IN (SELECT lower(value) FROM json_each(:maint)))))
        ),
        about(id, message_id) AS (
            SELECT t.id, p.message_id FROM t JOIN patches p ON p.series_id = t.series_id
            UNION SELECT t.id, t.patch_message_id FROM t WHERE t.patch_message_id IS NOT NULL
            UNION SELECT t.id, t.message_id FROM t
            UNION SELECT t.id, tm.message_id FROM t JOIN messages tm ON tm.thread_id = t.thread_id
        )
        SELECT DISTINCT t.*, mi.interface
        FROM t JOIN about a ON a.id = t.id
        JOIN message_interfaces mi ON mi.message_id = a.message_id
        WHERE """ + _IN_IFS.format(col="mi.interface") + " ORDER BY t.date, t.id",
                         {"start": start, "end": end, "ifs": _ifs(interfaces),
                          "naks": json.dumps(NAK_NAMES),
                          "maint": json.dumps(list(maintainers)) if maintainers else None}))


def sent_at(db: sqlite_utils.Database, week: str, recipient: str) -> str | None:
    """Return when the digest for (week, recipient) was sent, or None if it was not."""
    row = db.execute("SELECT sent_at FROM digests_sent WHERE week = ? AND recipient = ?",
                     [week, recipient.lower()]).fetchone()
    return row[0] if row else None


def record_sent(db: sqlite_utils.Database, week: str, recipient: str, message_id: str,
                sent: str) -> None:
    """Record that the digest for (week, recipient) was sent (replacing an earlier record)."""
    with db.conn:
        db.execute("INSERT INTO digests_sent (week, recipient, message_id, sent_at) "
                   "VALUES (?, ?, ?, ?) ON CONFLICT (week, recipient) DO UPDATE SET "
                   "message_id = excluded.message_id, sent_at = excluded.sent_at",
                   [week, recipient.lower(), message_id, sent])


def subscribers(db: sqlite_utils.Database) -> list[dict]:
    """Return active subscribers from the table, each with interfaces as a list (empty: all)."""
    out = []
    for row in db.query("SELECT email, name, interfaces FROM subscribers WHERE active = 1 "
                        "ORDER BY email"):
        row["interfaces"] = parse_interfaces(row["interfaces"])
        out.append(row)
    return out


def parse_interfaces(text: str | None) -> list[str]:
    """Return the interface list stored in subscribers.interfaces (JSON list or commas)."""
    if not text or not text.strip():
        return []
    text = text.strip()
    if text.startswith("["):
        return [str(v) for v in json.loads(text)]
    return [p.strip() for p in text.split(",") if p.strip()]


def add_subscriber(db: sqlite_utils.Database, email: str, name: str | None,
                   interfaces: Sequence[str]) -> None:
    """Add or update a subscriber (active again if it had unsubscribed)."""
    with db.conn:
        db.execute("INSERT INTO subscribers (email, name, interfaces, active) VALUES (?, ?, ?, 1) "
                   "ON CONFLICT (email) DO UPDATE SET name = COALESCE(excluded.name, name), "
                   "interfaces = excluded.interfaces, active = 1",
                   [email, name, json.dumps(list(interfaces)) if interfaces else None])


def remove_subscriber(db: sqlite_utils.Database, email: str) -> bool:
    """Mark a subscriber inactive; return False if there was no such active subscriber."""
    with db.conn:
        cur = db.execute("UPDATE subscribers SET active = 0 WHERE lower(email) = lower(?) "
                         "AND active = 1", [email])
    return cur.rowcount > 0
