"""Correcting a concern from Discord: a ✎ #N button on each concern of an answer opens
a card with ✓ resolved / ✗ not a concern / ↺ reopen; `/correct` does the same with
all the options. Only members of the roles in `[corrections] discord_roles` may;
each correction is recorded with their Discord name and id (db/corrections.py).

The buttons are persistent: their custom_id carries the action, the concern id and
a short hash of the concern's message id, so a press works after a restart or
after the answer's pager stopped listening, and a press on an answer older than a
`tag --redo` that gave the id to another concern is refused instead of correcting
the wrong one.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from collections.abc import Iterable

import discord

from abiwatch.bot.verdicts import verdict
from abiwatch.db import DatabaseMissing
from abiwatch.db.corrections import Action, CorrectionError
from abiwatch.db.lore import lore_url

logger = logging.getLogger(__name__)

PREFIX = "abiwatch:fix"
# action in the custom_id -> the correction it makes (None: open the card)
BUTTON_ACTIONS: dict[str, str | None] = {"edit": None, "resolved": "resolved-by",
                                         "dismiss": "not-a-concern", "reopen": "reopen"}
NOT_ENABLED = ("Corrections from Discord are not enabled here: the bot's operator lists the "
               "roles that may correct in [corrections] discord_roles.")
FAILED = "Sorry, the correction could not be made; the error was logged."


def message_key(message_id: str) -> str:
    """Return the short hash of a concern's message id that its buttons carry."""
    return hashlib.sha1(message_id.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def card_text(concern: dict, now: dict | None) -> str:
    """Return the text of a concern's correction card: its number, verdict and sentence."""
    state = "not a concern" if now is None else verdict(now["status"], now["correction"],
                                                        now["corrected_by"])
    text = " ".join((concern["text"] or "").split())
    text = text if len(text) <= 300 else text[:299] + "…"
    return (f"Concern #{concern['id']} ({state}) about {concern['interface']}, raised by "
            f"{concern['author_name'] or concern['author_addr']}: “{text}”\n"
            f"{lore_url(concern['message_id'])}")


def outcome(state: dict, author: str) -> str:
    """Return the one line answering a correction made on Discord."""
    if state["status"] == "not-a-concern":
        done = "marked not a concern; answers and the digest leave it out"
    else:
        done = "now " + verdict(state["status"], state["correction"], state["corrected_by"])
        if state["status"] == "resolved" and state.get("resolved_by"):
            done += f", citing {lore_url(state['resolved_by'])}"
        done += f", about {state['interface']}"
    return f"Concern #{state['id']}: {done} (correction {state['correction_id']}, by {author})."


def may_correct(user: discord.abc.User, roles: Iterable[str]) -> bool:
    """Return True when user is a server member holding one of roles (names or ids)."""
    allowed = {r.strip().lower() for r in roles if r.strip()}
    held = getattr(user, "roles", [])  # a User outside a server holds no role
    return any(r.name.lower() in allowed or str(r.id) in allowed for r in held)


def refusal(roles: Iterable[str]) -> str:
    """Return the one line telling someone without a correcting role why they cannot."""
    names = [r for r in roles if r.strip()]
    if not names:
        return NOT_ENABLED
    return f"Only members with the role {' or '.join(names)} may correct concerns here."


def recorded_as(user: discord.abc.User) -> tuple[str, str]:
    """Return (name, id) a correction is recorded with for a Discord user."""
    return (getattr(user, "display_name", None) or user.name), f"discord:{user.id}"


def button(action: str, concern_id: int, key: str, *, row: int | None = None) -> discord.ui.Button:
    """Return a plain button whose presses the persistent CorrectionButton handles."""
    label, style = {"edit": (f"✎ #{concern_id}", discord.ButtonStyle.secondary),
                    "resolved": ("✓ resolved", discord.ButtonStyle.success),
                    "dismiss": ("✗ not a concern", discord.ButtonStyle.danger),
                    "reopen": ("↺ reopen", discord.ButtonStyle.primary)}[action]
    return discord.ui.Button(label=label, style=style, row=row,
                             custom_id=f"{PREFIX}:{action}:{concern_id}:{key}")


def card_view(concern_id: int, key: str) -> discord.ui.View:
    """Return the three correction buttons of one concern, as a view that is sent only
    (stopped: CorrectionButton answers the presses, whenever they come)."""
    view = discord.ui.View(timeout=None)
    for action in ("resolved", "dismiss", "reopen"):
        view.add_item(button(action, concern_id, key))
    view.stop()
    return view


class CorrectionButton(discord.ui.DynamicItem[discord.ui.Button],
                       template=PREFIX + r":(?P<action>edit|resolved|dismiss|reopen)"
                                         r":(?P<id>\d{1,12}):(?P<key>[0-9a-f]{8})"):
    """Any correction button, in any message: ✎ opens the card, the others correct."""

    def __init__(self, action: str, concern_id: int, key: str):
        super().__init__(button(action, concern_id, key))
        self.action, self.concern_id, self.key = action, concern_id, key

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item,
                             match) -> CorrectionButton:
        return cls(match["action"], int(match["id"]), match["key"])

    async def callback(self, interaction: discord.Interaction) -> None:
        """Check the presser's role, then open the card or make the correction."""
        service = interaction.client.service  # type: ignore[attr-defined]
        try:
            if not may_correct(interaction.user, service.correction_roles):
                logger.info("correction button by user %s refused: no correcting role",
                            interaction.user.id)
                await interaction.response.send_message(refusal(service.correction_roles),
                                                        ephemeral=True)
                return
            wanted = BUTTON_ACTIONS[self.action]
            if wanted is None:
                concern, now = await service.card(self.concern_id, self.key)
                await interaction.response.send_message(
                    card_text(concern, now), view=card_view(self.concern_id, self.key),
                    ephemeral=True)
                return
            name, uid = recorded_as(interaction.user)
            state = await service.correct(self.concern_id, Action(wanted), author=name,
                                          author_id=uid, key=self.key,
                                          source_ref=where(interaction))
            logger.info("concern %s corrected (%s) by Discord user %s", self.concern_id, wanted,
                        interaction.user.id)
            await interaction.response.edit_message(content=outcome(state, name), view=None)
        except Exception as exc:  # one line to the presser, whatever went wrong
            await _tell(interaction, exc)


def where(interaction: discord.Interaction) -> str:
    """Return where a correction was made (for the record): guild/channel/interaction ids."""
    return f"{interaction.guild_id or 0}/{interaction.channel_id or 0}/{interaction.id}"


def data_line(exc: Exception, doing: str) -> str | None:
    """Return the one line for a failure of the data behind an answer or a correction
    (a refused correction, no database, a busy one); None for any other failure."""
    if isinstance(exc, CorrectionError):
        return str(exc)
    if isinstance(exc, DatabaseMissing):
        return ("The abiwatch database is not there yet: whoever runs this bot needs to run "
                "`abiwatch ingest` and `abiwatch tag`.")
    if isinstance(exc, sqlite3.Error):
        return f"The database could not {doing} just now; please try again in a moment."
    return None


def line_for(exc: Exception) -> str:
    """Return the one line a failed correction is answered with (never a traceback)."""
    return data_line(exc, "record that") or FAILED


async def _tell(interaction: discord.Interaction, exc: Exception) -> None:
    line = line_for(exc)
    if isinstance(exc, CorrectionError):
        logger.info("correction by user %s refused: %s", interaction.user.id, line)
    else:
        logger.error("correction by user %s failed", interaction.user.id, exc_info=exc)
    try:
        if interaction.response.is_done():
            await interaction.followup.send(line, ephemeral=True)
        else:
            await interaction.response.send_message(line, ephemeral=True)
    except discord.HTTPException:
        logger.debug("could not tell user %s about the failed correction", interaction.user.id)
