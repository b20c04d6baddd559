"""The Discord client: guilds intent only, the abiwatch command tree, and the two
entry points the CLI calls: run the bot, or push the command schema (sync).

Commands are synced only by `sync_commands` (`abiwatch bot sync`): syncing at
every start is rate limited by Discord and needless when nothing changed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import discord
from discord import app_commands

from abiwatch.bot.discord_adapter.commands import AbiwatchTree, add_commands
from abiwatch.bot.discord_adapter.corrections import CorrectionButton
from abiwatch.bot.discord_adapter.redact import install_redaction
from abiwatch.bot.discord_adapter.service import AnswerService
from abiwatch.bot.engine import Engine

logger = logging.getLogger(__name__)


def intents() -> discord.Intents:
    """Return the gateway intents the bot needs: guilds only (slash commands need no more)."""
    wanted = discord.Intents.none()
    wanted.guilds = True
    return wanted


class AbiwatchClient(discord.Client):
    """A discord.py client that answers abiwatch slash commands from one database."""

    async def setup_hook(self) -> None:
        """Answer correction buttons in any message, including those sent before a restart."""
        self.add_dynamic_items(CorrectionButton)

    def __init__(self, service: AnswerService, **options: Any):
        # abiwatch never joins voice: without this, every start warns that PyNaCl and
        # davey (voice libraries) are missing, which only alarms whoever runs the bot.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        super().__init__(intents=intents(), **options)
        self.service = service
        self.tree = AbiwatchTree(self)
        add_commands(self.tree, service)

    async def on_ready(self) -> None:
        """Log who we are and where; the commands were synced beforehand, not now."""
        logger.info("connected as %s (id %s) in %d servers; answering from %s",
                    self.user, self.user.id if self.user else "?", len(self.guilds),
                    self.service.db_path)


def build_client(db_path: str | Path, correction_roles: Sequence[str] = (),
                 **options: Any) -> AbiwatchClient:
    """Return a client answering from the database at db_path; members of correction_roles
    (role names or ids) may correct concerns. Options go to discord.Client."""
    return AbiwatchClient(AnswerService(Engine(db_path), correction_roles), **options)


async def run_bot(token: str, db_path: str | Path, correction_roles: Sequence[str] = (),
                  **options: Any) -> None:
    """Connect to Discord with token and answer commands until cancelled."""
    install_redaction(token)
    if not Path(db_path).exists():
        logger.warning("no database at %s yet: commands will say so until it is built", db_path)
    if not correction_roles:
        logger.info("no [corrections] discord_roles: nobody may correct concerns from Discord")
    client = build_client(db_path, correction_roles, **options)
    async with client:
        await client.start(token)


async def sync_commands(token: str, db_path: str | Path, guild_id: int | None = None,
                        **options: Any) -> list[app_commands.AppCommand]:
    """Push the command schema to Discord (to one guild, or globally); return what Discord holds."""
    install_redaction(token)
    client = build_client(db_path, **options)
    async with client:
        # Logging in over HTTP is enough to know the application id; no gateway needed.
        await client.login(token)
        guild = discord.Object(id=guild_id) if guild_id else None
        if guild is not None:
            client.tree.copy_global_to(guild=guild)
        return await client.tree.sync(guild=guild)
