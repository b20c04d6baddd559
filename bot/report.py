"""Plain-text reports for the terminal: ingest summaries and what the archive holds."""

from __future__ import annotations

import sqlite_utils

from abiwatch.bot.verdicts import verdict
from abiwatch.db import corrections, queries
from abiwatch.db.lore import lore_url


def ingest_summary(stats) -> str:
    """Return the one-paragraph summary printed at the end of an ingest."""
    mb = stats.bytes / 1e6
    lines = [
        f"read {stats.read} messages ({mb:.1f} MB) in {stats.seconds:.1f}s "
        f"({stats.rate:,.0f} msg/s): {stats.new} new, {stats.duplicate} duplicate, "
        f"{stats.variants} variant, {stats.problems} with parse problems",
    ]
    if stats.not_mail:
        lines.append(f"{stats.not_mail} path(s) were not mail or could not be read in whole:")
        lines += [f"  {e}" for e in stats.errors[:20]]
        if len(stats.errors) > 20:
            lines.append(f"  ... and {len(stats.errors) - 20} more (see table parse_problems)")
    lines += [f"note: {n}" for n in getattr(stats, "notes", [])[:20]]
    return "\n".join(lines)


def archive_report(db: sqlite_utils.Database) -> str:
    """Return a short report of the archive: counts, busiest threads, version chains, trailers."""
    c = queries.archive_counts(db)
    out = [
        f"{c['messages']} messages in {c['threads']} threads "
        f"({c['first_date'] or '?'} .. {c['last_date'] or '?'}), "
        f"{c['placeholders']} referenced but missing",
        f"{c['patches']} patches in {c['series']} series; {c['trailers']} trailers; "
        f"{c['parse_problems']} parse problems recorded",
        "",
        "Busiest threads:",
    ]
    for t in queries.biggest_threads(db):
        out.append(f"  {t['message_count']:4d}  {(t['subject'] or '(no subject)')[:70]}")
        out.append(f"        {lore_url(t['thread_id'])}")
    chains = [ch for ch in queries.version_chains(db) if len(ch) > 1]
    if chains:
        out += ["", "Series with several versions:"]
        for chain in chains[:5]:
            versions = " -> ".join(("RFC " if s["is_rfc"] else "") + f"v{s['version']}"
                                   for s in chain)
            out.append(f"  {chain[-1]['title'][:60]}  [{versions}]  by {chain[-1]['author_name']}")
    counts = queries.trailer_counts(db)
    if counts:
        out += ["", "Trailers: " + ", ".join(f"{t['name']} {t['n']}" for t in counts[:8])]
    naks = queries.naks(db, 5)
    if naks:
        out += ["", "NAKs:"]
        for n in naks:
            out.append(f"  {n['date'][:10] if n['date'] else '?'}  {n['person_name'] or n['person_addr']}: "
                       f"{n['value'][:60]}  {lore_url(n['message_id'])}")
    return "\n".join(out)


def explain_concern(db: sqlite_utils.Database, concern_id: int) -> str | None:
    """Return the explanation of one concern (its automatic verdict, then the corrections
    people made and the verdict in effect), or None if there is no such concern."""
    c = queries.concern(db, concern_id)
    if c is None:
        return None
    out = [
        f"concern {c['id']}: {c['kind']} about {c['interface']} (automatically {c['status']}, "
        f"confidence {c['confidence']:.2f})",
        f"  raised by {c['author_name'] or c['author_addr']} on {(c['date'] or '?')[:10]} "
        f"in \"{c['subject']}\"",
        f"  {lore_url(c['message_id'])}",
        "",
        f"  \"{c['text']}\"",
        "",
        f"why: rule {c['rule_id']} matched \"{c['cue']}\" in the author's own words;",
    ]
    ifaces = queries.message_interfaces(db, c["message_id"])
    if ifaces:
        out.append("     the message discusses " + ", ".join(
            f"{i['interface']} ({i['source']}: \"{i['evidence'][:40]}\")" for i in ifaces))
    if c["patch_message_id"]:
        title = c["patch_title"] or c["patch_subject"] or "(not in the archive)"
        out.append(f"patch: {title} [linked by {c['link_how'] or '?'}]")
        out.append(f"  {lore_url(c['patch_message_id'])}")
    else:
        out.append("patch: none (a design discussion, not a patch review)")
    if c["status"] == "resolved":
        out.append(f"automatically resolved: {c['resolution']} -- {c['resolver'] or '?'} on "
                   f"{(c['resolved_date'] or '?')[:10]}")
        out.append(f"  {lore_url(c['resolved_by'])}")
    else:
        out.append("automatically open: no later message shows it was addressed (silence does "
                   "not resolve)")
    return "\n".join(out + _corrections(db, c))


def _corrections(db: sqlite_utils.Database, c: dict) -> list[str]:
    """Return the lines on the corrections of concern c and the verdict in effect."""
    rows = corrections.history(db, c["message_id"], c["interface"])
    if not rows:
        return ["", "corrections: none (`abiwatch correct` makes one)"]
    out = ["", "corrections (the newest applied one of each kind is in effect):"]
    for k in rows:
        via = (f"by mail {lore_url(k['source_ref'])}" if k["source"] == "mail" else
               "on Discord" if k["source"] == "discord" else "with abiwatch correct")
        who = k["author"] + (f" <{k['author_id']}>" if k["author_id"] and "@" in k["author_id"]
                             else "")
        state = ("in effect" if k["in_effect"] else "superseded") if k["applied"] else \
            f"NOT applied: {k['refused']}"
        out.append(f"  {k['made_at']}  {k['command']}  -- {who}, {via}  [{state}]")
        if k["reason"]:
            out.append(f"      reason: {k['reason']}")
    now = corrections.effective(db, c["id"])
    if now is None:
        out.append("in effect: not a concern (left out of answers, the digest and the views)")
        return out
    line = f"in effect: {verdict(now['status'], now['correction'], now['corrected_by'])}"
    if now["status"] == "resolved" and now["resolved_by"]:
        line += f", citing {lore_url(now['resolved_by'])}"
    if now["interface"] != c["interface"]:
        line += f"; about {now['interface']}"
    if now["patch_message_id"] != c["patch_message_id"]:
        line += f"; patch {lore_url(now['patch_message_id'])}"
    return out + [line]
