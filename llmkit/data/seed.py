"""The seed: the Chinese text the course implements (``llmkit/data/seed.txt``, a copy of
``shared/seed/000_e4d5fc3bb0a83763.txt``), and where a quote of it stands."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from llmkit.core.errors import LlmkitError

SEED_FILE = Path(__file__).resolve().parent / "seed.txt"


@cache
def seed_text() -> str:
    """The seed text the course implements (a copy of ``shared/seed/000_e4d5fc3bb0a83763.txt``)."""
    return SEED_FILE.read_text(encoding="utf-8")


def seed_section(quote: str) -> str:
    """The numbered heading (``§5.4``) under which ``quote`` first appears in the seed; raises if absent."""
    text = seed_text()
    at = text.find(quote)
    if not quote.strip() or at < 0:
        raise LlmkitError(
            f"seed quote {quote[:60]!r}: not found verbatim in {SEED_FILE.name}; quote the Chinese text exactly"
        )
    headings = re.findall(r"^#{2,4} (\d+(?:\.\d+)*)", text[:at], flags=re.MULTILINE)
    return f"§{headings[-1]}" if headings else "§0"
