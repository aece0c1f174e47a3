"""Plain text from Intercom HTML, and truncation that respects Salesforce field lengths."""

from __future__ import annotations

import re
import typing as t
from functools import cache
from html.parser import HTMLParser

if t.TYPE_CHECKING:
    import regex


@cache
def _grapheme() -> regex.Pattern[str]:
    """Extended grapheme clusters (Unicode UAX #29): cutting inside one leaves a broken glyph.

    `regex` is imported on the first non-ASCII text, not at start-up (about 0.05 s a run).
    """
    import regex

    return regex.compile(r"\X")


# fmt: off
_BLOCK_TAGS = frozenset(
    {
        "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6",
        "tr", "table", "blockquote", "pre", "hr", "section", "article", "header", "footer",
    }
)
# fmt: on
_SKIPPED_TAGS = frozenset({"script", "style", "head", "title"})
_SPACES = re.compile(r"[ \t\f\v\u00a0\u200b]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def sf_len(text: str) -> int:
    """Return the length of ``text`` as Salesforce counts it (UTF-16 code units)."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le")) // 2


def graphemes(text: str) -> list[str]:
    """Split ``text`` into grapheme clusters: what a reader sees as one character.

    An emoji sequence joined by U+200D (👩‍💻), a flag (two regional indicators), an emoji with
    a skin tone, or a letter with its combining marks is one cluster.
    """
    return _grapheme().findall(text)


def truncate(text: str | None, limit: int, marker: str = "") -> str | None:
    """Cut ``text`` to at most ``limit`` Salesforce characters without splitting a glyph.

    Args:
        text: The text; None stays None.
        limit: The maximum length in UTF-16 code units.
        marker: Appended when the text was cut (e.g. an ellipsis); counted in the limit.

    Returns:
        The text, cut between two grapheme clusters with trailing whitespace removed.
    """
    if text is None:
        return None
    text = str(text)
    if sf_len(text) <= limit:
        return text
    budget = max(limit - sf_len(marker), 0)
    if text.isascii():
        cut = text[:budget]
    else:
        used = 0
        end = 0
        for match in _grapheme().finditer(text):
            width = sf_len(match.group())
            if used + width > budget:
                break
            used += width
            end = match.end()
        cut = text[:end]
    cut = cut.rstrip()
    return cut + marker if marker else cut


class _TextExtractor(HTMLParser):
    """Collects the readable text of an HTML fragment."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0
        self._link: str | None = None
        self._link_text_start = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skip_depth += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")
        elif tag == "img":
            alt = dict(attrs).get("alt")
            self.parts.append(f"[image: {alt}]" if alt else "[image]")
        elif tag == "a":
            self._link = dict(attrs).get("href")
            self._link_text_start = len(self.parts)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self._skip_depth = max(self._skip_depth - 1, 0)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")
        elif tag == "a" and self._link:
            label = "".join(self.parts[self._link_text_start :]).strip()
            # A sales rep reading the Task cannot click through to Intercom's rendering,
            # so a link keeps its target unless the label already shows it.
            if self._link.startswith(("http://", "https://", "mailto:")) and self._link not in (
                label,
                f"mailto:{label}",
            ):
                self.parts.append(f" ({self._link})")
            self._link = None

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self.parts.append(data)


def html_to_text(html: str | None) -> str:
    """Return the plain text of an Intercom message body.

    Tags are removed, entities decoded, block elements become line breaks, and runs of
    spaces and blank lines are collapsed.

    Args:
        html: The body as Intercom sends it (HTML, or plain text when ``display_as=plaintext``).

    Returns:
        The text; an empty string for an empty or missing body.
    """
    if not html:
        return ""
    extractor = _TextExtractor()
    extractor.feed(str(html))
    extractor.close()
    text = "".join(extractor.parts).replace("\r\n", "\n").replace("\r", "\n")
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
