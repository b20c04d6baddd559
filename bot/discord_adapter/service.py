"""The engine as the Discord adapter sees it: every call runs in a worker thread
so the event loop never waits on SQLite or spaCy. No SQL and no formatting here.
Corrections are the one write: they open the database read-write for that only."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from abiwatch.bot.discord_adapter.corrections import message_key
from abiwatch.bot.engine import Answer, Engine
from abiwatch.bot.question import Question
from abiwatch.db import DatabaseMissing, open_db
from abiwatch.db import answer_queries as aq
from abiwatch.db import corrections as corr

MAX_CHOICES = 25  # Discord shows at most 25 autocomplete choices
CHOICE_TEXT = 100  # and each choice's name and value are at most 100 characters


@dataclass(frozen=True)
class Person:
    """Someone who raised concerns, as offered by autocomplete."""

    label: str
    value: str


class AnswerService:
    """Runs the answer engine, the autocomplete look-ups and corrections off the event loop."""

    def __init__(self, engine: Engine, correction_roles: Sequence[str] = ()):
        self.engine = engine
        # Discord roles (names or ids) whose members may correct concerns.
        self.correction_roles = tuple(correction_roles)
        # The spaCy pipeline behind free-form questions is built lazily and is not
        # documented as thread-safe: one free-form question at a time.
        self._nlp_lock = threading.Lock()

    @property
    def db_path(self) -> Path:
        """Return the database file the engine reads."""
        return self.engine.db_path

    def _require_db(self) -> None:
        # The engine answers "no data" politely; in chat a missing database is an
        # operator's problem, reported in one line by the error handler.
        if not self.db_path.exists():
            raise DatabaseMissing(f"no database at {self.db_path}")

    def _answer(self, q: Question) -> Answer:
        self._require_db()
        return self.engine.answer(q)

    def _ask(self, text: str) -> Answer:
        self._require_db()
        with self._nlp_lock:
            return self.engine.ask(text)

    async def answer(self, q: Question) -> Answer:
        """Return the engine's answer to an explicit question, computed in a thread."""
        return await asyncio.to_thread(self._answer, q)

    async def ask(self, text: str) -> Answer:
        """Return the engine's answer to a free-form question, computed in a thread."""
        return await asyncio.to_thread(self._ask, text)

    def interface_names(self, typed: str) -> list[str]:
        """Return catalog interface names matching typed (name or alias), best match first."""
        low = typed.strip().lower()
        ranked = []
        for n, i in enumerate(self.engine.catalog.interfaces):
            aliases = [a.lower() for a in i.aliases]
            # What people type first is the start of a name; then of an alias ("pv_" for
            # pv_ops); anything containing it comes last. Catalog order breaks ties.
            if i.name.lower().startswith(low):
                rank = 0
            elif any(a.startswith(low) for a in aliases):
                rank = 1
            elif low in i.name.lower() or any(low in a for a in aliases):
                rank = 2
            else:
                continue
            ranked.append((rank, n, i.name))
        return [name for _, _, name in sorted(ranked)][:MAX_CHOICES]

    def _people(self, typed: str) -> list[Person]:
        try:
            db = open_db(self.db_path, readonly=True)
        except DatabaseMissing:
            return []
        try:
            rows = aq.concern_authors(db, typed.strip(), limit=MAX_CHOICES)
        finally:
            db.conn.close()
        out = []
        for r in rows:
            name, addr = r["name"], r["addr"]
            if not (name or addr):
                continue
            label = f"{name} <{addr}>" if name and addr else (name or addr)
            # The address is what identifies a person; the engine matches it exactly.
            out.append(Person(label[:CHOICE_TEXT], (addr or name)[:CHOICE_TEXT]))
        return out

    async def people(self, typed: str) -> list[Person]:
        """Return people who raised concerns matching typed, looked up in a thread."""
        return await asyncio.to_thread(self._people, typed)

    # --- corrections: the one place the bot writes ------------------------------

    def _concern(self, db, concern_id: int, key: str | None) -> dict:
        """Return the concern (automatic row) a button or /correct names; refuse a stale one."""
        concern = corr.concern_row(db, concern_id)
        if concern is None:
            raise corr.CorrectionError(f"There is no concern #{concern_id}.")
        if key is not None and key != message_key(concern["message_id"]):
            # The id went to another concern when the archive was re-tagged.
            raise corr.CorrectionError(f"This answer is out of date (concern #{concern_id} is "
                                       "now another one): ask again, then correct.")
        return concern

    def _card(self, concern_id: int, key: str) -> tuple[dict, dict | None]:
        self._require_db()
        db = open_db(self.db_path, readonly=True)
        try:
            return self._concern(db, concern_id, key), corr.effective(db, concern_id)
        finally:
            db.conn.close()

    async def card(self, concern_id: int, key: str) -> tuple[dict, dict | None]:
        """Return a concern's automatic row and its row as corrected (None: not a concern),
        read in a thread, for its correction card."""
        return await asyncio.to_thread(self._card, concern_id, key)

    def _correct(self, concern_id: int, action: corr.Action, author: str, author_id: str,
                 key: str | None, source_ref: str) -> dict:
        self._require_db()
        db = open_db(self.db_path)  # read-write: recording a correction is the bot's one write
        try:
            self._concern(db, concern_id, key)
            return corr.correct(db, concern_id, action, author=author, author_id=author_id,
                                source="discord", source_ref=source_ref)
        finally:
            db.conn.close()

    async def correct(self, concern_id: int, action: corr.Action, *, author: str, author_id: str,
                      key: str | None = None, source_ref: str = "") -> dict:
        """Record a correction made on Discord (in a thread); return the concern as it now
        reads (see db.corrections.correct)."""
        return await asyncio.to_thread(self._correct, concern_id, action, author, author_id, key,
                                       source_ref)
