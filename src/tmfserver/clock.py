"""The server's clock and its timestamp spelling (UTC, millisecond precision, `Z`)."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_ms(moment: datetime) -> str:
    """Server timestamp spelling: millisecond precision, `Z` (`moment` is in UTC)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def utc_now_iso() -> str:
    """Now, as the server writes timestamps."""
    return iso_ms(datetime.now(UTC))
