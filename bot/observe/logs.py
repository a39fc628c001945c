"""Logs for people (rich) and for machines (JSON lines); every decision is one event.

An event is a name plus fields: ``event("skipped", user=..., reason="unprofitable")``. The
same call renders as a readable line in a terminal and as one JSON object per line when
``log_format = "json"``. Known secrets are scrubbed from every record as a last line of
defence; the code never logs them on purpose.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from decimal import Decimal
from typing import Any

from rich.logging import RichHandler

LOGGER_NAME = "liqbot"
_secrets: set[str] = set()


def register_secret(value: str) -> None:
    """Never let ``value`` (or its 0x-less form) reach a log record."""
    if value and len(value) >= 8:
        _secrets.add(value)
        _secrets.add(value.removeprefix("0x"))


def scrub(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, "<redacted>")
    return text


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


class _ScrubFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # Format first (the arguments keep their types for %d and friends), then scrub.
        record.msg = scrub(record.getMessage())
        record.args = None
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            record.fields = {k: scrub(v) if isinstance(v, str) else v for k, v in fields.items()}
        return True


class JsonLinesFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "event": getattr(record, "event", None) or "log",
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            payload.update(_plain(fields))
        if not getattr(record, "event", None):
            payload["message"] = record.getMessage()
        if record.exc_info and record.exc_info[0] is not None:
            payload["error"] = scrub(f"{record.exc_info[0].__name__}: {record.exc_info[1]}")
        return scrub(json.dumps(payload, default=str, sort_keys=False))


def logger() -> logging.Logger:
    return logging.getLogger(LOGGER_NAME)


def setup_logging(log_format: str = "rich", level: str = "INFO", stream: Any = None) -> None:
    """Install one handler on the ``liqbot`` logger (idempotent)."""
    log = logger()
    for old in list(log.handlers):
        log.removeHandler(old)
    handler: logging.Handler
    if log_format == "json":
        handler = logging.StreamHandler(stream or sys.stdout)
        handler.setFormatter(JsonLinesFormatter())
    else:
        handler = RichHandler(show_path=False, markup=False, rich_tracebacks=False)
    handler.addFilter(_ScrubFilter())
    log.addHandler(handler)
    log.setLevel(level)
    log.propagate = False


def event(name: str, level: int = logging.INFO, **fields: Any) -> None:
    """One structured decision: seen, skipped (and why), sent, mined, reverted (and why)..."""
    log = logger()
    if not log.isEnabledFor(level):
        return
    text = " ".join(f"{k}={_plain(v)}" for k, v in fields.items())
    log.log(level, f"{name} {text}".strip(), extra={"event": name, "fields": fields})


def monotonic_ms() -> float:
    return time.monotonic() * 1000
