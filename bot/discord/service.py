"""The engine as the Discord adapter sees it: every call runs in a worker thread
so the event loop never waits on SQLite or spaCy. No SQL and no formatting here."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from pathlib import Path

from abiwatch.bot.engine import Answer, Engine
from abiwatch.bot.question import Question
from abiwatch.db import DatabaseMissing, open_db
from abiwatch.db import answer_queries as aq

MAX_CHOICES = 25  # Discord shows at most 25 autocomplete choices
CHOICE_TEXT = 100  # and each choice's name and value are at most 100 characters


@dataclass(frozen=True)
class Person:
    """Someone who raised concerns, as offered by autocomplete."""

    label: str
    value: str


class AnswerService:
    """Runs the answer engine and the autocomplete look-ups off the event loop."""

    def __init__(self, engine: Engine):
        self.engine = engine
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
