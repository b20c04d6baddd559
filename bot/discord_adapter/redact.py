"""A logging filter that blanks out a secret wherever it would be written.

discord.py 2.7 itself never logs the bot token (it sends it in the Authorization
header and in the gateway IDENTIFY, neither of which it logs), and nothing in
abiwatch does either; this is the belt to those braces, for log lines written by
libraries or by a future careless change.
"""

from __future__ import annotations

import logging

REDACTED = "[redacted]"


class RedactFilter(logging.Filter):
    """Replace every occurrence of the secrets in a record's message and traceback."""

    def __init__(self, *secrets: str):
        super().__init__()
        # Very short strings would blank out ordinary words; a real token is ~70 chars.
        self.secrets = [s for s in secrets if s and len(s) >= 8]

    def _clean(self, text: str) -> str:
        for s in self.secrets:
            text = text.replace(s, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place (so every later handler sees the clean text); keep it."""
        if not self.secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: leave it to the handler to report
            return True
        clean = self._clean(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            # Formatters use exc_text when it is set, so the traceback is cleaned too.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._clean(record.exc_text)
        if record.stack_info:
            record.stack_info = self._clean(record.stack_info)
        return True


def install_redaction(*secrets: str, logger: logging.Logger | None = None) -> RedactFilter:
    """Add a RedactFilter to every handler of logger (the root logger by default); return it."""
    f = RedactFilter(*secrets)
    target = logger or logging.getLogger()
    for handler in target.handlers:
        # Installing twice (run after sync in one process) must not stack filters.
        if not any(isinstance(g, RedactFilter) and g.secrets == f.secrets for g in handler.filters):
            handler.addFilter(f)
    return f
