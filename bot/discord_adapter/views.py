"""Buttons that turn the pages of a long answer (only the person who asked can turn
them), and under each page the ✎ #N buttons that correct its concerns (anyone with a
correcting role may press those; bot/discord_adapter/corrections.py answers them)."""

from __future__ import annotations

import logging

import discord

logger = logging.getLogger(__name__)

PAGE_TIMEOUT = 600.0  # seconds; under the 15 minutes an interaction token can edit its reply
NOT_YOURS = "Only the person who asked can turn these pages; run the command yourself."
FAILED = "Sorry, I could not turn the page."


class Pager(discord.ui.View):
    """Previous/next buttons over pre-rendered embeds."""

    def __init__(self, pages: list[discord.Embed], owner_id: int, *,
                 timeout: float | None = PAGE_TIMEOUT,
                 page_items: list[list[discord.ui.Item]] | None = None):
        super().__init__(timeout=timeout)
        self.pages = pages
        self.owner_id = owner_id
        self.index = 0
        self.origin: discord.Interaction | None = None  # set once the first page is sent
        self.page_items = page_items or [[] for _ in pages]  # buttons shown under each page
        if len(pages) == 1:  # one page: nothing to turn, only the page's own buttons
            for item in (self.previous, self.position, self.next):
                self.remove_item(item)
        self._sync_buttons()

    def _sync_buttons(self) -> None:
        self.previous.disabled = self.index == 0
        self.next.disabled = self.index >= len(self.pages) - 1
        self.position.label = f"{self.index + 1}/{len(self.pages)}"
        for items in self.page_items:
            for item in items:
                if item in self.children:
                    self.remove_item(item)
        for item in self.page_items[self.index]:
            self.add_item(item)

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """Return True when the asker turns a page; tell anyone else why not. Presses on
        a page's own buttons are not the pager's: they go on to their persistent handler."""
        if interaction.data.get("custom_id") not in (
                self.previous.custom_id, self.next.custom_id, self.position.custom_id):
            return False
        if interaction.user.id == self.owner_id:
            return True
        await interaction.response.send_message(NOT_YOURS, ephemeral=True)
        return False

    async def _show(self, interaction: discord.Interaction, index: int) -> None:
        self.index = max(0, min(index, len(self.pages) - 1))
        self._sync_buttons()
        await interaction.response.edit_message(embed=self.pages[self.index], view=self)

    @discord.ui.button(label="◀", style=discord.ButtonStyle.secondary, row=0)
    async def previous(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        """Show the previous page."""
        await self._show(interaction, self.index - 1)

    @discord.ui.button(label="1/1", style=discord.ButtonStyle.secondary, disabled=True, row=0)
    async def position(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        """Never called: a disabled label showing the page number."""

    @discord.ui.button(label="▶", style=discord.ButtonStyle.secondary, row=0)
    async def next(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        """Show the next page."""
        await self._show(interaction, self.index + 1)

    async def on_timeout(self) -> None:
        """Remove the page buttons so nobody clicks on a view that no longer listens; the
        page's own (persistent) buttons stay."""
        if self.origin is None:
            return
        keep = None
        if self.page_items[self.index]:
            keep = discord.ui.View(timeout=None)
            for item in self.page_items[self.index]:
                keep.add_item(item)
            keep.stop()  # sent, never listened to: the persistent handler answers
        try:
            await self.origin.edit_original_response(view=keep)
        except discord.HTTPException as exc:
            # The message may be gone or the token expired: nothing to tidy up then.
            logger.debug("could not remove the page buttons: %s", exc)

    async def on_error(self, interaction: discord.Interaction, error: Exception,
                       item: discord.ui.Item) -> None:
        """Log the failure and tell the clicker in one line."""
        logger.exception("page button %s failed", getattr(item, "label", item), exc_info=error)
        try:
            if interaction.response.is_done():
                await interaction.followup.send(FAILED, ephemeral=True)
            else:
                await interaction.response.send_message(FAILED, ephemeral=True)
        except discord.HTTPException:
            logger.debug("could not tell the clicker that paging failed")
