"""The executor: turns a decided liquidation into a mined one, or into nothing at all, and
never loses track of a transaction it signed.

Modules: ``keys`` (the signing key, never shown), ``lock`` (one bot per key and journal),
``journal`` (SQLite write-ahead journal and PnL ledger), ``fees`` (EIP-1559 bids and the
12.5% replacement rule), ``nonces``, ``node`` (every chain call), ``simulate`` (eth_call and
revert classes), ``relay`` (public mempool or private relay), ``startup`` (fail-closed checks),
``txmanager`` (the per-nonce state machine), ``reconcile`` (after a crash), ``request`` (the
input type and the adapter from the model), ``failpoints`` (named crash points), and
``executor`` (all of it behind ``Executor.open / execute / poll``).
"""

from bot.execute.executor import ChainMismatch, ExecutionResult, Executor, ExecutorConfig, Status
from bot.execute.fees import FeeCaps, FeePolicy, Fees
from bot.execute.journal import (
    Attempt,
    AttemptState,
    Intent,
    IntentState,
    Journal,
    JournalMismatch,
    LedgerEntry,
)
from bot.execute.keys import KeyLoadFailed, Signer, load_signer
from bot.execute.lock import AlreadyRunning
from bot.execute.relay import RelayConfig
from bot.execute.request import (
    ExecutionRequest,
    Route,
    direct_request,
    opportunity_key,
    request_from_opportunity,
)
from bot.execute.simulate import RevertKind
from bot.execute.startup import StartupCheckFailed, StartupConfig
from bot.execute.txmanager import Update

__all__ = [
    "AlreadyRunning",
    "Attempt",
    "AttemptState",
    "ChainMismatch",
    "ExecutionRequest",
    "ExecutionResult",
    "Executor",
    "ExecutorConfig",
    "FeeCaps",
    "FeePolicy",
    "Fees",
    "Intent",
    "IntentState",
    "Journal",
    "JournalMismatch",
    "KeyLoadFailed",
    "LedgerEntry",
    "RelayConfig",
    "RevertKind",
    "Route",
    "Signer",
    "StartupCheckFailed",
    "StartupConfig",
    "Status",
    "Update",
    "direct_request",
    "load_signer",
    "opportunity_key",
    "request_from_opportunity",
]
