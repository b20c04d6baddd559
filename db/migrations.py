"""The schema, in one place: an ordered list of migrations, each applied once.

The schema is a public interface (see docs/schema.md). A migration is never
edited after it has shipped; a change is a new migration appended to the list.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import sqlite_utils

logger = logging.getLogger(__name__)

# Kernel identifiers are words: keep `kvm_mmu_page_fault` one token.
FTS_TOKENIZE = "unicode61 tokenchars '_'"


M001_ARCHIVE = f"""
        CREATE TABLE lists (
            name TEXT PRIMARY KEY,
            list_id TEXT
        );
        CREATE TABLE ingest_runs (
            id INTEGER PRIMARY KEY,
            started TEXT NOT NULL,
            finished TEXT,
            status TEXT NOT NULL,
            command TEXT,
            read INTEGER DEFAULT 0,
            new INTEGER DEFAULT 0,
            duplicate INTEGER DEFAULT 0,
            variants INTEGER DEFAULT 0,
            problems INTEGER DEFAULT 0,
            not_mail INTEGER DEFAULT 0
        );
        CREATE TABLE raw_messages (
            sha256 TEXT PRIMARY KEY,
            message_id TEXT NOT NULL,
            raw BLOB NOT NULL,
            size INTEGER NOT NULL,
            is_variant INTEGER NOT NULL DEFAULT 0,
            source TEXT,
            mbox_from TEXT,
            run_id INTEGER
        );
        CREATE INDEX raw_messages_message_id ON raw_messages(message_id);
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            message_id TEXT NOT NULL UNIQUE,
            synthetic_id INTEGER NOT NULL DEFAULT 0,
            subject TEXT,
            norm_subject TEXT,
            from_name TEXT,
            from_addr TEXT,
            from_raw TEXT,
            date TEXT,
            date_raw TEXT,
            date_source TEXT,
            to_addrs TEXT,
            cc_addrs TEXT,
            in_reply_to TEXT,
            references_json TEXT,
            parent_id TEXT,
            parent_source TEXT,
            thread_id TEXT,
            depth INTEGER,
            is_reply INTEGER NOT NULL DEFAULT 0,
            is_patch INTEGER NOT NULL DEFAULT 0,
            has_diff INTEGER NOT NULL DEFAULT 0,
            own_text TEXT,
            quoted_text TEXT,
            signature TEXT,
            content_type TEXT,
            charset TEXT,
            content_key TEXT,
            raw_sha256 TEXT,
            run_id INTEGER,
            needs_linking INTEGER NOT NULL DEFAULT 1
        );
        CREATE INDEX messages_thread ON messages(thread_id, date);
        CREATE INDEX messages_parent ON messages(parent_id);
        CREATE INDEX messages_in_reply_to ON messages(in_reply_to);
        CREATE INDEX messages_date ON messages(date);
        CREATE INDEX messages_from_addr ON messages(from_addr, date);
        CREATE INDEX messages_norm_subject ON messages(norm_subject, date);
        CREATE INDEX messages_needs_linking ON messages(needs_linking) WHERE needs_linking = 1;
        CREATE TABLE message_references (
            message_id TEXT NOT NULL,
            position INTEGER NOT NULL,
            ref_id TEXT NOT NULL,
            PRIMARY KEY (message_id, position)
        ) WITHOUT ROWID;
        CREATE INDEX message_references_ref ON message_references(ref_id);
        CREATE TABLE message_lists (
            message_id TEXT NOT NULL,
            list TEXT NOT NULL REFERENCES lists(name),
            PRIMARY KEY (message_id, list)
        ) WITHOUT ROWID;
        CREATE INDEX message_lists_list ON message_lists(list);
        CREATE TABLE placeholders (
            message_id TEXT PRIMARY KEY,
            parent_id TEXT,
            thread_id TEXT,
            depth INTEGER
        );
        CREATE INDEX placeholders_thread ON placeholders(thread_id);
        CREATE TABLE threads (
            thread_id TEXT PRIMARY KEY,
            root_message_id TEXT,
            root_is_placeholder INTEGER NOT NULL DEFAULT 0,
            subject TEXT,
            message_count INTEGER,
            first_date TEXT,
            last_date TEXT
        );
        CREATE TABLE series (
            id TEXT PRIMARY KEY,
            series_key TEXT NOT NULL,
            title TEXT,
            version INTEGER NOT NULL DEFAULT 1,
            is_rfc INTEGER NOT NULL DEFAULT 0,
            cover_message_id TEXT,
            supersedes TEXT,
            superseded_by TEXT,
            author_name TEXT,
            author_addr TEXT,
            total INTEGER,
            received INTEGER,
            change_id TEXT,
            first_date TEXT,
            last_date TEXT
        );
        CREATE INDEX series_key ON series(series_key, version);
        CREATE TABLE patches (
            message_id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            title TEXT,
            version INTEGER NOT NULL DEFAULT 1,
            part INTEGER,
            total INTEGER,
            is_rfc INTEGER NOT NULL DEFAULT 0,
            prefixes TEXT,
            series_id TEXT,
            files_changed INTEGER NOT NULL DEFAULT 0,
            insertions INTEGER NOT NULL DEFAULT 0,
            deletions INTEGER NOT NULL DEFAULT 0,
            change_id TEXT,
            pull_url TEXT,
            diff TEXT
        );
        CREATE INDEX patches_series ON patches(series_id, part);
        CREATE TABLE patch_files (
            message_id TEXT NOT NULL,
            path TEXT NOT NULL,
            insertions INTEGER NOT NULL DEFAULT 0,
            deletions INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (message_id, path)
        ) WITHOUT ROWID;
        CREATE INDEX patch_files_path ON patch_files(path);
        CREATE TABLE trailers (
            id INTEGER PRIMARY KEY,
            message_id TEXT NOT NULL,
            name TEXT NOT NULL,
            value TEXT NOT NULL,
            person_name TEXT,
            person_addr TEXT,
            patch_message_id TEXT,
            series_id TEXT,
            applies_to TEXT,
            UNIQUE (message_id, name, value)
        );
        CREATE INDEX trailers_patch ON trailers(patch_message_id);
        CREATE INDEX trailers_series ON trailers(series_id);
        CREATE INDEX trailers_name ON trailers(name);
        CREATE TABLE parse_problems (
            id INTEGER PRIMARY KEY,
            message_id TEXT,
            subject_key TEXT NOT NULL,
            source TEXT,
            kind TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '',
            run_id INTEGER,
            UNIQUE (subject_key, kind, detail)
        );
        CREATE INDEX parse_problems_message ON parse_problems(message_id);
        CREATE TABLE source_files (
            path TEXT PRIMARY KEY,
            kind TEXT,
            size INTEGER,
            mtime REAL,
            messages INTEGER,
            complete INTEGER NOT NULL DEFAULT 0,
            run_id INTEGER,
            list TEXT NOT NULL DEFAULT ''
        );
        CREATE TABLE inbox_progress (
            git_dir TEXT PRIMARY KEY,
            last_commit TEXT NOT NULL,
            messages INTEGER NOT NULL DEFAULT 0
        );
        CREATE VIRTUAL TABLE messages_fts USING fts5(
            subject, own_text, content='messages', content_rowid='id',
            tokenize="{FTS_TOKENIZE}"
        );
"""

M002_VIEWS = """
        CREATE VIEW message_links AS
            SELECT message_id,
                   'https://lore.kernel.org/r/' || message_id AS url,
                   subject, from_name, from_addr, date
            FROM messages;
        CREATE VIEW patch_versions AS
            SELECT s.series_key, s.id AS series_id, s.title, s.version, s.is_rfc,
                   s.cover_message_id, s.supersedes, s.superseded_by,
                   s.author_name, s.author_addr, s.total, s.received,
                   s.first_date, s.last_date
            FROM series s
            ORDER BY s.series_key, s.version, s.first_date;
"""

M003_NLP = """
        CREATE TABLE interfaces (
            name TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            description TEXT,
            aliases TEXT
        );
        CREATE TABLE tagged_messages (
            message_id TEXT PRIMARY KEY,
            catalog_version TEXT NOT NULL,
            tagged_at TEXT NOT NULL
        );
        CREATE TABLE message_interfaces (
            message_id TEXT NOT NULL,
            interface TEXT NOT NULL,
            evidence TEXT NOT NULL,
            source TEXT NOT NULL,
            PRIMARY KEY (message_id, interface)
        );
        CREATE INDEX message_interfaces_interface ON message_interfaces(interface);
        CREATE TABLE message_tags (
            message_id TEXT NOT NULL,
            tag TEXT NOT NULL,
            evidence TEXT,
            PRIMARY KEY (message_id, tag)
        );
        CREATE INDEX message_tags_tag ON message_tags(tag);
        CREATE TABLE nlp_hits (
            message_id TEXT NOT NULL,
            rule_id TEXT NOT NULL,
            label TEXT NOT NULL,
            start INTEGER NOT NULL,
            end INTEGER NOT NULL,
            text TEXT NOT NULL,
            PRIMARY KEY (message_id, rule_id, start)
        );
        CREATE INDEX nlp_hits_label ON nlp_hits(label);
        CREATE TABLE message_patch (
            message_id TEXT PRIMARY KEY,
            patch_message_id TEXT NOT NULL,
            series_id TEXT,
            how TEXT NOT NULL
        );
        CREATE INDEX message_patch_patch ON message_patch(patch_message_id);
        CREATE INDEX message_patch_series ON message_patch(series_id);
        CREATE TABLE concerns (
            id INTEGER PRIMARY KEY,
            message_id TEXT NOT NULL,
            interface TEXT NOT NULL,
            text TEXT NOT NULL,
            kind TEXT NOT NULL,
            patch_message_id TEXT,
            series_id TEXT,
            status TEXT NOT NULL DEFAULT 'open',
            resolved_by TEXT,
            resolution TEXT,
            confidence REAL NOT NULL,
            rule_id TEXT,
            cue TEXT,
            author_name TEXT,
            author_addr TEXT,
            date TEXT,
            UNIQUE (message_id, interface)
        );
        CREATE INDEX concerns_interface ON concerns(interface, status, date);
        CREATE INDEX concerns_status ON concerns(status, date);
        CREATE INDEX concerns_author ON concerns(author_addr, date);
        CREATE INDEX concerns_patch ON concerns(patch_message_id);
        CREATE INDEX concerns_resolved_by ON concerns(resolved_by);
"""

M004_VIEWS_AND_DIGEST = """
        CREATE TABLE subscribers (
            email TEXT PRIMARY KEY,
            name TEXT,
            interfaces TEXT,
            active INTEGER NOT NULL DEFAULT 1
        );
        CREATE TABLE digests_sent (
            week TEXT NOT NULL,
            recipient TEXT NOT NULL,
            message_id TEXT NOT NULL,
            sent_at TEXT NOT NULL,
            PRIMARY KEY (week, recipient)
        );
        CREATE VIEW open_concerns AS
            SELECT c.id, c.interface, c.kind, c.text, c.author_name, c.author_addr, c.date,
                   c.message_id, 'https://lore.kernel.org/r/' || c.message_id AS url,
                   c.patch_message_id, p.title AS patch_title, c.series_id, c.confidence
            FROM concerns c LEFT JOIN patches p ON p.message_id = c.patch_message_id
            WHERE c.status = 'open'
            ORDER BY c.date DESC;
        CREATE VIEW concern_timeline AS
            SELECT c.id AS concern_id, c.interface, c.date AS raised, c.author_name AS raised_by,
                   c.text, c.status, m.date AS resolved, m.from_name AS resolved_by_name,
                   c.resolved_by, c.resolution,
                   CAST(julianday(m.date) - julianday(c.date) AS INTEGER) AS days_to_resolve,
                   'https://lore.kernel.org/r/' || c.message_id AS url
            FROM concerns c LEFT JOIN messages m ON m.message_id = c.resolved_by
            ORDER BY c.date;
        CREATE VIEW interface_activity AS
            SELECT mi.interface, substr(m.date, 1, 7) AS month,
                   COUNT(*) AS messages,
                   COUNT(DISTINCT m.thread_id) AS threads,
                   COUNT(DISTINCT m.from_addr) AS people,
                   SUM(m.is_patch) AS patches,
                   (SELECT COUNT(*) FROM concerns c WHERE c.interface = mi.interface
                      AND substr(c.date, 1, 7) = substr(m.date, 1, 7)) AS concerns_raised
            FROM message_interfaces mi JOIN messages m ON m.message_id = mi.message_id
            GROUP BY mi.interface, month
            ORDER BY mi.interface, month;
"""

M005_CANDIDATES = """
        CREATE TABLE concern_candidates (
            message_id TEXT NOT NULL,
            start INTEGER NOT NULL,
            end INTEGER NOT NULL,
            text TEXT NOT NULL,
            interfaces TEXT NOT NULL,
            cues TEXT NOT NULL,
            question INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (message_id, start)
        );
"""

M006_SUBJECT_PARTS = """
        ALTER TABLE messages ADD COLUMN subject_title TEXT;
        ALTER TABLE messages ADD COLUMN subject_version INTEGER;
        ALTER TABLE messages ADD COLUMN subject_is_patch INTEGER NOT NULL DEFAULT 0;
"""

M007_DECIDED = """
        ALTER TABLE tagged_messages ADD COLUMN decided INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX tagged_messages_undecided ON tagged_messages(decided) WHERE decided = 0;
"""

M008_TRAILER_PEOPLE = """
        CREATE INDEX trailers_person ON trailers(person_addr);
        CREATE INDEX concerns_message ON concerns(message_id);
"""

M009_INTERFACE_SUMMARIES = """
        CREATE TABLE interface_stats (
            interface TEXT PRIMARY KEY,
            messages INTEGER NOT NULL,
            threads INTEGER NOT NULL,
            people INTEGER NOT NULL,
            first_date TEXT,
            last_date TEXT
        );
        CREATE TABLE interface_people (
            interface TEXT NOT NULL,
            addr TEXT NOT NULL,
            name TEXT,
            messages INTEGER NOT NULL,
            PRIMARY KEY (interface, addr)
        );
        CREATE TABLE interface_series (
            interface TEXT NOT NULL,
            series_id TEXT NOT NULL,
            PRIMARY KEY (interface, series_id)
        );
"""

M010_LINK_QUEUE = """
        CREATE TABLE link_queue (message_id TEXT PRIMARY KEY) WITHOUT ROWID;
        INSERT INTO link_queue SELECT message_id FROM messages WHERE needs_linking = 1;
        DROP INDEX messages_needs_linking;
        ALTER TABLE messages DROP COLUMN needs_linking;
"""

M011_FTS_STATE = """
        CREATE TABLE fts_state (id INTEGER PRIMARY KEY CHECK (id = 1), indexed_through INTEGER NOT NULL);
        INSERT INTO fts_state VALUES (1, (SELECT COALESCE(MAX(id), 0) FROM messages));
        DROP INDEX messages_in_reply_to;
"""

M012_ESCAPED_LINKS = """
        DROP VIEW message_links;
        CREATE VIEW message_links AS
            SELECT message_id,
                   'https://lore.kernel.org/r/' || replace(replace(replace(replace(replace(message_id, '%', '%25'), '/', '%2F'), '#', '%23'), '?', '%3F'), ' ', '%20') AS url,
                   subject, from_name, from_addr, date
            FROM messages;
        DROP VIEW open_concerns;
        CREATE VIEW open_concerns AS
            SELECT c.id, c.interface, c.kind, c.text, c.author_name, c.author_addr, c.date,
                   c.message_id,
                   'https://lore.kernel.org/r/' || replace(replace(replace(replace(replace(c.message_id, '%', '%25'), '/', '%2F'), '#', '%23'), '?', '%3F'), ' ', '%20') AS url,
                   c.patch_message_id, p.title AS patch_title, c.series_id, c.confidence
            FROM concerns c LEFT JOIN patches p ON p.message_id = c.patch_message_id
            WHERE c.status = 'open'
            ORDER BY c.date DESC;
        DROP VIEW concern_timeline;
        CREATE VIEW concern_timeline AS
            SELECT c.id AS concern_id, c.interface, c.date AS raised, c.author_name AS raised_by,
                   c.text, c.status, m.date AS resolved, m.from_name AS resolved_by_name,
                   c.resolved_by, c.resolution,
                   CAST(julianday(m.date) - julianday(c.date) AS INTEGER) AS days_to_resolve,
                   'https://lore.kernel.org/r/' || replace(replace(replace(replace(replace(c.message_id, '%', '%25'), '/', '%2F'), '#', '%23'), '?', '%3F'), ' ', '%20') AS url
            FROM concerns c LEFT JOIN messages m ON m.message_id = c.resolved_by
            ORDER BY c.date;
"""

M013_SERIES_QUEUE = """
        CREATE TABLE series_queue (author TEXT PRIMARY KEY) WITHOUT ROWID;
        CREATE INDEX messages_headerless_replies ON messages(norm_subject)
            WHERE parent_source = 'none' AND is_reply = 1 AND in_reply_to IS NULL
                  AND references_json IS NULL;
        CREATE INDEX messages_patch_authors ON messages(from_addr, message_id, from_name, date,
                                                        thread_id, parent_id, is_patch)
            WHERE is_patch = 1;
"""

# A header-less reply's parent is the first message with its subject in (is_reply, date,
# message_id) order: with those in the index the lookup reads one entry, where a sort of
# every message with that subject made threading slow down as an archive grew.
M014_SUBJECT_ORDER = """
        DROP INDEX messages_norm_subject;
        CREATE INDEX messages_norm_subject ON messages(norm_subject, is_reply, date, message_id);
"""

# The learned concern classifier scores sentences; tag everything again to get the scores.
M015_MODEL_SCORE = """
        ALTER TABLE concern_candidates ADD COLUMN model REAL NOT NULL DEFAULT 0;
        DELETE FROM tagged_messages;
"""

# Concerns are kept from a lower confidence than they are shown: `confident` marks
# those at or above the model's threshold, which answers, the digest and these
# views show by default; the rest are there on request (`--unsure`, or SQL).
# An open concern that can no longer be answered (its series moved on without
# the point being addressed, or went quiet) keeps status open; `stale` says why.
M016_STALE_CONFIDENT = """
        ALTER TABLE concerns ADD COLUMN stale TEXT;
        ALTER TABLE concerns ADD COLUMN confident INTEGER NOT NULL DEFAULT 1;
        DROP VIEW open_concerns;
        CREATE VIEW open_concerns AS
            SELECT c.id, c.interface, c.kind, c.text, c.author_name, c.author_addr, c.date,
                   c.message_id,
                   'https://lore.kernel.org/r/' || replace(replace(replace(replace(replace(c.message_id, '%', '%25'), '/', '%2F'), '#', '%23'), '?', '%3F'), ' ', '%20') AS url,
                   c.patch_message_id, p.title AS patch_title, c.series_id, c.confidence, c.stale
            FROM concerns c LEFT JOIN patches p ON p.message_id = c.patch_message_id
            WHERE c.status = 'open' AND c.confident = 1
            ORDER BY c.date DESC;
        DROP VIEW concern_timeline;
        CREATE VIEW concern_timeline AS
            SELECT c.id AS concern_id, c.interface, c.date AS raised, c.author_name AS raised_by,
                   c.text, c.status, m.date AS resolved, m.from_name AS resolved_by_name,
                   c.resolved_by, c.resolution,
                   CAST(julianday(m.date) - julianday(c.date) AS INTEGER) AS days_to_resolve,
                   'https://lore.kernel.org/r/' || replace(replace(replace(replace(replace(c.message_id, '%', '%25'), '/', '%2F'), '#', '%23'), '?', '%3F'), ' ', '%20') AS url
            FROM concerns c LEFT JOIN messages m ON m.message_id = c.resolved_by
            WHERE c.confident = 1
            ORDER BY c.date;
        DROP VIEW interface_activity;
        CREATE VIEW interface_activity AS
            SELECT mi.interface, substr(m.date, 1, 7) AS month,
                   COUNT(*) AS messages,
                   COUNT(DISTINCT m.thread_id) AS threads,
                   COUNT(DISTINCT m.from_addr) AS people,
                   SUM(m.is_patch) AS patches,
                   (SELECT COUNT(*) FROM concerns c WHERE c.interface = mi.interface AND c.confident = 1
                      AND substr(c.date, 1, 7) = substr(m.date, 1, 7)) AS concerns_raised
            FROM message_interfaces mi JOIN messages m ON m.message_id = mi.message_id
            GROUP BY mi.interface, month
            ORDER BY mi.interface, month;
        DELETE FROM tagged_messages;
"""

# Commits of a kernel git tree and the postings they carry, so answers can say
# whether a series was merged and which concerns were still open when it was.
# `patch_commits` keeps every match with how it was made (link, patch-id,
# subject); `series_state` is recomputed from them after every read.
M017_COMMITS = """
        CREATE TABLE git_trees (
            path TEXT PRIMARY KEY,
            ref TEXT NOT NULL,
            paths TEXT NOT NULL DEFAULT '[]',
            last_commit TEXT,
            newest_date TEXT,
            commits INTEGER NOT NULL DEFAULT 0,
            read_at TEXT
        );
        CREATE TABLE commits (
            sha TEXT PRIMARY KEY,
            tree TEXT NOT NULL,
            author_name TEXT,
            author_addr TEXT,
            author_date TEXT,
            committer_date TEXT,
            subject TEXT NOT NULL,
            norm_subject TEXT NOT NULL,
            patch_id TEXT,
            release TEXT
        );
        CREATE INDEX commits_norm_subject ON commits(norm_subject);
        CREATE INDEX commits_patch_id ON commits(patch_id) WHERE patch_id IS NOT NULL;
        CREATE TABLE commit_trailers (
            sha TEXT NOT NULL,
            name TEXT NOT NULL,
            value TEXT NOT NULL,
            message_id TEXT,
            PRIMARY KEY (sha, name, value)
        ) WITHOUT ROWID;
        CREATE INDEX commit_trailers_message ON commit_trailers(message_id)
            WHERE message_id IS NOT NULL;
        CREATE TABLE commit_files (
            sha TEXT NOT NULL,
            path TEXT NOT NULL,
            PRIMARY KEY (sha, path)
        ) WITHOUT ROWID;
        CREATE TABLE posted_patch_ids (
            message_id TEXT PRIMARY KEY,
            patch_id TEXT
        );
        CREATE INDEX posted_patch_ids_id ON posted_patch_ids(patch_id) WHERE patch_id IS NOT NULL;
        CREATE TABLE patch_commits (
            message_id TEXT NOT NULL,
            sha TEXT NOT NULL,
            method TEXT NOT NULL,
            PRIMARY KEY (message_id, sha)
        ) WITHOUT ROWID;
        CREATE INDEX patch_commits_sha ON patch_commits(sha);
        CREATE TABLE series_state (
            series_id TEXT PRIMARY KEY,
            state TEXT NOT NULL,
            merged_parts INTEGER NOT NULL DEFAULT 0,
            parts INTEGER NOT NULL DEFAULT 0,
            merged_date TEXT,
            first_commit TEXT,
            release TEXT,
            superseded_by TEXT,
            merged_series_id TEXT,
            chain_merged_date TEXT
        );
        CREATE VIEW merged_open_concerns AS
            SELECT o.id AS concern_id, o.interface, o.text, o.author_name, o.date AS raised,
                   o.message_id,
                   'https://lore.kernel.org/r/' || replace(replace(replace(replace(replace(o.message_id, '%', '%25'), '/', '%2F'), '#', '%23'), '?', '%3F'), ' ', '%20') AS url,
                   o.series_id, o.merged_series_id, o.merged_date,
                   COALESCE(o.carried_by, ms.first_commit) AS commit_sha,
                   COALESCE(cm.release, ms.release) AS release, o.status, o.resolved_by
            FROM (
                SELECT c.*, s.merged_series_id, s.chain_merged_date AS merged_date,
                       (SELECT pc.sha FROM messages pm
                        JOIN messages mm ON mm.norm_subject = pm.norm_subject
                        JOIN patches mp ON mp.message_id = mm.message_id
                         AND mp.series_id = s.merged_series_id
                        JOIN patch_commits pc ON pc.message_id = mp.message_id
                        WHERE pm.message_id = c.patch_message_id LIMIT 1) AS carried_by,
                       (SELECT kind FROM patches WHERE message_id = c.patch_message_id) AS patch_kind
                FROM concerns c
                JOIN series_state s ON s.series_id = c.series_id
                LEFT JOIN messages r ON r.message_id = c.resolved_by
                WHERE c.confident = 1 AND s.chain_merged_date IS NOT NULL
                  AND c.date <= s.chain_merged_date
                  AND (c.status = 'open' OR r.date > s.chain_merged_date)
            ) o
            JOIN series_state ms ON ms.series_id = o.merged_series_id
            LEFT JOIN commits cm ON cm.sha = o.carried_by
            -- a concern about a patch dropped before the merge went with it
            WHERE o.patch_message_id IS NULL OR o.patch_kind = 'cover' OR o.carried_by IS NOT NULL
            ORDER BY o.date;
"""

# Corrections from people (CLI, Discord, `#abiwatch:` lines in list mail) are kept
# apart from the automatic verdict, keyed by the concern's natural key (message_id,
# interface) so they survive `abiwatch tag --redo`, and never deleted (an audit trail).
# `effective_concerns` lays the latest applied correction of each kind over the
# automatic verdict; answers, the digest and the views read it, so all say the same.
# The newest correction wins; `made_at` orders them (`id` breaks ties).
M018_CORRECTIONS = """
        CREATE TABLE mail_commands (
            message_id TEXT NOT NULL,
            position INTEGER NOT NULL,
            command TEXT NOT NULL,
            PRIMARY KEY (message_id, position)
        ) WITHOUT ROWID;
        CREATE TABLE corrections (
            id INTEGER PRIMARY KEY,
            message_id TEXT NOT NULL,
            interface TEXT NOT NULL,
            concern_id INTEGER,
            action TEXT NOT NULL,
            value TEXT,
            reason TEXT,
            command TEXT,
            author TEXT NOT NULL,
            author_id TEXT,
            source TEXT NOT NULL,
            source_ref TEXT,
            position INTEGER,
            made_at TEXT NOT NULL,
            applied INTEGER NOT NULL,
            refused TEXT,
            automatic TEXT
        );
        CREATE INDEX corrections_key ON corrections(message_id, interface, applied, action);
        CREATE UNIQUE INDEX corrections_mail ON corrections(source_ref, position, message_id, interface)
            WHERE source = 'mail';
        CREATE VIEW effective_concerns AS
            SELECT c.id, c.message_id, COALESCE(ki.value, c.interface) AS interface, c.text, c.kind,
                   CASE WHEN kp.id IS NULL THEN c.patch_message_id ELSE kp.value END AS patch_message_id,
                   CASE WHEN kp.id IS NULL THEN c.series_id
                        ELSE (SELECT p.series_id FROM patches p WHERE p.message_id = kp.value) END AS series_id,
                   CASE kv.action WHEN 'resolved-by' THEN 'resolved' WHEN 'reopen' THEN 'open'
                        ELSE c.status END AS status,
                   CASE WHEN kv.id IS NULL THEN c.resolved_by
                        WHEN kv.action = 'resolved-by' THEN kv.value END AS resolved_by,
                   CASE WHEN kv.id IS NULL THEN c.resolution
                        WHEN kv.action = 'resolved-by' THEN 'by hand, ' || kv.author
                             || COALESCE(': ' || kv.reason, '') END AS resolution,
                   c.confidence,
                   CASE WHEN kv.id IS NULL THEN c.confident ELSE 1 END AS confident,
                   CASE WHEN kv.id IS NULL THEN c.stale END AS stale,
                   c.rule_id, c.cue, c.author_name, c.author_addr, c.date,
                   kv.action AS correction, kv.author AS corrected_by, kv.made_at AS corrected_at,
                   c.status AS auto_status, c.interface AS auto_interface,
                   c.patch_message_id AS auto_patch_message_id
            FROM concerns c
            -- The newest applied correction of each kind per concern, found in one pass
            -- over the (small) corrections table: made_at is fixed-width text, so
            -- made_at || zero-padded id sorts by time, then by id, and carries the id.
            LEFT JOIN (SELECT message_id, interface,
                              MAX(CASE WHEN action IN ('not-a-concern', 'resolved-by', 'reopen')
                                  THEN made_at || printf('%012d', id) END) AS verdict,
                              MAX(CASE WHEN action = 'interface'
                                  THEN made_at || printf('%012d', id) END) AS iface,
                              MAX(CASE WHEN action = 'patch'
                                  THEN made_at || printf('%012d', id) END) AS patch
                       FROM corrections WHERE applied = 1 GROUP BY message_id, interface) s
                   ON s.message_id = c.message_id AND s.interface = c.interface
            LEFT JOIN corrections kv ON kv.id = CAST(substr(s.verdict, -12) AS INTEGER)
            LEFT JOIN corrections ki ON ki.id = CAST(substr(s.iface, -12) AS INTEGER)
            LEFT JOIN corrections kp ON kp.id = CAST(substr(s.patch, -12) AS INTEGER)
            WHERE kv.action IS NOT 'not-a-concern';
        DROP VIEW open_concerns;
        CREATE VIEW open_concerns AS
            SELECT c.id, c.interface, c.kind, c.text, c.author_name, c.author_addr, c.date,
                   c.message_id,
                   'https://lore.kernel.org/r/' || replace(replace(replace(replace(replace(c.message_id, '%', '%25'), '/', '%2F'), '#', '%23'), '?', '%3F'), ' ', '%20') AS url,
                   c.patch_message_id, p.title AS patch_title, c.series_id, c.confidence, c.stale,
                   c.correction, c.corrected_by
            FROM effective_concerns c LEFT JOIN patches p ON p.message_id = c.patch_message_id
            WHERE c.status = 'open' AND c.confident = 1
            ORDER BY c.date DESC;
        DROP VIEW concern_timeline;
        CREATE VIEW concern_timeline AS
            SELECT c.id AS concern_id, c.interface, c.date AS raised, c.author_name AS raised_by,
                   c.text, c.status,
                   COALESCE(m.date, CASE WHEN c.correction = 'resolved-by' THEN c.corrected_at END) AS resolved,
                   m.from_name AS resolved_by_name,
                   c.resolved_by, c.resolution,
                   CAST(julianday(COALESCE(m.date, CASE WHEN c.correction = 'resolved-by'
                        THEN c.corrected_at END)) - julianday(c.date) AS INTEGER) AS days_to_resolve,
                   'https://lore.kernel.org/r/' || replace(replace(replace(replace(replace(c.message_id, '%', '%25'), '/', '%2F'), '#', '%23'), '?', '%3F'), ' ', '%20') AS url,
                   c.correction, c.corrected_by
            FROM effective_concerns c LEFT JOIN messages m ON m.message_id = c.resolved_by
            WHERE c.confident = 1
            ORDER BY c.date;
        DROP VIEW interface_activity;
        CREATE VIEW interface_activity AS
            SELECT mi.interface, substr(m.date, 1, 7) AS month,
                   COUNT(*) AS messages,
                   COUNT(DISTINCT m.thread_id) AS threads,
                   COUNT(DISTINCT m.from_addr) AS people,
                   SUM(m.is_patch) AS patches,
                   (SELECT COUNT(*) FROM effective_concerns c WHERE c.interface = mi.interface
                      AND c.confident = 1
                      AND substr(c.date, 1, 7) = substr(m.date, 1, 7)) AS concerns_raised
            FROM message_interfaces mi JOIN messages m ON m.message_id = mi.message_id
            GROUP BY mi.interface, month
            ORDER BY mi.interface, month;
"""

# Concerns merged over are read as people corrected them, like every other answer.
M020_MERGED_OPEN_CORRECTED = """
        DROP VIEW merged_open_concerns;
        CREATE VIEW merged_open_concerns AS
            SELECT o.id AS concern_id, o.interface, o.text, o.author_name, o.date AS raised,
                   o.message_id,
                   'https://lore.kernel.org/r/' || replace(replace(replace(replace(replace(o.message_id, '%', '%25'), '/', '%2F'), '#', '%23'), '?', '%3F'), ' ', '%20') AS url,
                   o.series_id, o.merged_series_id, o.merged_date,
                   COALESCE(o.carried_by, ms.first_commit) AS commit_sha,
                   COALESCE(cm.release, ms.release) AS release, o.status, o.resolved_by
            FROM (
                SELECT c.*, s.merged_series_id, s.chain_merged_date AS merged_date,
                       (SELECT pc.sha FROM messages pm
                        JOIN messages mm ON mm.norm_subject = pm.norm_subject
                        JOIN patches mp ON mp.message_id = mm.message_id
                         AND mp.series_id = s.merged_series_id
                        JOIN patch_commits pc ON pc.message_id = mp.message_id
                        WHERE pm.message_id = c.patch_message_id LIMIT 1) AS carried_by,
                       (SELECT kind FROM patches WHERE message_id = c.patch_message_id) AS patch_kind
                FROM effective_concerns c
                JOIN series_state s ON s.series_id = c.series_id
                LEFT JOIN messages r ON r.message_id = c.resolved_by
                WHERE c.confident = 1 AND s.chain_merged_date IS NOT NULL
                  AND c.date <= s.chain_merged_date
                  AND (c.status = 'open' OR r.date > s.chain_merged_date)
            ) o
            JOIN series_state ms ON ms.series_id = o.merged_series_id
            LEFT JOIN commits cm ON cm.sha = o.carried_by
            -- a concern about a patch dropped before the merge went with it
            WHERE o.patch_message_id IS NULL OR o.patch_kind = 'cover' OR o.carried_by IS NOT NULL
            ORDER BY o.date;
"""

# tagged_messages.decided gains a third value: 1 = thread decided, its series and the
# interface summaries not yet redone; 2 = all done (see nlp/decide.py). Rows decided by
# earlier versions are done; the summaries are rebuilt once, as a tag run killed before
# its summaries used to leave them empty for good.
M019_DECIDED_SUMMARIZED = """
        UPDATE tagged_messages SET decided = 2 WHERE decided = 1;
        CREATE INDEX tagged_messages_pending ON tagged_messages(decided) WHERE decided = 1;
        DELETE FROM interface_stats;
        DELETE FROM interface_people;
        DELETE FROM interface_series;
        INSERT INTO interface_stats SELECT mi.interface, COUNT(*), COUNT(DISTINCT m.thread_id),
            COUNT(DISTINCT m.from_addr), MIN(m.date), MAX(m.date) FROM message_interfaces mi
            JOIN messages m ON m.message_id = mi.message_id GROUP BY mi.interface;
        INSERT INTO interface_people SELECT mi.interface, m.from_addr, MAX(m.from_name), COUNT(*)
            FROM message_interfaces mi JOIN messages m ON m.message_id = mi.message_id
            WHERE m.from_addr IS NOT NULL GROUP BY mi.interface, m.from_addr;
        INSERT OR IGNORE INTO interface_series SELECT DISTINCT mi.interface, p.series_id
            FROM message_interfaces mi JOIN patches p ON p.message_id = mi.message_id
            WHERE p.series_id IS NOT NULL;
"""

M021_TRAILER_CHECKS = """
        ALTER TABLE trailers ADD COLUMN ignored_reason TEXT;
        -- the ingest's rule (ingest/trailers.py not_sender_reason) for trailers already
        -- linked, without b4's "+tag" and sub-domain leniency, which SQL says badly:
        -- those few stay flagged until their thread is linked again
        UPDATE trailers SET ignored_reason = 'not-sender' WHERE id IN (
            SELECT t.id FROM trailers t JOIN messages m ON m.message_id = t.message_id
            WHERE lower(t.name) LIKE '%-by' AND t.person_addr IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM patches p WHERE p.message_id = t.message_id)
              AND t.person_addr IS NOT lower(m.from_addr)
              AND lower(COALESCE(t.person_name, '')) IS NOT lower(COALESCE(m.from_name, ''))
              AND NOT EXISTS (SELECT 1 FROM trailers o WHERE o.message_id = t.patch_message_id
                              AND o.name = t.name AND o.person_addr = t.person_addr));
        CREATE VIEW patch_trailers AS
            SELECT t.patch_message_id AS patch_message_id, t.id AS trailer_id, t.name,
                   t.value, t.person_name, t.person_addr, t.message_id, t.applies_to
            FROM trailers t
            WHERE t.applies_to = 'patch' AND t.ignored_reason IS NULL
            UNION ALL
            SELECT p.message_id, t.id, t.name, t.value, t.person_name, t.person_addr,
                   t.message_id, t.applies_to
            FROM trailers t JOIN patches p ON p.series_id = t.series_id AND p.kind != 'cover'
            WHERE t.applies_to = 'series' AND t.ignored_reason IS NULL
              AND t.message_id IS NOT t.patch_message_id;
"""

# (name, SQL script). Append only.
MIGRATIONS: list[tuple[str, str]] = [
    ("001_archive", M001_ARCHIVE),
    ("002_views", M002_VIEWS),
    ("003_nlp", M003_NLP),
    ("004_views_and_digest", M004_VIEWS_AND_DIGEST),
    ("005_concern_candidates", M005_CANDIDATES),
    ("006_subject_parts", M006_SUBJECT_PARTS),
    ("007_decided", M007_DECIDED),
    ("008_trailer_people", M008_TRAILER_PEOPLE),
    ("009_interface_summaries", M009_INTERFACE_SUMMARIES),
    ("010_link_queue", M010_LINK_QUEUE),
    ("011_fts_state", M011_FTS_STATE),
    ("012_escaped_links", M012_ESCAPED_LINKS),
    ("013_series_queue", M013_SERIES_QUEUE),
    ("014_subject_order", M014_SUBJECT_ORDER),
    ("015_model_score", M015_MODEL_SCORE),
    ("016_stale_confident", M016_STALE_CONFIDENT),
    ("017_commits", M017_COMMITS),
    ("018_corrections", M018_CORRECTIONS),
    ("019_decided_summarized", M019_DECIDED_SUMMARIZED),
    ("020_merged_open_corrected", M020_MERGED_OPEN_CORRECTED),
    ("021_trailer_checks", M021_TRAILER_CHECKS),
]


def applied_migrations(db: sqlite_utils.Database) -> list[str]:
    """Return the names of the migrations already applied to db, oldest first."""
    if "_migrations" not in db.table_names():
        return []
    return [r[0] for r in db.execute("SELECT name FROM _migrations ORDER BY id")]


def migrate(db: sqlite_utils.Database) -> list[str]:
    """Apply every pending migration, each in its own transaction; return their names."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (id INTEGER PRIMARY KEY, name TEXT UNIQUE, applied TEXT)"
    )
    done = set(applied_migrations(db))
    ran = []
    for name, sql in MIGRATIONS:
        if name in done:
            continue
        applied = datetime.now(UTC).isoformat(timespec="seconds")
        # executescript commits first and runs in autocommit mode: the explicit
        # BEGIN/COMMIT makes each migration all-or-nothing.
        try:
            db.conn.executescript(
                f"BEGIN;\n{sql}\nINSERT INTO _migrations (name, applied) "
                f"VALUES ('{name}', '{applied}');\nCOMMIT;"
            )
        except Exception:
            db.conn.rollback()
            raise
        logger.info("applied migration %s", name)
        ran.append(name)
    return ran
