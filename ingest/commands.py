"""`#abiwatch:` command lines in a message's own words, in the style of regzbot.

A reviewer or maintainer corrects abiwatch from their mail client by replying to
the message that raised a concern with a line such as

    #abiwatch: resolved-by <20060803223035.GA26366@kroah.com>

Only the author's own text is read (quoted text belongs to the message it was
quoted from, so quoting a command never repeats it). Ingest only records the
lines; who may give them and which concern they correct is decided when they
are applied, after tagging (db/corrections.py).
"""

from __future__ import annotations

import re

MAX_COMMANDS = 10  # per message; more is not a person correcting a verdict
MAX_LENGTH = 500

# At the start of a line (indentation allowed), any case: `#abiwatch: WORDS`.
_COMMAND = re.compile(r"^[ \t]*#abiwatch:[ \t]*(\S.*?)[ \t]*$", re.IGNORECASE | re.MULTILINE)


def find_commands(own_text: str) -> list[str]:
    """Return the text after `#abiwatch:` of each command line of own_text, in order."""
    # Nearly no mail carries one: a plain substring test spares the regex on the rest.
    if "biwatch:" not in own_text and "BIWATCH:" not in own_text:
        return []
    return [m.group(1)[:MAX_LENGTH] for m in _COMMAND.finditer(own_text)][:MAX_COMMANDS]
