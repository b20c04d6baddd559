"""`abiwatch serve`: a real Datasette subprocess on 127.0.0.1 serving a real tagged
database read-only: JSON endpoints, canned queries, full-text search, metadata,
writes refused, and mail ingested while it runs shows up (WAL)."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from corpus import LKML, require
from dbfile import sql as rows
from dbfile import tagged_db

from abiwatch.bot.cli import cli
from abiwatch.bot.datasette_meta import (
    DESCRIPTIONS,
    QUERIES,
    SCHEMA_DOC,
    build_metadata,
    live_columns,
    parse_schema_doc,
)
from abiwatch.db import open_db
from abiwatch.ingest.load import ingest

REPO = Path(__file__).resolve().parents[2]
LATER = "lkml-20060810-paravirt-h-patch.mbox"  # ingested while the server runs


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def db_path(tmp_path_factory) -> Path:
    require(LKML)
    return tagged_db(tmp_path_factory.mktemp("serve") / "abiwatch.db",
                     sorted(p for p in LKML.glob("*.mbox") if p.name != LATER))


SERVER_PIDS: dict[str, int] = {}  # base URL -> the server's process id


@pytest.fixture(scope="module")
def server(db_path):
    """`abiwatch serve` as a real process; yields its base URL."""
    port = free_port()
    env = {**os.environ, "ABIWATCH_CONFIG": "", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "abiwatch.bot.cli", "--db", str(db_path), "serve",
                             "--host", "127.0.0.1", "--port", str(port)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            pytest.fail(f"abiwatch serve exited with {proc.returncode}: {proc.stdout.read()}")
        try:
            urllib.request.urlopen(base + "/-/versions.json", timeout=2).read()
            break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail("abiwatch serve did not answer within 30 s")
            time.sleep(0.2)
    SERVER_PIDS[base] = proc.pid
    yield base
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def get(url: str):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def test_database_json_endpoint(server, db_path):
    data = get(f"{server}/{db_path.stem}.json")
    tables = {t["name"]: t for t in data["tables"]}
    assert tables["concerns"]["count"] == rows(db_path, "SELECT COUNT(*) FROM concerns")[0][0] > 0
    assert tables["raw_messages"]["hidden"] is True


def test_canned_query_open_concerns(server, db_path):
    url = f"{server}/{db_path.stem}/open_concerns_by_interface.json?interface=vmi&_shape=array"
    got = get(url)
    want = rows(db_path, "SELECT id, 'https://lore.kernel.org/r/' || message_id FROM concerns "
                         "WHERE status = 'open' AND interface = 'VMI' AND confident = 1 ORDER BY date")
    assert want and [(r["id"], r["url"]) for r in got] == want
    assert all(r["age_days"] > 6000 for r in got)  # 2006 mail
    everything = get(f"{server}/{db_path.stem}/open_concerns_by_interface.json?_shape=array")
    assert len(everything) == rows(db_path, "SELECT COUNT(*) FROM open_concerns")[0][0]


def test_every_canned_query_runs(server, db_path):
    for name in QUERIES:
        data = get(f"{server}/{db_path.stem}/{name}.json?_shape=objects")
        assert data["ok"], name
    timeline = get(f"{server}/{db_path.stem}/concern_timeline_by_interface.json?"
                   "interface=Xen&status=resolved&_shape=array")
    assert [r["concern_id"] for r in timeline] == [r[0] for r in rows(
        db_path, "SELECT id FROM concerns WHERE interface = 'Xen' AND status = 'resolved' "
                 "AND confident = 1 ORDER BY date")]


def test_full_text_search(server, db_path):
    q = urllib.parse.quote("paravirt_ops")
    got = get(f"{server}/{db_path.stem}/messages.json?_search={q}&_shape=array&_col=message_id"
              "&_size=max")
    want = rows(db_path, "SELECT m.message_id FROM messages_fts f JOIN messages m "
                         "ON m.id = f.rowid WHERE messages_fts MATCH 'paravirt_ops'")
    assert want and {r["message_id"] for r in got} == {r[0] for r in want}


def test_metadata_describes_tables_and_columns(server, db_path):
    meta = get(f"{server}/-/metadata.json")["databases"][db_path.stem]
    assert meta["tables"]["messages"]["fts_table"] == "messages_fts"
    concerns = meta["tables"]["concerns"]
    assert concerns["description"] and concerns["columns"]["status"]
    assert set(meta["queries"]) == set(QUERIES)


def test_writes_are_refused(server, db_path):
    before = hashlib.sha256(db_path.read_bytes()).hexdigest()
    sql = urllib.parse.quote("DELETE FROM concerns")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{server}/{db_path.stem}.json?sql={sql}", timeout=10)
    assert err.value.code == 400
    # Even a statement that passes Datasette's SELECT check cannot write: mode=ro.
    sql = urllib.parse.quote("WITH x AS (SELECT 1) DELETE FROM concerns")
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(f"{server}/{db_path.stem}.json?sql={sql}", timeout=10)
    assert hashlib.sha256(db_path.read_bytes()).hexdigest() == before
    assert rows(db_path, "SELECT COUNT(*) FROM concerns")[0][0] > 0


def test_mail_ingested_while_serving_shows_up(server, db_path):
    # The reason for mode=ro rather than immutable: a WAL database keeps changing.
    count = f"{server}/{db_path.stem}.json?sql=" + urllib.parse.quote(
        "SELECT COUNT(*) AS n FROM messages") + "&_shape=array"
    before = get(count)[0]["n"]
    db = open_db(db_path)
    stats = ingest(db, [str(LKML / LATER)], progress=False)
    try:
        assert stats.new > 0
        assert get(count)[0]["n"] == before + stats.new
    finally:
        db.conn.close()


def _error_of(url: str) -> tuple[int, str]:
    try:
        urllib.request.urlopen(url, timeout=60).read()
    except urllib.error.HTTPError as err:
        body = err.read().decode()
        return err.code, json.loads(body)["error"] if body.startswith("{") else body
    return 200, ""


def _peak_mb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(ln.split()[1] for ln in status.splitlines() if ln.startswith("VmHWM"))) // 1024


def test_huge_values_are_refused_at_once_and_the_server_stays_small(server, db_path):
    """Three printf('%.*c', 1000000000, 'x') at once took the server to 2.4 GB and
    stalled every other query for 41 s; the time limit did not stop them."""
    from concurrent.futures import ThreadPoolExecutor

    sql = urllib.parse.quote("SELECT length(printf('%.*c', 1000000000, 'x')) AS n")
    url = f"{server}/{db_path.stem}.json?sql={sql}"
    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(_error_of, [url] * 3))
    assert answers == [(400, "string or blob too big")] * 3
    ok = f"{server}/{db_path.stem}.json?sql=" + urllib.parse.quote("SELECT 1 AS one") + \
        "&_shape=array"
    assert get(ok) == [{"one": 1}]
    assert _peak_mb(SERVER_PIDS[server]) < 1024


def test_a_result_over_the_byte_budget_is_a_one_line_error(server, db_path):
    sql = urllib.parse.quote("SELECT printf('%.*c', 40000000, 'x') AS x FROM messages LIMIT 3")
    code, error = _error_of(f"{server}/{db_path.stem}.json?sql={sql}")
    assert code == 400 and error.startswith("the result is larger than 64 MB")


def test_a_post_to_a_canned_query_is_refused_in_one_line(server, db_path):
    """Datasette answered it with a 500 and a traceback in the log."""
    for suffix in ("", ".json"):
        request = urllib.request.Request(
            f"{server}/{db_path.stem}/open_concerns_by_interface{suffix}", data=b"interface=VMI",
            method="POST")
        code, error = _error_of(request)
        assert code == 405 and "read-only: use GET" in error
    assert get(f"{server}/{db_path.stem}/open_concerns_by_interface.json?_shape=array")


def test_port_in_use_is_explained(db_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        res = CliRunner().invoke(cli, ["--db", str(db_path), "serve", "--port", str(port)],
                                 env={"ABIWATCH_CONFIG": ""})
    assert res.exit_code == 1 and f"cannot listen on 127.0.0.1:{port}" in res.output


def test_metadata_flag_prints_json(db_path):
    res = CliRunner().invoke(cli, ["--db", str(db_path), "serve", "--metadata"],
                             env={"ABIWATCH_CONFIG": ""})
    meta = json.loads(res.stdout)
    assert meta["databases"][db_path.stem]["tables"]["messages"]["fts_table"] == "messages_fts"


# --- descriptions -----------------------------------------------------------------

def test_builtin_descriptions_name_real_tables_and_columns(tmp_path):
    db = open_db(tmp_path / "fresh.db")
    names = set(db.table_names()) | set(db.view_names())
    for table, (_, cols) in DESCRIPTIONS.items():
        assert table in names, table
        real = {c.name for c in (db[table].columns if table in db.table_names()
                                 else db.view(table).columns)}
        assert set(cols) <= real, (table, set(cols) - real)


SAMPLE_DOC = """
# Schema

### messages
One row per mail.

| column | meaning |
| --- | --- |
| message_id | the `Message-ID` |
| subject, date | what it says |

### source_files and inbox_progress
Bookkeeping.

| column | meaning |
| --- | --- |
| source_files.path | file read |
| inbox_progress.git_dir, last_commit | epoch and where we stopped |
| nosuch | ignored |

```
### concerns
| text | not a heading: inside a code block |
```

## concerns
- `status`: open or resolved
- kind (TEXT) - objection, question...

### open_concerns
Open ones.
Columns: id, interface.
"""


def test_schema_doc_formats(tmp_path):
    db = open_db(tmp_path / "fresh.db")
    doc = parse_schema_doc(SAMPLE_DOC, live_columns(db))
    assert doc["messages"] == {"description": "One row per mail.", "columns": {
        "message_id": "the Message-ID", "subject": "what it says", "date": "what it says"}}
    assert doc["source_files"]["description"] == doc["inbox_progress"]["description"] == \
        "Bookkeeping."
    assert doc["source_files"]["columns"] == {"path": "file read"}
    assert doc["inbox_progress"]["columns"] == {"git_dir": "epoch and where we stopped",
                                                "last_commit": "epoch and where we stopped"}
    assert doc["concerns"]["columns"] == {"status": "open or resolved",
                                          "kind": "objection, question..."}
    assert doc["open_concerns"] == {"description": "Open ones.", "columns": {}}
    # The document wins over the built-in text; the rest stays.
    path = tmp_path / "schema.md"
    path.write_text(SAMPLE_DOC)
    meta = build_metadata(db, "x", path)["databases"]["x"]["tables"]
    assert meta["messages"]["columns"]["message_id"] == "the Message-ID"
    assert meta["messages"]["columns"]["own_text"] == DESCRIPTIONS["messages"][1]["own_text"]
    assert meta["threads"]["description"] == DESCRIPTIONS["threads"][0]
    # No document: built-in descriptions only.
    meta = build_metadata(db, "x", tmp_path / "absent.md")["databases"]["x"]["tables"]
    assert meta["messages"]["description"] == DESCRIPTIONS["messages"][0]


def test_repository_schema_doc_is_used_when_present(tmp_path):
    if not SCHEMA_DOC.is_file():
        pytest.skip("docs/schema.md not written yet: built-in descriptions are used")
    db = open_db(tmp_path / "fresh.db")
    meta = build_metadata(db, "x")
    assert "schema.md" in meta["description"]
    tables = meta["databases"]["x"]["tables"]
    text = " ".join(SCHEMA_DOC.read_text().replace("`", "").split())
    described = [(t, c, d) for t, e in tables.items() for c, d in e.get("columns", {}).items()]
    from_doc = [d for _, _, d in described if d in text]
    # Most column descriptions come from the document (a few only exist built in).
    assert len(from_doc) > 0.8 * len(described)


# --- privacy -------------------------------------------------------------------------


def _add_subscriber(db_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--db", str(db_path), "subscribers", "add",
                                      "reader@example.org", "--interface", "VMI"],
                                env={"ABIWATCH_CONFIG": ""})
    assert result.exit_code == 0, result.output


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as err:
        return err.code


def test_subscribers_and_digests_sent_are_refused_over_http(server, db_path):
    _add_subscriber(db_path)
    base = f"{server}/{db_path.stem}"
    assert _status(f"{base}/subscribers.json") == 403
    assert _status(f"{base}/digests_sent.json") == 403
    for sql in ("SELECT email FROM subscribers", "SELECT * FROM digests_sent",
                "SELECT (SELECT group_concat(email) FROM subscribers) AS x"):
        assert _status(f"{base}.json?sql={urllib.parse.quote(sql)}") >= 400
    listed = {t["name"] for t in get(f"{base}.json")["tables"] if not t["hidden"]}
    assert not {"subscribers", "digests_sent"} & listed


def test_local_file_paths_read_as_empty_over_http(server, db_path):
    assert rows(db_path, "SELECT COUNT(*) FROM raw_messages WHERE source IS NOT NULL")[0][0]
    base = f"{server}/{db_path.stem}"
    sql = urllib.parse.quote("SELECT source FROM raw_messages")
    assert {r["source"] for r in get(f"{base}.json?sql={sql}&_shape=objects")["rows"]} == {None}
    page = get(f"{base}/source_files.json?_shape=objects")["rows"]
    assert page and all(r["path"] is None for r in page)


def test_publish_private_serves_them_on_purpose(db_path):
    import asyncio

    from abiwatch.bot.config import ServeSettings
    from abiwatch.bot.serve import make_datasette

    _add_subscriber(db_path)

    async def fetch(publish: bool) -> int:
        ds = make_datasette(db_path, ServeSettings(), publish_private=publish)
        await ds.invoke_startup()
        return (await ds.client.get(f"/{db_path.stem}/subscribers.json")).status_code

    try:
        assert asyncio.run(fetch(True)) == 200
        assert asyncio.run(fetch(False)) == 403
    finally:
        make_datasette(db_path, ServeSettings())  # leave the default (private) plugins in place
