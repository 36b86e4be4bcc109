"""The clock, read one way: every timestamp capfast writes comes from here (UTC, whole seconds unless stated).

Formats in use (each is part of a file format, so none may change):

* :func:`rfc3339_now` -- RFC 3339 with ``+00:00`` (cap-agent's chrono style: manifests, keys, projects;
  ``timespec="microseconds"`` for audit-log entries);
* :func:`rfc3339_z_now` -- ``YYYY-MM-DDTHH:MM:SSZ`` (server database rows);
* :func:`unix_z_now` -- ``"<unix seconds>Z"``, the reference CAP trust store's ``first_seen``/``last_seen``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

__all__ = ["rfc3339_now", "rfc3339_z_now", "unix_z_now", "utc_now"]


def utc_now() -> datetime:
    """The current time in UTC, truncated to whole seconds."""
    return datetime.now(UTC).replace(microsecond=0)


def rfc3339_now(*, timespec: str = "seconds") -> str:
    """The current UTC time as RFC 3339 with ``+00:00`` (``timespec`` as in :meth:`datetime.isoformat`)."""
    return datetime.now(UTC).isoformat(timespec=timespec)


def rfc3339_z_now() -> str:
    """The current UTC time as ``YYYY-MM-DDTHH:MM:SSZ``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def unix_z_now() -> str:
    """The current Unix time in whole seconds followed by ``Z`` (the reference trust store's timestamp form)."""
    return f"{int(time.time())}Z"
