"""`abiwatch tag`: analyse messages not yet tagged, then re-decide the threads
they belong to (patch links, concerns, resolutions).

Phase 1 is per message and runs in worker processes (the pipeline over own
text only); phase 2 is per thread, in this process, over what phase 1 stored.
Both are incremental: only untagged messages (or all, with redo, when the
catalog changed) and the threads and series they touch are redone.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlite_utils

from abiwatch.db.corrections import apply_mail_commands
from abiwatch.nlp.analysis import Analysis, analyze, diff_interfaces
from abiwatch.nlp.catalog import Catalog, load_catalog
from abiwatch.nlp.classifier import (
    COMBINER_PATH,
    concern_probabilities,
    load_combiner,
    load_textcat,
)
from abiwatch.nlp.decide import decide_threads, pending_decisions
from abiwatch.nlp.pipeline import build_nlp

logger = logging.getLogger(__name__)

BATCH = 400
PARALLEL_ABOVE = 3000  # below this, starting workers costs more than it saves


@dataclass
class TagStats:
    analyzed: int = 0
    words: int = 0
    threads: int = 0
    concerns: int = 0
    open: int = 0
    resolved: int = 0
    unsure: int = 0     # kept under the shown threshold
    corrected: int = 0  # `#abiwatch:` mail commands applied in this run
    refused: int = 0    # ...recorded but not applied (untrusted sender, not understood)
    seconds: float = 0.0


_worker_state: dict = {}


def _init_worker(catalog_path, patterns_path) -> None:
    catalog = load_catalog(catalog_path, patterns_path)
    _worker_state["catalog"] = catalog
    _worker_state["nlp"] = build_nlp(catalog)


def _analyze_batch(batch: list[tuple]) -> list[tuple[Analysis, dict[str, str]]]:
    nlp = _worker_state["nlp"]
    catalog: Catalog = _worker_state["catalog"]
    items = [(mid, title, own) for mid, title, own, *_ in batch]
    try:
        analyses = analyze(nlp, items, every_sentence=True)
    except Exception:  # noqa: BLE001 - one message the pipeline refuses must not stop the archive
        analyses = [_analyze_alone(nlp, item) for item in items]
    out = [(a, diff_interfaces(catalog, paths, diff))
           for a, (_, _, _, paths, diff, _) in zip(analyses, batch, strict=True)]
    _score_sentences(out, [answers for *_, answers in batch])
    return out


def _analyze_alone(nlp, item: tuple[str, str, str]) -> Analysis:
    """Return one message's analysis; an empty one (logged) if the pipeline fails on it, so
    that it is tagged like the rest instead of failing its batch on every run."""
    try:
        return analyze(nlp, [item], every_sentence=True)[0]
    except Exception as exc:  # noqa: BLE001
        logger.warning("message %s could not be analysed (%s); tagged without findings",
                       item[0], str(exc).splitlines()[0][:200])
        return Analysis(item[0])


def _score_sentences(results: list[tuple[Analysis, dict[str, str]]], answers: list[bool]) -> None:
    """Give the own-text sentences of replies that touch a catalog interface their
    classifier probability: only those can raise a concern about one (a patch posting or
    a thread's first message raises none), so nothing else is worth the classifier."""
    if not COMBINER_PATH.exists():
        return
    sents = [s for (a, diff_ifaces), reply in zip(results, answers, strict=True)
             if reply and (a.interfaces or diff_ifaces)
             for s in a.sentences if not s.in_subject and len(s.text.split()) >= 3]
    if not sents:
        return
    for s, p in zip(sents, concern_probabilities(load_textcat(), [s.text for s in sents]), strict=True):
        s.model = p


def _batches(db: sqlite_utils.Database, version: str, redo: bool) -> Iterator[list[tuple]]:
    # Keyset pagination: no cursor stays open while the batches are written.
    where = "" if redo else (
        "AND m.message_id NOT IN (SELECT message_id FROM tagged_messages "
        "WHERE catalog_version = :v)")
    last = 0
    while True:
        rows = db.conn.execute(
            # the last column: may it raise a concern (a reply, not a patch posting)?
            f"SELECT m.message_id, m.subject_title, m.own_text, m.has_diff, m.id, "
            f"m.is_reply = 1 OR (m.parent_id IS NOT NULL AND NOT m.is_patch) FROM messages m "
            f"WHERE m.id > :last {where} ORDER BY m.id LIMIT :n",
            {"v": version, "last": last, "n": BATCH}).fetchall()
        if not rows:
            return
        last = rows[-1][4]
        ids = [r[0] for r in rows]
        marks = ",".join("?" * len(ids))
        paths: dict[str, list[str]] = {}
        diffs: dict[str, str] = {}
        # every message, not only those with a diff: a cover letter's diffstat lists files too
        for mid, path in db.conn.execute(
                f"SELECT message_id, path FROM patch_files WHERE message_id IN ({marks})", ids):
            paths.setdefault(mid, []).append(path)
        diff_ids = [r[0] for r in rows if r[3]]
        if diff_ids:
            for mid, diff in db.conn.execute(
                    f"SELECT message_id, diff FROM patches WHERE message_id IN "
                    f"({','.join('?' * len(diff_ids))})", diff_ids):
                diffs[mid] = diff or ""
        yield [(mid, subj or "", own or "", paths.get(mid, []), diffs.get(mid), bool(answers))
               for mid, subj, own, _, _, answers in rows]


def refresh_summaries(db: sqlite_utils.Database) -> None:
    """Rebuild the per-interface summaries the bot answers `interface NAME` from."""
    with db.conn:
        rebuild_summaries(db.conn)


def rebuild_summaries(conn) -> None:
    """Rebuild the per-interface summaries in the caller's transaction."""
    for table in ("interface_stats", "interface_people", "interface_series"):
        conn.execute(f"DELETE FROM {table}")
    conn.execute(
        "INSERT INTO interface_stats SELECT mi.interface, COUNT(*), COUNT(DISTINCT m.thread_id), "
        "COUNT(DISTINCT m.from_addr), MIN(m.date), MAX(m.date) FROM message_interfaces mi "
        "JOIN messages m ON m.message_id = mi.message_id GROUP BY mi.interface")
    conn.execute(
        "INSERT INTO interface_people SELECT mi.interface, m.from_addr, MAX(m.from_name), COUNT(*) "
        "FROM message_interfaces mi JOIN messages m ON m.message_id = mi.message_id "
        "WHERE m.from_addr IS NOT NULL GROUP BY mi.interface, m.from_addr")
    conn.execute(
        "INSERT OR IGNORE INTO interface_series SELECT DISTINCT mi.interface, p.series_id "
        "FROM message_interfaces mi JOIN patches p ON p.message_id = mi.message_id "
        "WHERE p.series_id IS NOT NULL")


def store_catalog(db: sqlite_utils.Database, catalog: Catalog) -> None:
    """Write the catalog's interfaces to the `interfaces` table (for SQL users and the bot)."""
    with db.conn:
        db.conn.execute("DELETE FROM interfaces")
        db.conn.executemany(
            "INSERT INTO interfaces (name, kind, description, aliases) VALUES (?, ?, ?, ?)",
            [(i.name, i.kind, i.description, json.dumps(list(i.aliases))) for i in catalog.interfaces])


def _write(db: sqlite_utils.Database, results: list[tuple[Analysis, dict[str, str]]],
           version: str) -> int:
    conn = db.conn
    now = datetime.now(UTC).isoformat(timespec="seconds")
    ids = [(a.message_id,) for a, _ in results]
    floor = load_combiner().floor if COMBINER_PATH.exists() else 1.1
    words = 0
    with conn:
        for table in ("message_interfaces", "message_tags", "nlp_hits", "concern_candidates"):
            conn.executemany(f"DELETE FROM {table} WHERE message_id = ?", ids)
        ifaces, tags, hits, cands = [], [], [], []
        for a, diff_ifaces in results:
            seen = {}
            for name, (evidence, source) in a.interfaces.items():
                seen[name] = (evidence, source)
            for name, evidence in diff_ifaces.items():
                seen.setdefault(name, (evidence, "diff"))
            ifaces += [(a.message_id, n, ev, src) for n, (ev, src) in seen.items()]
            if a.abi:
                tags.append((a.message_id, "abi-api", "; ".join(sorted({t for _, t in a.abi}))[:500]))
            hits += [(a.message_id, rid, label, s, e, text[:200]) for rid, label, s, e, text in a.hits]
            for sent in a.sentences:
                if sent.in_subject or not (sent.model >= floor or any(
                        c[1] in ("CONCERN", "AGREE", "WILLFIX") for c in sent.cues)):
                    continue
                cands.append((a.message_id, sent.start, sent.end, sent.text[:1000],
                              json.dumps(sent.interfaces), json.dumps(sent.cues),
                              int(sent.question), round(sent.model, 4)))
            words += sum(len(s.text.split()) for s in a.sentences)
        conn.executemany("INSERT OR REPLACE INTO message_interfaces VALUES (?, ?, ?, ?)", ifaces)
        conn.executemany("INSERT OR REPLACE INTO message_tags VALUES (?, ?, ?)", tags)
        conn.executemany("INSERT OR IGNORE INTO nlp_hits VALUES (?, ?, ?, ?, ?, ?)", hits)
        conn.executemany("INSERT OR REPLACE INTO concern_candidates (message_id, start, end, text, "
                         "interfaces, cues, question, model) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", cands)
        conn.executemany("INSERT OR REPLACE INTO tagged_messages (message_id, catalog_version, "
                         "tagged_at, decided) VALUES (?, ?, ?, 0)",
                         [(mid, version, now) for (mid,) in ids])
    return words


def tag(db: sqlite_utils.Database, *, redo: bool = False, catalog_path: str | None = None,
        patterns_path: str | None = None, workers: int | None = None,
        progress: bool | None = None, trusted: Sequence[str] | None = ()) -> TagStats:
    """Tag untagged messages (all with redo) and re-decide their threads, then apply the
    `#abiwatch:` mail commands that now answer a concern (`trusted`: addresses whose
    commands are applied to any concern; None leaves the commands for a later run);
    return stats."""
    started = time.perf_counter()
    catalog = load_catalog(catalog_path, patterns_path)
    store_catalog(db, catalog)
    todo = db.execute(
        "SELECT COUNT(*) FROM messages" + ("" if redo else
        " WHERE message_id NOT IN (SELECT message_id FROM tagged_messages WHERE catalog_version = ?)"),
        [] if redo else [catalog.version]).fetchone()[0]
    stats = TagStats()
    if workers is None:
        workers = 2 if todo > PARALLEL_ABOVE else 1
    bar = None
    if progress or (progress is None and sys.stderr.isatty()):
        from tqdm import tqdm

        bar = tqdm(total=todo, unit="msg", desc="tag", file=sys.stderr, dynamic_ncols=True)
    batches = _batches(db, catalog.version, redo)
    analyzed = 0
    if workers > 1:
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(workers, initializer=_init_worker,
                      initargs=(catalog_path, patterns_path)) as pool:
            for results in pool.imap(_analyze_batch, batches):
                stats.words += _write(db, results, catalog.version)
                analyzed += len(results)
                if bar is not None:
                    bar.update(len(results))
    else:
        _worker_state["catalog"] = catalog
        _worker_state["nlp"] = build_nlp(catalog)
        for batch in batches:
            results = _analyze_batch(batch)
            stats.words += _write(db, results, catalog.version)
            analyzed += len(results)
            if bar is not None:
                bar.update(len(results))
    if bar is not None:
        bar.close()
    stats.analyzed = analyzed
    # Threads with a message analysed but not yet decided: this run's, and those a
    # killed run left half done.
    threads = {r[0] for r in db.execute(
        "SELECT DISTINCT m.thread_id FROM tagged_messages t JOIN messages m "
        "ON m.message_id = t.message_id WHERE t.decided = 0 AND m.thread_id IS NOT NULL")}
    stats.threads = len(threads)
    # The summaries are rebuilt in the transaction that finishes the decisions: rebuilt
    # after it, a kill in between left them stale (or empty) for every later run.
    stale = analyzed or threads or pending_decisions(db)
    decide_threads(db, threads, catalog, then=rebuild_summaries if stale else None)
    # Corrections are kept apart from the concerns this run rewrote (they are keyed by
    # message and interface); only commands whose concern exists now can be applied.
    if trusted is not None:
        mail = apply_mail_commands(db, trusted)
        stats.corrected, stats.refused = mail.applied, mail.refused
    for status, n in db.execute("SELECT status, COUNT(*) FROM concerns WHERE confident = 1 "
                                "GROUP BY status"):
        setattr(stats, status, n) if status in ("open", "resolved") else None
    stats.concerns = stats.open + stats.resolved
    stats.unsure = db.execute("SELECT COUNT(*) FROM concerns WHERE confident = 0").fetchone()[0]
    stats.seconds = time.perf_counter() - started
    return stats

