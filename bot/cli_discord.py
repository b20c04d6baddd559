"""`abiwatch bot run` and `abiwatch bot sync`: the Discord bot from the command line.

The token comes from the settings (DISCORD_TOKEN in the environment, see
bot/config.py) and is handed to the adapter as an argument; it is never printed,
and never accepted as an option, where `ps` would show it.
"""

from __future__ import annotations

import asyncio

import click

from abiwatch.bot.config import ENV_DISCORD_TOKEN, read_settings

NO_TOKEN = (f"{ENV_DISCORD_TOKEN} is not set: export {ENV_DISCORD_TOKEN}=<your bot token> "
            "(Discord developer portal > your application > Bot > Reset Token), then run this "
            "again")


def _token() -> str:
    token = read_settings()[0].discord_token
    if not token:
        raise click.ClickException(NO_TOKEN)
    return token


def _friendly(exc: BaseException) -> click.ClickException:
    """Return a one-line CLI error for a failure to reach or log in to Discord."""
    import discord

    if isinstance(exc, discord.LoginFailure):
        return click.ClickException(f"Discord refused {ENV_DISCORD_TOKEN} (401 Unauthorized): reset the "
                                    "bot token in the developer portal and set it again")
    if isinstance(exc, discord.PrivilegedIntentsRequired):
        return click.ClickException("Discord refused the gateway intents; abiwatch needs only "
                                    "'guilds', which is never privileged: report this")
    if isinstance(exc, discord.HTTPException):
        return click.ClickException(f"Discord answered {exc.status}: {exc.text or exc}")
    return click.ClickException(f"could not reach Discord: {exc}")


def register(cli: click.Group) -> None:
    """Add the `bot` group (run, sync) to the abiwatch command group."""

    @cli.group("bot")
    def bot_group() -> None:
        """The Discord bot: slash commands over the answer engine.

        \b
        Set DISCORD_TOKEN in the environment, then:
          abiwatch bot sync --guild ID   # once, and after upgrading abiwatch
          abiwatch bot run
        """

    @bot_group.command("run")
    @click.pass_obj
    def run(obj) -> None:
        """Connect to Discord and answer slash commands until stopped (Ctrl-C)."""
        import aiohttp
        import discord

        from abiwatch.bot.config import read_settings
        from abiwatch.bot.discord_adapter import run_bot

        token = _token()
        settings, problems = read_settings()
        if problems:
            raise click.ClickException("the configuration cannot be used:\n  - "
                                       + "\n  - ".join(problems))
        click.echo(f"abiwatch bot: answering from {obj.db_path}; Ctrl-C stops it", err=True)
        try:
            asyncio.run(run_bot(token, obj.db_path, settings.corrections.discord_roles))
        except KeyboardInterrupt:
            pass
        except (discord.DiscordException, aiohttp.ClientError, OSError) as exc:
            raise _friendly(exc) from None

    @bot_group.command("sync")
    @click.option("--guild", "guild_id", type=int, metavar="ID", default=None,
                  help="Push the commands to this server only (they appear at once); "
                       "without it they are pushed globally.")
    @click.pass_obj
    def sync(obj, guild_id: int | None) -> None:
        """Push the slash command definitions to Discord (not done at every start)."""
        import aiohttp
        import discord

        from abiwatch.bot.discord_adapter import sync_commands

        token = _token()
        try:
            commands = asyncio.run(sync_commands(token, obj.db_path, guild_id))
        except (discord.DiscordException, aiohttp.ClientError, OSError) as exc:
            raise _friendly(exc) from None
        where = f"server {guild_id}" if guild_id else "all servers (global)"
        click.echo(f"synced {len(commands)} commands to {where}: "
                   + ", ".join(f"/{c.name}" for c in commands))
