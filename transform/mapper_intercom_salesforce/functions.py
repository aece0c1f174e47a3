"""The functions mapping-file expressions may call, and nothing else.

Every function accepts None where a value may be missing and then answers None (or False
for the ``is_`` predicates), so expressions need no guards for absent Intercom fields.
"""

from __future__ import annotations

import datetime as dt
import math
import typing as t
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from salesforce_client.emails import is_email

from mapper_intercom_salesforce.names import DEFAULT_PLACEHOLDER, split_name
from mapper_intercom_salesforce.text import html_to_text, sf_len, truncate

# Free-mail and consumer ISP domains: an address there says nothing about a person's
# employer, so it never becomes the Lead's Company. The README lists them; the setting
# `free_mail_domains` adds more.
# fmt: off
FREE_MAIL_DOMAINS = frozenset(
    {
        "126.com", "163.com", "aol.com", "att.net", "bk.ru", "btinternet.com", "comcast.net",
        "free.fr", "fastmail.com", "gmail.com", "gmx.com", "gmx.de", "gmx.net", "googlemail.com",
        "hanmail.net", "hey.com", "hotmail.co.uk", "hotmail.com", "hotmail.de", "hotmail.fr",
        "icloud.com", "inbox.ru", "libero.it", "list.ru", "live.co.uk", "live.com", "mac.com",
        "mail.com", "mail.ru", "me.com", "msn.com", "naver.com", "orange.fr", "outlook.com",
        "outlook.de", "proton.me", "protonmail.com", "qq.com", "rediffmail.com",
        "sbcglobal.net", "seznam.cz", "t-online.de", "tutanota.com", "verizon.net", "web.de",
        "wp.pl", "yahoo.co.jp", "yahoo.co.uk", "yahoo.com", "yahoo.de", "yahoo.fr",
        "yandex.com", "yandex.ru", "ymail.com", "zoho.com",
    }
)
# fmt: on


# Engagement score weights (points out of 100); see README "Engagement score".
RECENCY_POINTS = ((7, 40), (30, 25), (90, 10))
SESSION_POINTS, SESSION_CAP = 25, 50
EVENT_POINTS, EVENT_CAP = 25, 100
REPLY_POINTS = 10


def coalesce(*values: t.Any) -> t.Any:
    """Return the first value that is neither None nor an empty/blank string."""
    for value in values:
        if value is None:
            continue
        if isinstance(value, str) and not value.strip():
            continue
        return value
    return None


def lower(value: t.Any) -> str | None:
    """Lower-case a string."""
    return None if value is None else str(value).lower()


def upper(value: t.Any) -> str | None:
    """Upper-case a string."""
    return None if value is None else str(value).upper()


def trim(value: t.Any) -> str | None:
    """Strip surrounding whitespace; a blank string becomes None."""
    if value is None:
        return None
    stripped = str(value).strip()
    return stripped or None


def sf_truncate(value: t.Any, limit: int, marker: str = "") -> str | None:
    """Cut text to ``limit`` Salesforce characters without splitting a character."""
    return truncate(None if value is None else str(value), int(limit), marker)


def normalize_email(value: t.Any) -> str | None:
    """Trim and lower-case an email address; blank becomes None."""
    email = trim(value)
    return email.lower() if email else None


def domain_of(email: t.Any) -> str | None:
    """Return the lower-cased domain of an email address."""
    if not isinstance(email, str) or "@" not in email:
        return None
    domain = email.rsplit("@", 1)[1].strip().lower().rstrip(".")
    return domain or None


def make_free_mail_check(extra: t.Iterable[str] = ()) -> t.Callable[[t.Any], bool]:
    """Build ``is_free_mail`` over the built-in list plus ``extra`` domains."""
    domains = FREE_MAIL_DOMAINS | {d.strip().lower() for d in extra if d and d.strip()}

    def is_free_mail(value: t.Any) -> bool:
        """Tell whether an email address or domain belongs to a free-mail provider."""
        domain = domain_of(value) if isinstance(value, str) and "@" in value else value
        return isinstance(domain, str) and domain.lower() in domains

    return is_free_mail


def parse_time(value: t.Any) -> dt.datetime | None:
    """Parse an RFC 3339 string, a date or unix seconds into an aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        moment = dt.datetime.fromtimestamp(float(value), tz=dt.timezone.utc)
    else:
        text = str(value).strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError as exc:
            msg = f"{value!r} is not an RFC 3339 date-time"
            raise ValueError(msg) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc)


def time_zone(tz: str | None) -> dt.tzinfo:
    """Return the time zone named ``tz`` (an IANA name; empty or 'UTC' is UTC)."""
    if not tz or tz.upper() == "UTC":
        return dt.timezone.utc
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        msg = f"unknown time zone {tz!r} (use an IANA name such as 'Europe/Berlin')"
        raise ValueError(msg) from exc


def date(value: t.Any, tz: str | None = None) -> str | None:
    """Return the calendar date ``YYYY-MM-DD`` of a timestamp, in UTC or the time zone ``tz``."""
    moment = parse_time(value)
    return None if moment is None else moment.astimezone(time_zone(tz)).date().isoformat()


def datetime(value: t.Any) -> str | None:
    """Return a timestamp as ``YYYY-MM-DDTHH:MM:SSZ`` (UTC), the form Salesforce accepts."""
    moment = parse_time(value)
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def now() -> str:
    """Return the current time; records that use it differ on every run (see README)."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def days_between(start: t.Any, end: t.Any) -> float | None:
    """Return the days from ``start`` to ``end`` (negative when ``end`` is earlier)."""
    first, last = parse_time(start), parse_time(end)
    if first is None or last is None:
        return None
    return (last - first).total_seconds() / 86400


def to_int(value: t.Any) -> int | None:
    """Convert to an integer; text that is not a number becomes None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(Decimal(str(value).strip().replace(",", "")))
    except (ArithmeticError, ValueError):
        return None


def to_number(value: t.Any) -> float | None:
    """Convert to a number; text that is not a number becomes None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(Decimal(str(value).strip().replace(",", "")))
    except (ArithmeticError, ValueError):
        return None
    return int(number) if number.is_integer() else number


def join(values: t.Any, separator: str = ", ") -> str | None:
    """Join the non-empty items of a list into one string."""
    if values is None:
        return None
    items = [str(v) for v in values if v is not None and str(v).strip()]
    return separator.join(items) or None


def first(values: t.Any) -> t.Any:
    """Return the first item of a list, or None."""
    if not values:
        return None
    return next(iter(values), None)


def length(value: t.Any) -> int:
    """Return a length as Salesforce counts it for text, else ``len``; None has length 0."""
    if value is None:
        return 0
    if isinstance(value, str):
        return sf_len(value)
    return len(value)


def _log_share(value: float, cap: float) -> float:
    return min(1.0, math.log1p(max(value, 0.0)) / math.log1p(cap))


def engagement_score(
    last_seen: t.Any,
    sessions: t.Any = None,
    events: t.Any = None,
    last_replied: t.Any = None,
    as_of: t.Any = None,
) -> int | None:
    """Score a contact's engagement from 0 to 100 (formula in the README).

    Args:
        last_seen: When the contact was last seen.
        sessions: Session count.
        events: Data event count.
        last_replied: When the contact last replied to a conversation.
        as_of: The moment recency is measured from.

    Returns:
        The score, or None when nothing at all is known about the contact's activity.
    """
    seen, reference = parse_time(last_seen), parse_time(as_of)
    session_count, event_count = to_number(sessions), to_number(events)
    if seen is None and session_count is None and event_count is None and not last_replied:
        return None
    score = 0.0
    if seen is not None and reference is not None:
        age_days = (reference - seen).total_seconds() / 86400
        score += next((points for limit, points in RECENCY_POINTS if age_days <= limit), 0)
    if session_count:
        score += SESSION_POINTS * _log_share(session_count, SESSION_CAP)
    if event_count:
        score += EVENT_POINTS * _log_share(event_count, EVENT_CAP)
    if last_replied:
        score += REPLY_POINTS
    return max(0, min(100, int(score + 0.5)))


def build_functions(settings: t.Mapping[str, t.Any]) -> dict[str, t.Callable[..., t.Any]]:
    """Return the whitelist of functions expressions may call.

    Args:
        settings: The mapper's settings (free-mail domains and the name placeholder).

    Returns:
        Function name to callable.
    """
    is_free_mail = make_free_mail_check(settings.get("free_mail_domains") or ())
    placeholder = settings.get("name_placeholder") or DEFAULT_PLACEHOLDER

    def company_from_domain(email: t.Any) -> str | None:
        """Return the email's domain unless it is a free-mail provider's."""
        domain = domain_of(email)
        return None if domain is None or is_free_mail(domain) else domain

    def split_name_fn(full_name: t.Any, email: t.Any = None) -> t.Any:
        """Split a full name; see names.split_name."""
        return split_name(full_name, email, placeholder)

    return {
        "coalesce": coalesce,
        "lower": lower,
        "upper": upper,
        "trim": trim,
        "truncate": sf_truncate,
        "normalize_email": normalize_email,
        "is_email": is_email,
        "domain_of": domain_of,
        "is_free_mail": is_free_mail,
        "company_from_domain": company_from_domain,
        "split_name": split_name_fn,
        "plain_text": html_to_text,
        "date": date,
        "datetime": datetime,
        "now": now,
        "days_between": days_between,
        "to_int": to_int,
        "to_number": to_number,
        "join": join,
        "first": first,
        "len": length,
        "str": lambda value: None if value is None else str(value),
        "round": round,
        "min": min,
        "max": max,
        "abs": abs,
        "engagement_score": engagement_score,
    }
