"""The loopback JSON-RPC proxy used by tests/chain and tests/watch.

It now lives in :mod:`tests.reliability.proxy` (the fault injector of the reliability
matrix); this module re-exports it so that existing imports keep working.
"""

from __future__ import annotations

from tests.reliability.proxy import Fault, Faults, Kind, Lie, RpcProxy, SentTx

__all__ = ["Fault", "Faults", "Kind", "Lie", "RpcProxy", "SentTx"]
