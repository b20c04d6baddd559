"""The Discord adapter: slash commands over the answer engine (no SQL, no formatting).

Inside this package `import discord` is the discord.py library (absolute imports),
not this package.
"""

from abiwatch.bot.discord_adapter.client import AbiwatchClient, build_client, run_bot, sync_commands

__all__ = ["AbiwatchClient", "build_client", "run_bot", "sync_commands"]
