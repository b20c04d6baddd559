"""Answers about series: find the one a maintainer means, say what became of it and
which concerns it carried, and which concerns were still open when code was merged."""

from __future__ import annotations

from abiwatch.bot.answer_types import Answer, concern_item
from abiwatch.bot.question import Question
from abiwatch.bot.search_terms import fts_phrase
from abiwatch.db import answer_queries as aq
from abiwatch.db import merge_queries as mq
from abiwatch.db.lore import lore_url
from abiwatch.ingest.subject import normalize_title, parse_subject


def find_postings(db, q: Question) -> tuple[list[dict], str]:
    """Return the postings a patch question names, best first, and how they were found:
    by Message-ID, exact title, all the words of the title, or the full text."""
    if q.message_id:
        return aq.patches_by_id(db, q.message_id), "message id"
    title = normalize_title(parse_subject(q.query).title)
    rows = aq.patches_by_title(db, title)
    if rows:
        return rows, "exact title"
    words = fts_phrase(q.query)
    rows = aq.patches_by_fts(db, f"subject : ({words})")
    if rows:
        return rows, "all the words in the title"
    return aq.patches_by_fts(db, words), "full text"


def _series_choices(rows: list[dict]) -> list[dict]:
    """Return one entry per series among rows, in rank order."""
    seen, out = set(), []
    for r in rows:
        key = r["series_key"] or r["message_id"]
        if key in seen:
            continue
        seen.add(key)
        head = r["series_id"] or r["message_id"]
        out.append({"title": r["title"], "version": r["version"], "author": r["from_name"],
                    "last": r["last_date"] or r["date"], "message_id": head, "url": lore_url(head)})
    return out


def patch_answer(db, q: Question) -> Answer:
    """Return the answer to `patch WORDS|MESSAGE-ID`."""
    if not q.query and not q.message_id:
        return Answer("patch", q.describe(), note="which patch? give words of its subject "
                      "or its message id (or its lore link)", title="Patch")
    if not q.message_id and fts_phrase(q.query) is None:  # "patch !!!": nothing to look for
        return Answer("patch", q.describe(), note="no words to look for: give words of the "
                      "patch's subject or its message id", title="Patch")
    rows, how = find_postings(db, q)
    if not rows:
        return _thread_answer(db, q)
    top = rows[0]
    choices = _series_choices(rows)
    versions = aq.series_versions(db, top["series_key"]) if top["series_key"] else []
    series_ids = [s for s in ([v["id"] for v in versions] or [top["series_id"]]) if s]
    trees = mq.trees_read(db)
    outcomes = mq.series_outcomes(db, series_ids) if trees else {}
    merged_open = mq.merged_open_counts(db) if trees else {}
    for v in versions:
        v["url"] = lore_url(v["cover_message_id"] or v["id"])
        v["outcome"] = outcomes.get(v["id"])
        if v["outcome"]:
            v["outcome"]["open_at_merge"] = merged_open.get(v["id"], 0)
    trailers = aq.series_trailers(db, series_ids)
    for t in trailers:
        t["url"] = lore_url(t["message_id"])
    concerns = [concern_item(r) for r in aq.concerns(db, aq.ConcernFilter(series_ids=series_ids))]
    summary = {"patch": {**top, "url": lore_url(top["message_id"])}, "versions": versions,
               "trees_read": trees, "found_by": how, "trailers": trailers,
               "other_matches": choices[1:]}
    note = None
    if len(choices) > 1:
        note = (f"{len(choices)} series match ({how}); this is the first. For another, ask "
                "`patch MESSAGE-ID` with one of the others listed")
    return Answer("patch", q.describe(), concerns, summary, note, top["title"] or "Patch")


def _thread_answer(db, q: Question) -> Answer:
    # The posting may be missing from the archive while its replies are there.
    title = normalize_title(parse_subject(q.query or "").title) if q.query else ""
    words = fts_phrase(q.query)
    threads = aq.threads_by_subject(db, title, f"subject : ({words})" if words else None)
    if not threads:
        return Answer("patch", q.describe(), note="no patch, and no thread about one, matches",
                      title="Patch")
    ids = [t["thread_id"] for t in threads]
    concerns = [concern_item(r) for r in aq.concerns(db, aq.ConcernFilter(thread_ids=ids))]
    for t in threads:
        t["url"] = lore_url(t["thread_id"])
    summary = {"threads": threads}
    note = ("the posting itself is not in the archive; its thread is" if len(threads) == 1 else
            f"the posting itself is not in the archive; {len(threads)} threads discuss it")
    return Answer("patch", q.describe(), concerns, summary, note,
                  threads[0]["subject"] or "Patch")


def merged_answer(db, q: Question) -> Answer:
    """Return the concerns still open when the series they were about was merged."""
    title = ("Merged with concerns still open" + (f": {q.interface}" if q.interface else
                                                  ", all interfaces"))
    if not mq.trees_read(db):
        return Answer("merged", q.describe(), title=title, note=(
            "no kernel git tree has been read, so nothing is known to be merged: run "
            "`abiwatch commits PATH-TO-LINUX-CLONE` first"))
    items = []
    for r in mq.merged_open_concerns(db, q.interface):
        item = concern_item(r)
        item.merge = {"release": r["release"], "commit": r["merge_commit"],
                      "date": r["merged_date"], "title": r["merged_title"],
                      "version": r["merged_version"], "parts": r["parts"],
                      "merged_parts": r["merged_parts"], "url": lore_url(r["merged_series_id"])}
        items.append(item)
    note = None if items else ("no concern was still open when its series was merged"
                               + (f" ({q.interface})" if q.interface else ""))
    return Answer("merged", q.describe(), items, {"count": len(items)}, note, title)
