"""Recording a market's blocks into plain SQLite, for backtests (``liqbot record``).

:func:`record` is the entry point; :mod:`bot.record.schema` defines and documents the file.
"""

from bot.record.recorder import RecordSummary, record
from bot.record.schema import SCHEMA_VERSION, RecordingError

__all__ = ["SCHEMA_VERSION", "RecordSummary", "RecordingError", "record"]
