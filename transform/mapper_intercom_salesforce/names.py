"""Splitting a person's full name into Salesforce's FirstName and LastName."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache

from mapper_intercom_salesforce.text import truncate

FIRST_NAME_MAX = 40
LAST_NAME_MAX = 80
DEFAULT_PLACEHOLDER = "[not provided]"

# Scripts whose names are written family name first. Without spaces (the usual way to
# write them) the family name cannot be told apart from the given name reliably, so the
# whole name goes to LastName, which Salesforce requires anyway.
_FAMILY_FIRST_PREFIXES = ("CJK", "HIRAGANA", "KATAKANA", "HANGUL", "IDEOGRAPHIC")

# Arabic patronymic and kinship particles belong with the name that follows them
# ("محمد بن سلمان" is Mohammed, son of Salman): they start the family part.
_ARABIC_PARTICLES = frozenset({"بن", "ابن", "بنت", "آل", "ال", "أبو", "ابو", "bin", "ibn", "bint"})


@dataclass(frozen=True)
class NameParts:
    """A name split for Salesforce; ``first`` may be None, ``last`` never is."""

    first: str | None
    last: str
    full: str | None


def _script_of(text: str) -> str | None:
    """Return a coarse script tag of the first letter: 'family_first', 'arabic' or None."""
    for ch in text:
        if not ch.isalpha():
            continue
        name = unicodedata.name(ch, "")
        if name.startswith(_FAMILY_FIRST_PREFIXES):
            return "family_first"
        if name.startswith("ARABIC"):
            return "arabic"
        return None
    return None


def _split_family_first(tokens: list[str]) -> tuple[str | None, str]:
    if len(tokens) == 1:
        return None, tokens[0]
    return " ".join(tokens[1:]), tokens[0]


def _split_arabic(tokens: list[str]) -> tuple[str | None, str]:
    if len(tokens) == 1:
        return None, tokens[0]
    start = len(tokens) - 1
    while start > 1 and tokens[start - 1].lower() in _ARABIC_PARTICLES:
        start -= 1
    return " ".join(tokens[:start]), " ".join(tokens[start:])


def _plain_word(word: str) -> bool:
    return word.isalpha() and word.lower().rstrip(".") not in _special_words()


@cache
def _special_words() -> frozenset[str]:
    """Words that make nameparser do more than "given name, family name".

    Titles, prefixes, suffixes, conjunctions. A two-word name without any of them needs no
    parser, and the parser costs most of the time of a Lead. nameparser is imported on the
    first name split, not at start-up (its import costs about 0.1 s of every run).
    """
    from nameparser.config import CONSTANTS

    return frozenset(
        word.lower()
        for group in (
            CONSTANTS.titles,
            CONSTANTS.prefixes,
            CONSTANTS.suffix_acronyms,
            CONSTANTS.suffix_not_acronyms,
            CONSTANTS.conjunctions,
            CONSTANTS.first_name_titles,
            CONSTANTS.bound_first_names,
            CONSTANTS.non_first_name_prefixes,
        )
        for word in group
    )


def _split_western(full: str) -> tuple[str | None, str]:
    words = full.split(" ")
    if len(words) == 2 and _plain_word(words[0]) and _plain_word(words[1]):
        return words[0], words[1]
    return _split_with_parser(full)


def _needs_shield(word: str) -> bool:
    """Whether nameparser could break ``word``: it holds something other than letters and marks.

    nameparser drops or splits emoji, joiners (U+200D), variation selectors, skin-tone
    modifiers and regional indicators, leaving halves of a grapheme cluster behind.
    """
    return not all(
        ch.isalpha() or ch in "-'.’" or unicodedata.category(ch).startswith("M") for ch in word
    )


def _shield_name(index: int) -> str:
    # Letters only, so nameparser keeps it as one word; no title, prefix or suffix looks so.
    letters = ""
    while True:
        index, rest = divmod(index, 26)
        letters = chr(ord("a") + rest) + letters
        if not index:
            break
    return f"Qzxj{letters}"


def _split_with_parser(full: str) -> tuple[str | None, str]:
    # Words nameparser would mangle travel through it as placeholders and come back whole.
    shields: dict[str, str] = {}
    words = []
    for word in full.split(" "):
        core, comma = (word[:-1], ",") if word.endswith(",") and len(word) > 1 else (word, "")
        if _needs_shield(core):
            placeholder = _shield_name(len(shields))
            shields[placeholder] = core
            core = placeholder
        words.append(core + comma)
    from nameparser import HumanName  # imported on first use: see _special_words

    parsed = HumanName(" ".join(words))
    first = " ".join(part for part in (parsed.first, parsed.middle) if part)
    last = " ".join(part for part in (parsed.last, parsed.suffix) if part)
    if shields:
        first, last = _unshield(first, shields), _unshield(last, shields)
    if not last:
        # One word ("Cher"), or only a title ("Prince"): Salesforce requires LastName and
        # a lone word is as likely to be a family name as a given one.
        return None, (first or full)
    return (first or None), last


def _unshield(text: str, shields: dict[str, str]) -> str:
    return " ".join(shields.get(word, word) for word in text.split(" ")) if text else text


def _fit(part: str | None, limit: int) -> str | None:
    """Cut a name part to ``limit``, at a space or hyphen when one is near the end."""
    if not part:
        return None
    cut = truncate(part, limit) or ""
    if cut == part:
        return part
    # A name cut mid-word reads as a typo; drop the partial word when that keeps most of it.
    # Spaces and hyphens are clusters of their own, so cutting there splits no glyph.
    boundary = max(cut.rfind(" "), cut.rfind("-"))
    if boundary >= limit // 2:
        cut = cut[:boundary]
    return cut.rstrip(" -'.,") or None


def split_name(
    full_name: str | None,
    email: str | None = None,
    placeholder: str = DEFAULT_PLACEHOLDER,
) -> NameParts:
    """Split a full name into FirstName and LastName, as Salesforce needs them.

    Args:
        full_name: The name as Intercom holds it, possibly empty.
        email: Used when there is no name: its local part becomes LastName.
        placeholder: LastName when there is neither a name nor an email.

    Returns:
        The parts, each cut to Salesforce's lengths (FirstName 40, LastName 80).
    """
    # NFC: a decomposed "é" would count two characters against Salesforce's limits.
    full = " ".join(unicodedata.normalize("NFC", str(full_name)).split()) if full_name else ""
    if not full:
        local = str(email).strip().split("@", 1)[0].strip() if email else ""
        last = truncate(local, LAST_NAME_MAX) or placeholder
        return NameParts(first=None, last=last, full=None)
    tokens = full.split(" ")
    script = _script_of(full)
    if script == "family_first":
        first, last = _split_family_first(tokens)
    elif script == "arabic":
        first, last = _split_arabic(tokens)
    else:
        first, last = _split_western(full)
    return NameParts(
        first=_fit(first, FIRST_NAME_MAX),
        last=_fit(last, LAST_NAME_MAX) or placeholder,
        full=full,
    )
