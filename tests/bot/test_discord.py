"""The Discord adapter, run for real and offline: the real discord.py client talks
to a fake Discord on 127.0.0.1 (tests/bot/fake_discord.py) that only records what
it is sent. Answers come from a database ingested and tagged from real LKML mail;
expected values are read from that database with plain SQL, not from the engine.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import discord
import pytest
from click.testing import CliRunner
from corpus import LKML, VIRT

from abiwatch.bot.cli import cli
from abiwatch.bot.discord_adapter import build_client
from abiwatch.bot.discord_adapter.commands import COOLDOWN_SECONDS
from abiwatch.bot.discord_adapter.redact import REDACTED, RedactFilter, install_redaction
from abiwatch.bot.discord_adapter.views import NOT_YOURS

REPO = Path(__file__).resolve().parents[2]
# Shaped like a real bot token (id.timestamp.hmac) so a leak would be recognisable.
TOKEN = "MTEwMDAwMDAwMDAwMDAwMDAwMg.GfAkEt.abiwatch-test-token-0123456789abcdefXYZ"


def _load_fake():
    # --import-mode=importlib does not put this folder on sys.path: load the helper by path.
    spec = importlib.util.spec_from_file_location("fake_discord", Path(__file__).with_name(
        "fake_discord.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules["fake_discord"] = module
    spec.loader.exec_module(module)
    return module


fd = _load_fake()


@pytest.fixture(scope="session")
def lkml_db(tmp_path_factory) -> Path:
    """Return a database ingested and tagged from the real 2006 LKML VMI/paravirt threads."""
    from abiwatch.db import open_db
    from abiwatch.ingest.load import ingest
    from abiwatch.nlp.tagging import tag

    assert LKML.is_dir(), f"shared corpus missing at {LKML} (set ABIWATCH_SHARED_DATA)"
    path = tmp_path_factory.mktemp("discord") / "lkml.db"
    db = open_db(path)
    stats = ingest(db, [str(LKML)], progress=False)
    assert stats.new == 35 and stats.problems == 0
    tag(db, progress=False, workers=1)
    db.conn.close()
    return path


@pytest.fixture
def fake(monkeypatch) -> fd.FakeDiscord:
    """Return a running fake Discord, with discord.py pointed at it."""
    server = fd.FakeDiscord(TOKEN).start()
    monkeypatch.setattr(discord.http.Route, "BASE", server.api_base)
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY",
                        discord.gateway.yarl.URL(server.gateway_url))
    yield server
    server.stop()


def with_bot(fake: fd.FakeDiscord, db_path: Path,
             scenario: Callable[[discord.Client], Awaitable[None]],
             correction_roles: tuple[str, ...] = ()) -> None:
    """Start the real client against the fake, run scenario once it is ready, stop it."""

    async def main() -> None:
        # guild_ready_timeout: READY lists no guilds, so do not wait 2 s for GUILD_CREATEs.
        client = build_client(db_path, correction_roles, guild_ready_timeout=0.01)
        async with client:
            start = asyncio.create_task(client.start(TOKEN), name="client.start")
            ready = asyncio.create_task(client.wait_for("ready", timeout=15))
            done, _ = await asyncio.wait({start, ready}, return_when=asyncio.FIRST_COMPLETED)
            if start in done:  # a payload discord.py could not take: fail loudly with its error
                ready.cancel()
                start.result()
                raise AssertionError("client.start() returned before the client was ready")
            ready.result()
            try:
                await asyncio.wait_for(scenario(client), 20)
            finally:
                await client.close()
                await asyncio.wait({start}, timeout=5)
                if start.done() and not start.cancelled() and start.exception():
                    raise start.exception()

    asyncio.run(main())


def _open_concerns(db_path: Path) -> list[tuple[str, str, str, str]]:
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute("SELECT message_id, author_name, text, interface FROM concerns WHERE "
                            "status = 'open' ORDER BY date DESC, id DESC").fetchall()
    finally:
        conn.close()


def _embed_concerns(embed: dict) -> list[tuple[str, str]]:
    """Return (message link, field name) for each concern field of an embed."""
    out = []
    for f in embed["fields"]:
        m = re.search(r"\[message\]\((https://lore\.kernel\.org/r/[^)]+)\)", f["value"])
        assert m, f
        out.append((m.group(1), f["name"]))
    return out


def _buttons(message: dict) -> dict[str, dict]:
    return {c["label"]: c for row in message["components"] for c in row["components"]}


def _concern_ids(embed: dict) -> list[int]:
    """Return the concern numbers (#N) an answer page shows, in order."""
    return [int(re.search(r"· #(\d+)$", f["name"]).group(1)) for f in embed["fields"]]


# --- (a) sync --------------------------------------------------------------------


def test_sync_pushes_the_command_schema(fake, lkml_db):
    runner = CliRunner()
    result = runner.invoke(cli, ["--db", str(lkml_db), "bot", "sync", "--guild", str(fd.GUILD_ID)],
                           env={"DISCORD_TOKEN": TOKEN})
    assert result.exit_code == 0, result.output
    assert TOKEN not in result.output
    schema = {c["name"]: c for c in fake.commands[fd.GUILD_ID]}
    assert set(schema) == {"unresolved", "concerns", "interface", "patch", "thread", "search",
                           "who", "merged", "ask", "correct"}
    assert "synced 10 commands to server" in result.output
    put = [r for r in fake.requests if r.method == "PUT"]
    assert [r.path for r in put] == [f"/api/v10/applications/{fd.APP_ID}/guilds/{fd.GUILD_ID}/commands"]

    def options(name: str) -> dict[str, dict]:
        return {o["name"]: o for o in schema[name].get("options", [])}

    for name, c in schema.items():
        assert c["type"] == 1 and 1 <= len(c["description"]) <= 100
        # Every command can be answered publicly on request; private is the default.
        assert options(name)["public"]["type"] == 5 and not options(name)["public"]["required"]
    assert options("unresolved")["interface"]["autocomplete"] is True
    assert options("unresolved")["interface"]["required"] is False
    assert options("concerns")["interface"] == {**options("concerns")["interface"],
                                                "autocomplete": True, "required": True}
    assert [ch["value"] for ch in options("concerns")["status"]["choices"]] == ["open", "resolved", "all"]
    assert options("concerns")["by"]["autocomplete"] is True
    assert options("concerns")["since"]["type"] == 3
    assert options("interface")["name"]["autocomplete"] is True
    assert options("merged")["interface"]["autocomplete"] is True
    assert options("merged")["interface"]["required"] is False
    assert options("who")["person"]["autocomplete"] is True
    for name, opt in (("patch", "query"), ("search", "query"), ("thread", "message_id"),
                      ("ask", "question")):
        assert options(name)[opt]["required"] and not options(name)[opt].get("autocomplete")
    assert options("ask")["question"]["max_length"] == 1000

    # Without --guild the same schema goes to the global endpoint.
    result = runner.invoke(cli, ["--db", str(lkml_db), "bot", "sync"], env={"DISCORD_TOKEN": TOKEN})
    assert result.exit_code == 0, result.output
    assert [c["name"] for c in fake.commands[None]] == [c["name"] for c in fake.commands[fd.GUILD_ID]]


# --- (b) a real command, paged -----------------------------------------------------


def test_unresolved_answers_from_the_database_and_pages(fake, lkml_db):
    expected = _open_concerns(lkml_db)
    assert len(expected) > 8, "the sample must need two pages for this test"
    n_pages = -(-len(expected) // 8)
    seen: dict[str, object] = {}

    async def scenario(client: discord.Client) -> None:
        asked = await fake.slash("unresolved", {"unsure": True})
        first = await fake.wait_for_callback(asked)
        seen["first_callback"] = first
        seen["page1"] = page1 = await fake.wait_for_reply(asked)
        buttons = _buttons(page1)
        # Someone else cannot turn the asker's pages...
        other = await fake.click(int(page1["id"]), buttons["▶"]["custom_id"], user_id=fd.OTHER_ID)
        seen["refused"] = await fake.wait_for_callback(other)
        # ...the asker can, to the last page.
        seen["later"] = []
        for _ in range(n_pages - 1):
            click = await fake.click(int(page1["id"]), buttons["▶"]["custom_id"])
            seen["later"].append(await fake.wait_for_callback(click))

    with_bot(fake, lkml_db, scenario)

    # Deferred privately ("thinking"), then the answer replaced the placeholder.
    assert seen["first_callback"]["type"] == fd.DEFERRED_CHANNEL_MESSAGE
    assert seen["first_callback"]["data"]["flags"] & fd.EPHEMERAL
    page1 = seen["page1"]
    assert page1["flags"] & fd.EPHEMERAL
    [embed1] = page1["embeds"]
    assert embed1["title"].startswith("Open concerns")
    assert f"page 1/{n_pages}" in embed1["footer"]["text"]
    embeds = [embed1]
    for k, body in enumerate(seen["later"], 2):
        assert body["type"] == fd.UPDATE_MESSAGE
        [embed] = body["data"]["embeds"]
        assert f"page {k}/{n_pages}" in embed["footer"]["text"]
        embeds.append(embed)

    shown = [c for e in embeds for c in _embed_concerns(e)]
    rows = {(f"https://lore.kernel.org/r/{mid}", iface): (author, text)
            for mid, author, text, iface in expected}
    texts = []
    for link, name in shown:
        iface = name.removeprefix("[open] ").split()[0]
        author, text = rows.pop((link, iface))
        assert author in name
        texts.append(text)
    assert rows == {}
    for f, text in zip([f for e in embeds for f in e["fields"]], texts, strict=True):
        # The quoted sentence is the concern's own text (cut with an ellipsis when long).
        quoted = re.match(r"“(.*?)…?”", f["value"]).group(1)
        assert quoted and " ".join(text.split()).startswith(quoted)

    assert _buttons(page1)["◀"].get("disabled") and not _buttons(page1)["▶"].get("disabled")
    assert seen["refused"] == {"type": fd.CHANNEL_MESSAGE,
                               "data": {**seen["refused"]["data"], "content": NOT_YOURS}}
    assert seen["refused"]["data"]["flags"] & fd.EPHEMERAL
    # The bot never pushed its commands on start: sync is an explicit command.
    assert not [r for r in fake.requests if r.method == "PUT"]
    assert fake.sent_frames[0]["op"] in (1, 2)


def test_public_option_posts_for_everyone(fake, lkml_db):
    seen = {}

    async def scenario(client):
        asked = await fake.slash("interface", {"name": "VMI", "public": True})
        seen["defer"] = await fake.wait_for_callback(asked)
        seen["reply"] = await fake.wait_for_reply(asked)

    with_bot(fake, lkml_db, scenario)
    assert not (seen["defer"].get("data") or {}).get("flags", 0) & fd.EPHEMERAL
    assert not seen["reply"]["flags"] & fd.EPHEMERAL
    assert seen["reply"]["embeds"][0]["title"] == "VMI: summary"


@pytest.fixture(scope="module")
def merged_db(tmp_path_factory) -> Path:
    """Return a database of four real paravirt threads and a tree in which two were merged."""
    import kernel_tree as kt

    assert VIRT.is_dir(), f"shared corpus missing at {VIRT} (set ABIWATCH_SHARED_DATA)"
    base = tmp_path_factory.mktemp("merged")
    return kt.merged_database(base / "abiwatch.db", VIRT, base / "linux")


def test_merged_command_lists_concerns_open_at_merge_with_the_release(fake, merged_db):
    seen = {}

    async def scenario(client):
        asked = await fake.slash("merged", {"interface": "pv_ops"})
        seen["reply"] = (await fake.wait_for_reply(asked))["embeds"][0]

    with_bot(fake, merged_db, scenario)
    embed = seen["reply"]
    assert embed["title"] == "Merged with concerns still open: paravirt_ops"
    assert [f["value"].count("https://lore.kernel.org/r/ZS%2FC1HS%2FEEXTtVji@gmail.com")
            for f in embed["fields"]] == [1]
    assert "merged in v6.8-rc1 as " in embed["fields"][0]["value"]


def test_each_intent_answers_through_its_command(fake, lkml_db):
    conn = sqlite3.connect(lkml_db)
    root = "44D1CC7D.4010600@vmware.com"  # "A proposal - binary", 23 messages
    in_thread = {r[0] for r in conn.execute(
        "SELECT message_id FROM messages WHERE thread_id = (SELECT thread_id FROM messages "
        "WHERE message_id = ?)", [root])}
    andi = [r[0] for r in conn.execute(
        "SELECT message_id FROM concerns WHERE author_addr = 'ak@suse.de' AND confident = 1 ORDER BY date DESC, id DESC")]
    andi_open_vmi = [r[0] for r in conn.execute(
        "SELECT message_id FROM concerns WHERE author_addr = 'ak@suse.de' AND interface = 'VMI' AND confident = 1 "
        "AND status = 'open' AND date >= '2006-08-01' ORDER BY date DESC, id DESC")]
    hypervisor = {r[0] for r in conn.execute(
        "SELECT message_id FROM messages WHERE lower(own_text) LIKE '%hypervisor%'")}
    conn.close()
    assert len(in_thread) > 8 and andi and andi_open_vmi and hypervisor
    seen = {}

    async def scenario(client):
        for key, name, options in [
                ("thread", "thread", {"message_id": f"https://lore.kernel.org/lkml/{root}/T/#u"}),
                ("who", "who", {"person": "ak@suse.de"}),
                ("concerns", "concerns", {"interface": "vmi", "status": "open",
                                          "by": "ak@suse.de", "since": "2006-08"}),
                ("search", "search", {"query": "hypervisor"}),
                ("unknown", "unresolved", {"interface": "NoSuchABI"})]:
            asked = await fake.slash(name, options)
            seen[key] = (await fake.wait_for_reply(asked))["embeds"][0]

    with_bot(fake, lkml_db, scenario)
    links = {k: [link.removeprefix("https://lore.kernel.org/r/") for link in re.findall(
        r"\((https://lore\.kernel\.org/r/[^)]+)\)", " ".join(f["value"] for f in e.get("fields", [])))]
        for k, e in seen.items()}
    assert len(links["thread"]) == 8 and set(links["thread"]) <= in_thread
    assert links["thread"][0] == root and "page 1/3" in seen["thread"]["footer"]["text"]
    assert seen["who"]["title"] == "Concerns raised by Andi Kleen"
    assert [m for m in links["who"] if m in andi] == andi[:8]
    # "vmi" typed by hand is resolved to the catalog name; --since YYYY-MM is a month start.
    assert seen["concerns"]["title"].startswith("Open concerns about VMI raised by")
    assert "--since 2006-08-01" in seen["concerns"]["footer"]["text"]
    assert [m for m in links["concerns"] if m in andi_open_vmi] == andi_open_vmi
    assert links["search"] and set(links["search"]) <= hypervisor
    assert seen["unknown"]["title"] == "Unknown interface"
    assert "known interfaces: paravirt_ops, VMI" in seen["unknown"]["description"]


# --- (c) autocomplete ----------------------------------------------------------------


def test_autocomplete_interfaces_and_people(fake, lkml_db):
    seen = {}
    conn = sqlite3.connect(lkml_db)
    kleen = conn.execute("SELECT DISTINCT author_addr FROM concerns WHERE author_name LIKE "
                         "'%Kleen%'").fetchall()
    conn.close()
    assert kleen

    async def scenario(client):
        a = await fake.autocomplete("unresolved", "interface", "vm")
        seen["vm"] = await fake.wait_for_callback(a)
        b = await fake.autocomplete("concerns", "interface", "pv_", {"status": "open"})
        seen["pv"] = await fake.wait_for_callback(b)
        c = await fake.autocomplete("who", "person", "kleen")
        seen["kleen"] = await fake.wait_for_callback(c)

    with_bot(fake, lkml_db, scenario)
    for body in seen.values():
        assert body["type"] == fd.AUTOCOMPLETE
    vm = [ch["value"] for ch in seen["vm"]["data"]["choices"]]
    # Names starting with what was typed come first; then those with a matching alias
    # (Hyper-V's "vmbus", KVM's "kvm"); Xen matches nothing.
    assert set(vm[:2]) == {"VMI", "VMware"} and set(vm[2:]) == {"Hyper-V", "KVM"}
    assert [ch["value"] for ch in seen["pv"]["data"]["choices"]] == ["paravirt_ops"]  # via alias pv_ops
    people = seen["kleen"]["data"]["choices"]
    assert sorted(ch["value"] for ch in people) == sorted(a for (a,) in kleen)
    assert all("Kleen" in ch["name"] for ch in people)


# --- (d) cooldown and the one-line error handler ------------------------------------


def test_second_command_within_cooldown_gets_one_friendly_line(fake, lkml_db):
    seen = {}

    async def scenario(client):
        first = await fake.slash("unresolved", {"interface": "Xen"})
        await fake.wait_for_reply(first)
        second = await fake.slash("unresolved", {"interface": "Xen"})
        seen["second"] = await fake.wait_for_callback(second)
        # Another person is not slowed down by the first one's cooldown.
        third = await fake.slash("unresolved", {"interface": "Xen"}, user_id=fd.OTHER_ID)
        seen["third"] = await fake.wait_for_callback(third)

    with_bot(fake, lkml_db, scenario)
    body = seen["second"]
    assert body["type"] == fd.CHANNEL_MESSAGE and body["data"]["flags"] & fd.EPHEMERAL
    line = body["data"]["content"]
    assert re.fullmatch(r"Easy there: you can use this command again in \d+ s\.", line), line
    assert int(re.search(r"\d+", line).group()) <= COOLDOWN_SECONDS
    assert not body["data"].get("embeds")
    assert seen["third"]["type"] == fd.DEFERRED_CHANNEL_MESSAGE


def test_failures_reply_in_one_line_and_log_server_side(fake, lkml_db, tmp_path, caplog):
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not an SQLite database\n" * 64)
    seen = {}

    async def scenario(client):
        asked = await fake.slash("unresolved", {"interface": "VMI"})
        seen["engine_error"] = await fake.wait_for_reply(asked)
        bad = await fake.slash("concerns", {"interface": "VMI", "since": "last tuesday"})
        seen["bad_date"] = await fake.wait_for_callback(bad)

    caplog.set_level(logging.INFO)
    with_bot(fake, broken, scenario)
    err = seen["engine_error"]
    assert err["content"] == "The database could not answer that just now; please try again in a moment."
    assert err["embeds"] == [] and "\n" not in err["content"]
    assert seen["bad_date"]["data"]["content"].startswith("I cannot read the date 'last tuesday'")
    # The cause is in the server's log, with its traceback, not in chat.
    failed = [r for r in caplog.records if r.name == "abiwatch.bot.discord_adapter.commands" and r.exc_info]
    assert failed and "file is not a database" in str(failed[0].exc_info[1].original)

    seen.clear()
    missing = tmp_path / "nowhere" / "abiwatch.db"

    async def no_db(client):
        asked = await fake.slash("who", {"person": "Andi"})
        seen["missing"] = await fake.wait_for_reply(asked)

    with_bot(fake, missing, no_db)
    assert seen["missing"]["content"].startswith("The abiwatch database is not there yet")
    assert "Traceback" not in seen["missing"]["content"]


# --- (e) the token stays secret -------------------------------------------------------


def test_token_never_logged_nor_sent_outside_the_authorization_header(fake, lkml_db, caplog):
    caplog.set_level(logging.DEBUG)

    async def scenario(client):
        asked = await fake.slash("ask", {"question": "which concerns about VMI are still open?"})
        reply = await fake.wait_for_reply(asked)
        assert reply["embeds"][0]["title"] == "Open concerns about VMI"

    with_bot(fake, lkml_db, scenario)
    assert len(caplog.records) > 20  # discord.py's debug log really was captured
    for record in caplog.records:
        assert TOKEN not in record.getMessage(), record.name
        assert TOKEN not in (caplog.handler.format(record) or "")
    assert TOKEN not in caplog.text
    assert fake.requests
    for r in fake.requests:
        headers = {k: v for k, v in r.headers.items() if k.lower() != "authorization"}
        assert TOKEN not in r.path + r.query + r.body + repr(headers), r.path
    bot_calls = [r for r in fake.requests if not r.path.startswith(("/api/v10/interactions",
                                                                     "/api/v10/webhooks"))]
    assert bot_calls and all(r.headers["Authorization"] == f"Bot {TOKEN}" for r in bot_calls)
    # The gateway needs the token exactly once, in IDENTIFY; nowhere else in what was sent.
    identify = [f for f in fake.sent_frames if f["op"] == 2]
    assert [f["d"]["token"] for f in identify] == [TOKEN]
    assert identify[0]["d"]["intents"] == discord.Intents(guilds=True).value
    assert sum(TOKEN in repr(f) for f in fake.sent_frames) == 1


def test_redaction_filter_blanks_the_token_in_messages_and_tracebacks():
    logger = logging.getLogger("abiwatch.test.redact")
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(self.format(record))

    handler = Keep()
    logger.addHandler(handler)
    logger.propagate = False
    try:
        install_redaction(TOKEN, logger=logger)
        install_redaction(TOKEN, logger=logger)
        assert sum(isinstance(f, RedactFilter) for f in handler.filters) == 1
        logger.warning("token is %s", TOKEN)
        try:
            raise RuntimeError(f"bad token {TOKEN}")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    assert len(records) == 2 and all(TOKEN not in r for r in records)
    assert records[0] == f"token is {REDACTED}" and f"bad token {REDACTED}" in records[1]


def test_bot_run_end_to_end_in_a_subprocess(fake, lkml_db):
    """`abiwatch -vv bot run` as an operator starts it: answers, never syncs, logs no token."""
    # The only change to the real program: discord.py's two URLs point at the fake.
    launcher = (
        "import sys, discord, yarl\n"
        f"discord.http.Route.BASE = {fake.api_base!r}\n"
        f"discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL({fake.gateway_url!r})\n"
        "from bot.cli import main\n"
        f"sys.argv = ['abiwatch', '-vv', '--db', {str(lkml_db)!r}, 'bot', 'run']\n"
        "main()\n")
    env = {**os.environ, "DISCORD_TOKEN": TOKEN}
    proc = subprocess.Popen([sys.executable, "-c", launcher], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = {}
    try:
        assert fake.identified.wait(30), "the bot never identified on the gateway"

        async def scenario():
            # No need to wait for READY to be processed: frames on one socket stay in order.
            asked = await fake.slash("unresolved", {"interface": "VMI"})
            seen["reply"] = await fake.wait_for_reply(asked)

        asyncio.run(scenario())
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err[-2000:]
    assert seen["reply"]["embeds"][0]["title"] == "Open concerns about VMI"
    assert not [r for r in fake.requests if r.method == "PUT"]
    # -vv shows discord.py's debug log (HTTP and gateway traffic): the token is not in it.
    assert "DEBUG discord.gateway" in err and "INTERACTION_CREATE" in err
    assert TOKEN not in out + err


# --- (f) no token -----------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, "", "   "])
def test_bot_run_without_token_exits_with_a_clear_message(lkml_db, value):
    result = CliRunner().invoke(cli, ["--db", str(lkml_db), "bot", "run"],
                                env={"DISCORD_TOKEN": value})
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: DISCORD_TOKEN is not set: export "
                                                   "DISCORD_TOKEN=")


# --- (g) corrections from Discord --------------------------------------------------------

MAINTAINERS = 1100000000000000010  # a role id on the fake server


@pytest.fixture
def own_db(lkml_db, tmp_path) -> Path:
    """A private copy of the tagged LKML database: corrections write to it."""
    path = tmp_path / "abiwatch.db"
    shutil.copy(lkml_db, path)
    return path


def _newest_open_vmi(db_path: Path) -> tuple[int, str]:
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute("SELECT id, message_id FROM concerns WHERE interface = 'VMI' AND "
                            "status = 'open' AND confident = 1 ORDER BY date DESC, id DESC "
                            "LIMIT 1").fetchone()
    finally:
        conn.close()


async def _roles_known(fake: fd.FakeDiscord, client: discord.Client) -> None:
    """Tell the bot the server's roles, as Discord does when it connects, and wait for them."""
    await fake.guild_create({MAINTAINERS: "maintainers"})
    for _ in range(500):
        if client.get_guild(fd.GUILD_ID) is not None:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the bot never learned the server's roles")


def _cli_unresolved_vmi(db_path: Path) -> list[int]:
    result = CliRunner().invoke(cli, ["--db", str(db_path), "ask", "--json", "unresolved VMI"])
    assert result.exit_code == 0, result.output
    return [i["id"] for i in json.loads(result.output)["items"]]


def test_a_button_press_marks_a_concern_resolved_for_every_later_answer(fake, own_db):
    concern_id, message_id = _newest_open_vmi(own_db)
    seen = {}

    async def scenario(client):
        await _roles_known(fake, client)
        asked = await fake.slash("unresolved", {"interface": "VMI"})
        seen["answer"] = answer = await fake.wait_for_reply(asked)
        edit = _buttons(answer)[f"✎ #{concern_id}"]
        # Pressing without the role is refused in one line, and nothing is recorded.
        press = await fake.click(int(answer["id"]), edit["custom_id"], user_id=fd.OTHER_ID)
        seen["refused"] = await fake.wait_for_callback(press)
        # A maintainer gets the concern's card, then presses ✓ on it.
        press = await fake.click(int(answer["id"]), edit["custom_id"], roles=[MAINTAINERS])
        seen["card"] = card = await fake.wait_for_reply(press)
        press = await fake.click(int(card["id"]), _buttons(card)["✓ resolved"]["custom_id"],
                                 roles=[MAINTAINERS])
        seen["done"] = await fake.wait_for_callback(press)
        again = await fake.slash("unresolved", {"interface": "VMI"}, user_id=fd.OTHER_ID)
        seen["after"] = await fake.wait_for_reply(again)

    with_bot(fake, own_db, scenario, correction_roles=("maintainers",))
    [page] = seen["answer"]["embeds"]
    assert concern_id in _concern_ids(page)
    # One ✎ button per concern shown, named by its number.
    assert {k for k in _buttons(seen["answer"]) if k.startswith("✎")} == {
        f"✎ #{i}" for i in _concern_ids(page)}
    refused = seen["refused"]
    assert refused["type"] == fd.CHANNEL_MESSAGE and refused["data"]["flags"] & fd.EPHEMERAL
    assert refused["data"]["content"] == "Only members with the role maintainers may correct concerns here."
    card = seen["card"]
    assert card["flags"] & fd.EPHEMERAL and card["content"].startswith(f"Concern #{concern_id} (open)")
    assert set(_buttons(card)) == {"✓ resolved", "✗ not a concern", "↺ reopen"}
    done = seen["done"]
    assert done["type"] == fd.UPDATE_MESSAGE and done["data"]["components"] == []
    assert done["data"]["content"].startswith(
        f"Concern #{concern_id}: now resolved (by hand, user6), about VMI")
    assert concern_id not in _concern_ids(seen["after"]["embeds"][0])

    conn = sqlite3.connect(own_db)
    [row] = conn.execute("SELECT message_id, interface, action, author, author_id, source, applied "
                         "FROM corrections").fetchall()
    conn.close()
    assert row == (message_id, "VMI", "resolved-by", "user6", f"discord:{fd.ASKER_ID}",
                   "discord", 1)
    # The correction outlives a full re-tag, and explain names who made it, where.
    result = CliRunner().invoke(cli, ["--db", str(own_db), "tag", "--redo"])
    assert result.exit_code == 0, result.output
    assert concern_id not in _cli_unresolved_vmi(own_db)
    explained = CliRunner().invoke(cli, ["--db", str(own_db), "explain", str(concern_id)])
    assert "automatically open" in explained.output
    assert re.search(r"resolved-by  -- user6, on Discord  \[in effect\]", explained.output)
    assert "in effect: resolved (by hand, user6)" in explained.output


def test_slash_correct_marks_a_concern_not_a_concern_and_refuses_the_unentitled(fake, own_db):
    concern_id, _ = _newest_open_vmi(own_db)
    seen = {}

    async def scenario(client):
        await _roles_known(fake, client)
        options = {"concern": concern_id, "action": "not-a-concern", "reason": "a design remark"}
        nobody = await fake.slash("correct", options, user_id=fd.OTHER_ID)
        seen["refused"] = await fake.wait_for_callback(nobody)
        missing = await fake.slash("correct", {**options, "concern": 987654}, roles=[MAINTAINERS],
                                   user_id=fd.OWNER_ID)
        seen["missing"] = await fake.wait_for_callback(missing)
        done = await fake.slash("correct", options, roles=[MAINTAINERS])
        seen["done"] = await fake.wait_for_callback(done)

    with_bot(fake, own_db, scenario, correction_roles=("maintainers",))
    assert seen["refused"]["data"]["content"] == \
        "Only members with the role maintainers may correct concerns here."
    assert seen["missing"]["data"]["content"] == "There is no concern #987654."
    done = seen["done"]
    assert done["type"] == fd.CHANNEL_MESSAGE and done["data"]["flags"] & fd.EPHEMERAL
    assert done["data"]["content"].startswith(f"Concern #{concern_id}: marked not a concern")
    assert concern_id not in _cli_unresolved_vmi(own_db)
    result = CliRunner().invoke(cli, ["--db", str(own_db), "tag", "--redo"])
    assert result.exit_code == 0, result.output
    assert concern_id not in _cli_unresolved_vmi(own_db)
    explained = CliRunner().invoke(cli, ["--db", str(own_db), "explain", str(concern_id)]).output
    assert "not-a-concern  -- user6, on Discord  [in effect]" in explained
    assert "reason: a design remark" in explained


def test_without_configured_roles_nobody_corrects_from_discord(fake, own_db):
    concern_id, _ = _newest_open_vmi(own_db)
    seen = {}

    async def scenario(client):
        await _roles_known(fake, client)
        asked = await fake.slash("correct", {"concern": concern_id, "action": "reopen"},
                                 roles=[MAINTAINERS])
        seen["reply"] = await fake.wait_for_callback(asked)

    with_bot(fake, own_db, scenario)
    assert seen["reply"]["data"]["content"].startswith("Corrections from Discord are not enabled")
    conn = sqlite3.connect(own_db)
    assert conn.execute("SELECT COUNT(*) FROM corrections").fetchone()[0] == 0
    conn.close()


def test_a_button_older_than_a_retag_refuses_rather_than_correct_another_concern(fake, own_db):
    concern_id, _ = _newest_open_vmi(own_db)
    seen = {}

    async def scenario(client):
        await _roles_known(fake, client)
        asked = await fake.slash("unresolved", {"interface": "VMI"})
        answer = await fake.wait_for_reply(asked)
        # Re-tagging can hand an id to another concern: here it goes to the oldest one.
        conn = sqlite3.connect(own_db)
        with conn:
            conn.execute("UPDATE concerns SET id = -id WHERE id = ?", [concern_id])
            conn.execute("UPDATE concerns SET id = ? WHERE id = (SELECT MIN(id) FROM concerns "
                         "WHERE id > 0)", [concern_id])
        conn.close()
        edit = _buttons(answer)[f"✎ #{concern_id}"]
        press = await fake.click(int(answer["id"]), edit["custom_id"], roles=[MAINTAINERS])
        seen["reply"] = await fake.wait_for_callback(press)

    with_bot(fake, own_db, scenario, correction_roles=("maintainers",))
    reply = seen["reply"]
    assert reply["type"] == fd.CHANNEL_MESSAGE and reply["data"]["flags"] & fd.EPHEMERAL
    assert reply["data"]["content"] == (f"This answer is out of date (concern #{concern_id} is now "
                                        "another one): ask again, then correct.")
    conn = sqlite3.connect(own_db)
    assert conn.execute("SELECT COUNT(*) FROM corrections").fetchone()[0] == 0
    conn.close()
