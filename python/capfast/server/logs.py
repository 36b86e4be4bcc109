"""Logging for ``cap serve``: one JSON object per access-log line and per server log record, on stderr."""

from __future__ import annotations

import json
import logging
import sys
import time

__all__ = ["configure_logging"]


class _JsonFormatter(logging.Formatter):
    """One JSON object per log record (timestamp, level, logger, message, traceback if any)."""

    def format(self, record: logging.LogRecord) -> str:
        doc = {"ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created)), "level": record.levelname,
               "logger": record.name, "msg": record.getMessage()}
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, separators=(",", ":"))


def configure_logging(level: int = logging.INFO) -> None:
    """JSON-per-line access logs on stderr (used by ``cap serve``)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    for name in ("capfast.server.access",):
        lg = logging.getLogger(name)
        lg.handlers[:] = [handler]
        lg.setLevel(level)
        lg.propagate = False
    plain = logging.StreamHandler(sys.stderr)
    plain.setFormatter(_JsonFormatter())
    lg = logging.getLogger("capfast.server")
    if not lg.handlers:
        lg.addHandler(plain)
    lg.setLevel(level)
