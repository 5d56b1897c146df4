"""Read-side queries behind the officer workspace pages; scope is enforced here, not in views."""

from __future__ import annotations

import base64
import datetime as dt

from gateway.domain.personal_id import mask


def mask_name(name: str) -> str:
    """Family name and initials: ``Nguyễn T. H.`` (what the public and QR scanners see)."""
    parts = name.split()
    return " ".join([parts[0], *(p[0] + "." for p in parts[1:])]) if parts else ""


def mask_pid(pid: str | None) -> str:
    return mask(pid) if pid else ""


def encode_cursor(*parts: object) -> str:
    """An opaque keyset cursor for a URL (never personal data: only timestamps and ids)."""
    text = "|".join(p.isoformat() if isinstance(p, dt.datetime) else str(p) for p in parts)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, count: int) -> list[str] | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    parts = raw.split("|")
    return parts if len(parts) == count else None


def aware(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite returns naive UTC datetimes; PostgreSQL aware ones."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
