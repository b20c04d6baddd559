"""Slash commands, one per engine intent plus /ask, and the one error handler.

Each command turns its options into a `bot.question.Question`, lets the engine
answer it in a thread, renders the answer with `bot.render.to_embeds` and
replies: ephemeral unless the asker sets `public`, with page buttons when the
answer has more than one page.
"""

from __future__ import annotations

import logging
import math
import re
from typing import Literal

import discord
from discord import app_commands

from abiwatch.bot.discord_adapter.corrections import (
    button,
    data_line,
    may_correct,
    message_key,
    outcome,
    recorded_as,
    refusal,
    where,
)
from abiwatch.bot.discord_adapter.service import CHOICE_TEXT, AnswerService
from abiwatch.bot.discord_adapter.views import Pager
from abiwatch.bot.engine import Answer, ConcernItem
from abiwatch.bot.question import MAX_QUESTION, Question
from abiwatch.bot.render import FIELDS_PER_PAGE, to_embeds
from abiwatch.db import DatabaseMissing
from abiwatch.db.corrections import Action, CorrectionError
from abiwatch.db.lore import message_id_from

logger = logging.getLogger(__name__)

COOLDOWN_RATE = 1  # commands per user per COOLDOWN_SECONDS, for each command
COOLDOWN_SECONDS = 5.0
QUERY_MAX = 200  # characters; longer subject words or searches are never useful

KIND = "Only this kind: nak, objection, request, question or risk"
Kind = Literal["nak", "objection", "request", "question", "risk"]
PUBLIC = "Post the answer in the channel for everyone (default: only you see it)"
UNSURE = "Also concerns under the model's confidence threshold (kept, not shown by default)"
_DATE = re.compile(r"(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?")


class BadInput(app_commands.AppCommandError):
    """An option the user typed that cannot be used; the message is shown as is."""


def iso_date(value: str) -> str:
    """Return YYYY-MM-DD for 'YYYY', 'YYYY-MM' or 'YYYY-MM-DD'; raise BadInput otherwise."""
    m = _DATE.fullmatch(value.strip())
    if not m:
        raise BadInput(f"I cannot read the date {value[:40]!r}: use YYYY-MM-DD, YYYY-MM or YYYY.")
    year, month, day = m.group(1), m.group(2) or "01", m.group(3) or "01"
    if not (1 <= int(month) <= 12 and 1 <= int(day) <= 31):
        raise BadInput(f"{value[:40]!r} is not a date: use YYYY-MM-DD, YYYY-MM or YYYY.")
    return f"{year}-{month}-{day}"


def parse_message_id(value: str) -> str:
    """Return the bare Message-ID of '<id>', 'id', 'id:ID' or any lore link form."""
    mid = message_id_from(value)
    if mid is None:
        raise BadInput("That is not a Message-ID: give something like "
                       "<20060803223035.GA26366@kroah.com> or its lore link.")
    return mid


def friendly(error: Exception) -> str:
    """Return the one line the user sees for a failure (never a traceback)."""
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Easy there: you can use this command again in {math.ceil(error.retry_after)} s."
    if isinstance(error, BadInput):
        return str(error)
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    line = data_line(error, "answer that")
    if line:
        return line
    if isinstance(error, (app_commands.CommandNotFound, app_commands.CommandSignatureMismatch)):
        return ("This command is out of date: whoever runs this bot needs to run "
                "`abiwatch bot sync`.")
    if isinstance(error, app_commands.TransformerError):
        return "I could not read one of the options; check it and try again."
    if isinstance(error, app_commands.CheckFailure):
        return "You cannot use this command here."
    return "Sorry, something went wrong while answering; the error was logged."


class AbiwatchTree(app_commands.CommandTree):
    """The command tree, with the one error handler every command shares."""

    async def on_error(self, interaction: discord.Interaction,
                       error: app_commands.AppCommandError) -> None:
        """Log the failure server-side and reply to the user in one line."""
        line = friendly(error)
        name = interaction.command.qualified_name if interaction.command else "?"
        cause = getattr(error, "original", error)
        if isinstance(error, (app_commands.CommandOnCooldown, BadInput)) or \
                isinstance(cause, CorrectionError):
            logger.info("/%s by user %s refused: %s", name, interaction.user.id, line)
        elif isinstance(cause, DatabaseMissing):
            # An operator's to-do, not a bug: one line in the log, no traceback.
            logger.warning("/%s could not be answered: %s", name, cause)
        else:
            logger.error("/%s by user %s failed", name, interaction.user.id, exc_info=error)
        try:
            if interaction.response.is_done():
                await interaction.edit_original_response(content=line, embeds=[], view=None)
            else:
                await interaction.response.send_message(line, ephemeral=True)
        except discord.HTTPException as exc:
            # The interaction may have expired; the log above already holds the cause.
            logger.warning("could not tell user %s about the failure: %s", interaction.user.id, exc)


def correction_buttons(answer: Answer, pages: list[dict]) -> list[list[discord.ui.Item]]:
    """Return the ✎ #N buttons under each page: one per concern the page shows."""
    concerns = [i for i in answer.items if isinstance(i, ConcernItem)]
    out: list[list[discord.ui.Item]] = []
    for n, page in enumerate(pages):
        # to_embeds puts FIELDS_PER_PAGE items on a page, and drops the last ones of a
        # page over Discord's size limit: the page shows the first len(fields).
        shown = concerns[n * FIELDS_PER_PAGE:][:len(page["fields"])] if concerns else []
        # Row 0 holds the page buttons; five buttons fit a row.
        out.append([button("edit", c.id, message_key(c.message_id), row=1 + k // 5)
                    for k, c in enumerate(shown)])
    return out


async def reply(interaction: discord.Interaction, answer: Answer) -> None:
    """Replace the deferred reply with the answer's first page, with page buttons if needed
    and a ✎ #N button for each concern shown."""
    dicts = to_embeds(answer)
    pages = [discord.Embed.from_dict(p) for p in dicts]
    extras = correction_buttons(answer, dicts)
    if len(pages) == 1 and not extras[0]:
        await interaction.edit_original_response(embed=pages[0])
        return
    view = Pager(pages, interaction.user.id, page_items=extras)
    view.origin = interaction
    await interaction.edit_original_response(embed=pages[0], view=view)


def add_commands(tree: app_commands.CommandTree, service: AnswerService) -> None:
    """Add the abiwatch slash commands to tree, answering through service."""

    def cooldown(func):
        # A new check per command: one decorator object shares one bucket map, and a
        # user should be able to run /who right after /unresolved. Built per tree, so
        # each client starts with empty buckets.
        return app_commands.checks.cooldown(COOLDOWN_RATE, COOLDOWN_SECONDS,
                                            key=lambda i: i.user.id)(func)

    catalog = service.engine.catalog

    def interface_name(value: str) -> str:
        # Aliases typed by hand ("pv_ops") become the catalog name; unknown names go to
        # the engine, which answers with the list of known interfaces.
        return catalog.resolve(value) or value.strip()

    async def run(interaction: discord.Interaction, q: Question, public: bool) -> None:
        q.explicit = True
        await interaction.response.defer(ephemeral=not public, thinking=True)
        await reply(interaction, await service.answer(q))

    async def complete_interface(interaction: discord.Interaction,
                                 current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=n, value=n) for n in service.interface_names(current)]

    async def complete_person(interaction: discord.Interaction,
                              current: str) -> list[app_commands.Choice[str]]:
        try:
            people = await service.people(current[:CHOICE_TEXT])
        except Exception:  # autocomplete has nobody to tell; log and offer nothing
            logger.exception("person autocomplete failed for %r", current[:CHOICE_TEXT])
            return []
        return [app_commands.Choice(name=p.label, value=p.value) for p in people]

    @tree.command(name="unresolved", description="Open concerns, newest first, for one interface or all")
    @app_commands.describe(interface="Interface (leave empty for all)", kind=KIND, unsure=UNSURE,
                           public=PUBLIC)
    @app_commands.autocomplete(interface=complete_interface)
    @cooldown
    async def unresolved(interaction: discord.Interaction, interface: str | None = None,
                         kind: Kind | None = None, unsure: bool = False,
                         public: bool = False) -> None:
        q = Question("unresolved", raw=f"/unresolved {interface or ''}".strip(),
                     interface=interface_name(interface) if interface else None, status="open",
                     kind=kind, unsure=unsure)
        await run(interaction, q, public)

    @tree.command(name="concerns", description="Concerns about one interface, filtered by status, person, date")
    @app_commands.describe(interface="Interface", status="open, resolved or all (default: all)",
                           by="Only concerns raised by this person",
                           since="Only concerns raised on or after this date (YYYY-MM-DD)",
                           kind=KIND, unsure=UNSURE, public=PUBLIC)
    @app_commands.autocomplete(interface=complete_interface, by=complete_person)
    @cooldown
    async def concerns(interaction: discord.Interaction, interface: str,
                       status: Literal["open", "resolved", "all"] = "all",
                       by: app_commands.Range[str, 1, CHOICE_TEXT] | None = None,
                       since: app_commands.Range[str, 4, 10] | None = None,
                       kind: Kind | None = None, unsure: bool = False,
                       public: bool = False) -> None:
        q = Question("concerns", raw=f"/concerns {interface}", interface=interface_name(interface),
                     status=None if status == "all" else status, person=by,
                     since=iso_date(since) if since else None, kind=kind, unsure=unsure)
        await run(interaction, q, public)

    @tree.command(name="interface", description="Summary of an interface: patches, versions, concerns, people")
    @app_commands.describe(name="Interface", public=PUBLIC)
    @app_commands.autocomplete(name=complete_interface)
    @cooldown
    async def interface(interaction: discord.Interaction, name: str, public: bool = False) -> None:
        q = Question("interface", raw=f"/interface {name}", interface=interface_name(name))
        await run(interaction, q, public)

    @tree.command(name="patch", description="A patch series: versions, acks and NAKs, its concerns")
    @app_commands.describe(query="Words of its subject, or its Message-ID", public=PUBLIC)
    @cooldown
    async def patch(interaction: discord.Interaction, query: app_commands.Range[str, 1, QUERY_MAX],
                    public: bool = False) -> None:
        q = Question("patch", raw=f"/patch {query}", query=query)
        if "@" in query and not any(c.isspace() for c in query.strip()):
            q.message_id = parse_message_id(query)
        await run(interaction, q, public)

    @tree.command(name="thread", description="A thread as a tree, one line per message")
    @app_commands.describe(message_id="Message-ID of any message in it (or its lore link)",
                           public=PUBLIC)
    @cooldown
    async def thread(interaction: discord.Interaction,
                     message_id: app_commands.Range[str, 3, 300], public: bool = False) -> None:
        q = Question("thread", raw=f"/thread {message_id}", message_id=parse_message_id(message_id))
        await run(interaction, q, public)

    @tree.command(name="search", description="Search the mail (s:subject f:from b:body d:2007-01-01..2007-03-31 dfn:file)")
    @app_commands.describe(query="Words, with lore-style prefixes if you like", public=PUBLIC)
    @cooldown
    async def search(interaction: discord.Interaction, query: app_commands.Range[str, 1, QUERY_MAX],
                     public: bool = False) -> None:
        await run(interaction, Question("search", raw=f"/search {query}", query=query), public)

    @tree.command(name="who", description="What a person raised, and whether it was resolved")
    @app_commands.describe(person="Name or mail address", unsure=UNSURE, public=PUBLIC)
    @app_commands.autocomplete(person=complete_person)
    @cooldown
    async def who(interaction: discord.Interaction, person: app_commands.Range[str, 1, CHOICE_TEXT],
                  unsure: bool = False, public: bool = False) -> None:
        await run(interaction, Question("who", raw=f"/who {person}", person=person, unsure=unsure),
                  public)

    @tree.command(name="merged", description="Concerns still open when their series was merged")
    @app_commands.describe(interface="Interface (leave empty for all)", public=PUBLIC)
    @app_commands.autocomplete(interface=complete_interface)
    @cooldown
    async def merged(interaction: discord.Interaction, interface: str | None = None,
                     public: bool = False) -> None:
        q = Question("merged", raw=f"/merged {interface or ''}".strip(),
                     interface=interface_name(interface) if interface else None)
        await run(interaction, q, public)

    @tree.command(name="ask", description="Ask in plain words, e.g. which concerns about VMI are still open?")
    @app_commands.describe(question="Your question", public=PUBLIC)
    @cooldown
    async def ask(interaction: discord.Interaction,
                  question: app_commands.Range[str, 1, MAX_QUESTION], public: bool = False) -> None:
        await interaction.response.defer(ephemeral=not public, thinking=True)
        await reply(interaction, await service.ask(question))

    @tree.command(name="correct", description="Correct the verdict on a concern (needs a correcting role)")
    @app_commands.describe(concern="The concern's number (#N in answers)",
                           action="What is true of it",
                           message="resolved-by: the resolving mail; patch: the patch "
                                   "(Message-ID or lore link)",
                           interface="interface: the interface it is about",
                           reason="Why (kept with the correction)", public=PUBLIC)
    @app_commands.autocomplete(interface=complete_interface)
    @cooldown
    async def correct(interaction: discord.Interaction,
                      concern: app_commands.Range[int, 1, 10**12],
                      action: Literal["resolved-by", "not-a-concern", "reopen", "interface", "patch"],
                      message: app_commands.Range[str, 3, 300] | None = None,
                      interface: app_commands.Range[str, 1, CHOICE_TEXT] | None = None,
                      reason: app_commands.Range[str, 1, 300] | None = None,
                      public: bool = False) -> None:
        if not may_correct(interaction.user, service.correction_roles):
            raise BadInput(refusal(service.correction_roles))
        value = None
        if action in ("resolved-by", "patch") and message:
            value = parse_message_id(message)
        elif action == "patch":
            raise BadInput("patch needs message: the patch's Message-ID or lore link.")
        if action == "interface":
            if not interface:
                raise BadInput("interface needs interface: the interface the concern is about.")
            value = interface_name(interface)
        name, uid = recorded_as(interaction.user)
        state = await service.correct(concern, Action(action, value, reason), author=name,
                                      author_id=uid, source_ref=where(interaction))
        logger.info("concern %s corrected (%s) by Discord user %s", concern, action,
                    interaction.user.id)
        await interaction.response.send_message(outcome(state, name), ephemeral=not public)
