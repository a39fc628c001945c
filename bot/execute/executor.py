"""The executor: one decided liquidation in, one mined liquidation (or nothing at all) out.

``Executor.execute(request)`` runs, in order, and stops at the first "no":

1. the node is on the configured chain (a failover to another chain halts the executor);
2. the opportunity has nothing in flight and no success newer than the decision;
3. the node's head is not older than the decision (a lagging node is not acted on);
4. the journal's nonce agrees with the chain (another sender with our key: skip this round);
5. the DIRECT route has its allowance (else one approval is sent, and the liquidation waits);
6. ``eth_call`` at the latest block does not revert and returns at least ``min_profit``;
7. fees fit under the caps and the expected gas cost stays below the expected profit;
8. the account can pay for the gas;

then (unless dry-run) the intent is journaled, the transaction signed, journaled and
broadcast. ``Executor.poll()`` runs once per block: it tracks, bumps, cancels, rebroadcasts
and confirms everything in flight (:mod:`bot.execute.txmanager`), and heals nonce holes.
On opening, the journal is reconciled with the chain before anything new is sent.

Per block, :meth:`Executor.begin_block` reads 1, 3, 4 and the balance once for all of the
block's sends, in one JSON-RPC batch (a running gas budget, nonces from the journal's
counter), and :meth:`Executor.execute_batch` simulates a batch in one JSON-RPC batch and
broadcasts it in another, journaling its intents with their signed transactions in a few
multi-row statements; every check above still runs for each liquidation. Without gas
estimates, a batch of liquidations through our liquidator is simulated in one ``eth_call``
of its ``tryEach``, each on the state the earlier ones leave (the order they are mined in);
with ``bundle_size`` above 1 they are also *sent* so, several to one ``tryEach`` transaction
(one journal intent of kind ``bundle`` whose items keep their keys, outcomes and ledger
rows). Against a JSON-RPC node, two threads may run batches at once: one batch's broadcasts are on
their way while the next is staged, and batches still broadcast in nonce order
(:attr:`Executor.pipelined`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, TypedDict

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.abi import event_signature_to_log_topic, function_signature_to_4byte_selector
from web3 import Web3

from bot.chain.reverts import as_reverted, is_revert
from bot.execute import failpoints
from bot.execute.fees import FeeCaps, FeePolicy, FeeRefusal, Fees, initial_fees, predict_base_fee
from bot.execute.journal import (
    OPEN_STATES,
    Attempt,
    AttemptKind,
    BundleItem,
    DuplicateIntent,
    Intent,
    IntentKind,
    IntentState,
    Journal,
    JournalError,
    KeyRecord,
    LedgerEntry,
    SignedOriginal,
)
from bot.execute.keys import Signer
from bot.execute.lock import ProcessLock
from bot.execute.node import Head, Node, NodeUnavailable, Receipt, scrub
from bot.execute.nonces import NonceCheck, NonceKeeper
from bot.execute.reconcile import ReconcileReport, reconcile
from bot.execute.relay import (
    PrivateRelay,
    PublicMempool,
    RelayConfig,
    SendOutcome,
    SendStatus,
    Submitter,
    means_maybe_sent,
)
from bot.execute.request import ExecutionRequest, Route
from bot.execute.simulate import (
    TRY_EACH_ITEMS,
    RevertKind,
    Simulation,
    classify,
    competitor_liquidations,
    decode_try_each,
    encode_try_each,
    failed_simulation,
    rival_logs,
    simulate,
)
from bot.execute.startup import StartupConfig, StartupReport, run_checks
from bot.execute.txmanager import CANCEL_GAS, Review, TxConfig, TxManager, Update, Verdict
from bot.frozen import quick_init, replace

log = logging.getLogger("liqbot.execute")

MAX_UINT = 2**256 - 1
LIQUIDATED_TOPIC = bytes(
    event_signature_to_log_topic("Liquidated(address,address,address,uint256,uint256,uint256,bool)")
)
_APPROVE = function_signature_to_4byte_selector("approve(address,uint256)")
_ALLOWANCE = function_signature_to_4byte_selector("allowance(address,address)")


class Status(StrEnum):
    SENT = "sent"
    DRY_RUN = "dry_run"
    READ_ONLY = "read_only"
    IN_FLIGHT = "in_flight"
    ALREADY_DONE = "already_done"
    SIMULATION_REVERTED = "simulation_reverted"
    BELOW_MIN_PROFIT = "below_min_profit"
    FEES_OVER_CAP = "fees_over_cap"
    GAS_EXCEEDS_PROFIT = "gas_exceeds_profit"
    GAS_LIMIT = "gas_limit_too_high"
    NO_GAS_MONEY = "insufficient_gas_money"
    NONCE_CONFLICT = "nonce_conflict"
    STALE_HEAD = "stale_head"
    BUSY = "busy"
    BLOCKED = "blocked"
    WAITING_FOR_APPROVAL = "waiting_for_approval"
    NODE_UNAVAILABLE = "node_unavailable"
    NOT_SENT = "not_sent"
    """Signed and journaled, but the node refused it; the manager heals the nonce."""


@quick_init
@dataclass(frozen=True, slots=True)
class ExecutionResult:
    status: Status
    key: str
    detail: str = ""
    intent_id: int | None = None
    tx_hash: str | None = None
    nonce: int | None = None
    fees: Fees | None = None
    gas_limit: int | None = None
    simulated_profit: int | None = None
    revert_kind: RevertKind | None = None
    would_send: dict[str, Any] | None = None

    @property
    def sent(self) -> bool:
        return self.status is Status.SENT


@dataclass(frozen=True, slots=True)
class ExecutorConfig:
    startup: StartupConfig
    fees: FeePolicy
    journal_path: Path
    confirmations: int = 2
    stuck_blocks: int = 3
    dry_run: bool = False
    lock_dir: Path | None = None
    relay: RelayConfig | None = None
    gas_margin_bps: int = 2_000
    """Gas limit = the node's estimate plus this margin (at least the model's estimate)."""
    max_gas_limit: int = 3_000_000
    estimate_gas: bool = True
    """Ask the node for a gas estimate (``eth_estimateGas``); off, the model's figure plus
    the margin is used (for nodes whose estimate is slow or missing)."""
    simulate_in_order: bool = True
    """With ``estimate_gas`` off, simulate a batch of liquidations through our liquidator in
    one ``tryEach`` call, each on the state the earlier ones leave (the order they are
    mined in); off, each on the block's state alone (one ``eth_call`` each)."""
    bundle_size: int = 1
    """Liquidations per transaction: above 1, a batch's liquidations through our own
    liquidator go out several to one transaction (its ``tryEach``, which rolls back each
    failed item alone), one signature, one nonce and one journal attempt for up to this
    many. Fewer transactions for the node to accept in a crash; an item a competitor took
    first burns only its own gas. Each item is still checked, simulated in order, judged
    and accounted on its own (``max_gas_limit`` applies to each item; a bundle's gas
    limit is the sum of its items', within the block's). Needs ``simulate_in_order`` (no
    gas estimates)."""
    max_in_flight: int = 4
    """Open liquidation intents at once (one when sending through a private relay: a bundle
    cannot land while an earlier nonce is unmined)."""
    competitor_scan_blocks: int = 512
    heal_priority_fee_per_gas: int = 10**9

    @property
    def chain_id(self) -> int:
        return self.startup.chain_id


@dataclass(slots=True)
class _BlockReads:
    """What every send of one block shares, read once at :meth:`Executor.begin_block`."""

    head: Head
    check: NonceCheck | None
    budget: int | None
    """Wei left for gas after this block's sends so far (None: read-only, not tracked)."""
    open_liquidations: int | None = None
    """Open liquidation intents: counted once, then one more per intent this block writes
    (None: no journal). Intents settled meanwhile are not subtracted: the cap can only err
    towards sending fewer."""


@quick_init
@dataclass(frozen=True, slots=True)
class _Prepared:
    head: Head
    check: NonceCheck | None
    block: _BlockReads | None


@quick_init
@dataclass(frozen=True, slots=True)
class _Staged:
    """A liquidation signed and journaled, not yet broadcast."""

    intent: Intent
    attempt: Attempt
    fees: Fees
    gas: int
    profit: int | None
    would_send: dict[str, Any]


@quick_init
@dataclass(frozen=True, slots=True)
class _Plan:
    """A liquidation that passed every check, not yet journaled or signed."""

    nonce: int | None
    fees: Fees
    gas: int
    worst_case_cost: int
    profit: int | None
    would_send: dict[str, Any]


class ChainMismatch(Exception):
    """The node is on another chain than the configured one: the executor halts."""


def _profit_from_return(route: Route, data: bytes) -> int | None:
    """The profit a simulation returned: its first ABI word (uint256), read directly (eth-abi's
    decoder costs ~50 us a call, once per send). None when the return is too short to hold the
    route's words."""
    words = 1 if route in (Route.FLASH, Route.INVENTORY_SWAP) else 2
    if route not in (Route.FLASH, Route.INVENTORY_SWAP, Route.INVENTORY) or len(data) < 32 * words:
        return None
    # FLASH / INVENTORY_SWAP: (uint256 profit); INVENTORY: (uint256 seized, uint256 covered).
    return int.from_bytes(data[:32], "big")


class _IntentFields(TypedDict):
    key: str
    kind: IntentKind
    path: str
    target: str
    calldata: bytes
    value: int
    gas_limit: int
    observed_block: int
    request: dict[str, Any]


def _intent_fields(request: ExecutionRequest, gas: int) -> _IntentFields:
    """What the journal keeps of a liquidation's intent, written alone (``add_intent``) or
    with its first signed transaction (``SignedOriginal``)."""
    return _IntentFields(
        key=request.key,
        kind=IntentKind.LIQUIDATION,
        path=str(request.route),
        target=request.to,
        calldata=request.data,
        value=request.value,
        gas_limit=gas,
        observed_block=request.observed_block,
        request=request.to_json(),
    )


def _attempts_of(staged: Sequence[tuple[int, ExecutionRequest, _Staged]]) -> list[Attempt]:
    """Each signed transaction of ``staged`` once (a bundle's items share one), in order."""
    return list({s.attempt.id: s.attempt for _, _, s in staged}.values())


def _is_revert_answer(answer: dict[str, Any]) -> bool:
    """A JSON-RPC error that says the call reverted (code 3, or a message that says so), as
    opposed to the node failing to run it."""
    error = answer.get("error")
    if not isinstance(error, dict):
        return False
    return error.get("code") == 3 or "revert" in str(error.get("message", "")).lower()


class BatchSend:
    """One :meth:`Executor.execute_batch`, run in steps by the thread that plans: that
    thread does the batch's own work (checks, signing, the journal) between two of its
    decisions, and only the node's round trips run elsewhere: the simulation on
    ``simulations``, the broadcast on ``broadcasts`` (so that one batch's simulation runs
    while an earlier one is broadcast). ``broadcasts`` must have one thread, so that they
    leave in the order they were signed: nonce order. ``simulations`` may have several:
    each is an ``eth_call`` at the latest block, which no other batch's calls change.

    Why not a sender thread that does it all: signing and journaling call into
    libsecp256k1, keccak and SQLite, and each call lets go of the interpreter; a thread
    that makes them while the planner runs waits for it again, every time, behind a
    planner that keeps it for a switch interval. Measured on the bench's crash blocks,
    a sender thread took ~250 ms to stage 8 liquidations while the planner ran, and most
    liquidations went out only after the plan was done. The planning thread itself makes
    those calls without waiting: nothing else wants the interpreter then.

    The caller calls, in this order: :meth:`start` (the checks; the simulation sent off),
    :meth:`sign` once :attr:`simulated` (signed and durably journaled, then the broadcast
    sent off; batches are signed in the order they were started), :meth:`finish` once
    :attr:`broadcast` (the answers journaled; the results, and when the node answered).
    """

    def __init__(
        self,
        executor: Executor,
        requests: list[ExecutionRequest],
        block: _BlockReads,
        simulations: ThreadPoolExecutor,
        broadcasts: ThreadPoolExecutor,
    ) -> None:
        self._executor = executor
        self.requests = requests
        self._block = block
        self._simulations = simulations
        self._broadcasts = broadcasts
        self._results: dict[int, ExecutionResult] = {}
        self._ready: list[tuple[int, ExecutionRequest, _Prepared]] = []
        self._simulation: Future[dict[int, Simulation]] | None = None
        self._staged: list[tuple[int, ExecutionRequest, _Staged]] = []
        self._broadcast: Future[tuple[list[SendOutcome], float]] | None = None
        self._error: BaseException | None = None
        self.signed = False

    def start(self) -> None:
        executor = self._executor
        try:
            with executor._staging:
                self._results, self._ready = executor._prepare_batch(self.requests)
        except ChainMismatch as exc:
            self._block_all(exc)
            return
        items = [(i, r) for i, r, _ in self._ready]
        if items:
            self._simulation = self._simulations.submit(
                executor._simulate_batch, items, self._block.head
            )

    @property
    def simulated(self) -> bool:
        return self._simulation is None or self._simulation.done()

    @property
    def waiting_on(self) -> Future[Any] | None:
        """The round trip this batch waits for next (None: none)."""
        return self._broadcast if self.signed else self._simulation

    def sign(self) -> None:
        if self.signed:
            return
        executor = self._executor
        self.signed = True
        if not self._ready:
            return
        try:
            sims = self._simulation.result() if self._simulation is not None else {}
            with executor._staging:
                self._staged = executor._sign_batch(self._ready, sims, self._block, self._results)
            if self._staged:
                failpoints.failpoint(failpoints.AFTER_JOURNAL_BEFORE_BROADCAST)
        except ChainMismatch as exc:
            self._block_all(exc)
            return
        except BaseException as exc:
            self._error = exc  # nothing of the batch was sent; finish raises it again
            raise
        if self._staged:
            self._broadcast = self._broadcasts.submit(self._send, _attempts_of(self._staged))

    def _send(self, attempts: list[Attempt]) -> tuple[list[SendOutcome], float]:
        with self._executor._broadcasting:
            outcomes = self._executor._send_batch(attempts)
        return outcomes, time.monotonic()

    @property
    def broadcast(self) -> bool:
        return self.signed and (self._broadcast is None or self._broadcast.done())

    def finish(self) -> tuple[list[ExecutionResult], float]:
        if not self.signed:
            raise RuntimeError("BatchSend.finish before sign")
        if self._error is not None:
            raise self._error
        at = time.monotonic()
        if self._broadcast is not None:
            outcomes, at = self._broadcast.result()
            with self._executor._staging:
                self._executor._record_batch(self._staged, outcomes, self._block, self._results)
        return [self._results[i] for i in range(len(self.requests))], at

    def _block_all(self, exc: ChainMismatch) -> None:
        self._ready, self._staged, self.signed = [], [], True
        self._results = {
            i: ExecutionResult(Status.BLOCKED, r.key, str(exc)) for i, r in enumerate(self.requests)
        }


class Executor:
    """Open with :meth:`open`; call :meth:`execute` for each opportunity and :meth:`poll`
    once per block. One loop drives it; only :meth:`execute_batch` may be called from two
    threads at once, and a :class:`BatchSend` runs its round trips on threads of its own
    (see :attr:`pipelined`)."""

    def __init__(
        self,
        node: Node,
        config: ExecutorConfig,
        signer: Signer | None,
        account: str,
        journal: Journal | None,
        startup: StartupReport,
        *,
        submitter: Submitter | None = None,
        out: Callable[[str], None] = print,
    ) -> None:
        self.node = node
        self.config = config
        self.signer = signer
        self.account = account
        self.journal = journal
        self.startup = startup
        self.out = out
        self.halted: str | None = None
        self.highest_head = 0
        """The highest block this executor has seen: a node whose head is below it lags (or
        we failed over to a lagging one), and nothing is decided on its answers."""
        self.last_reconcile: ReconcileReport | None = None
        self.manager: TxManager | None = None
        self.nonces: NonceKeeper | None = None
        self._block: _BlockReads | None = None
        self._staging = threading.Lock()
        self._broadcasting = threading.Lock()
        self.try_each_unavailable: str | None = None
        """Why the liquidator cannot simulate a batch in one ``tryEach`` call (found out on
        the first try: an older deployment), after which batches are simulated call by call."""
        if signer is not None and journal is not None:
            self.submitter: Submitter = submitter or PublicMempool(node)
            self.nonces = NonceKeeper(node, journal, account)
            self.manager = TxManager(
                node,
                journal,
                signer,
                self.submitter,
                config.fees,
                TxConfig(config.chain_id, config.confirmations, config.stuck_blocks),
                _Supervisor(self),
            )

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(
        cls,
        w3: Web3,
        config: ExecutorConfig,
        signer: Signer | None,
        *,
        account: str | None = None,
        relay_auth: Signer | None = None,
        out: Callable[[str], None] = print,
    ) -> Executor:
        """Lock the journal, run the start-up checks, reconcile: in that order, failing closed.

        ``signer`` None (read-only) or ``config.dry_run``: no journal, nothing signed;
        ``account`` then names the address to simulate from (default: the liquidator's owner).
        """
        node = Node(w3)
        journal = None
        locks: list[ProcessLock] = []
        live = signer is not None and not config.dry_run
        if live:
            assert signer is not None
            # Locks first (a second bot must refuse even when the chain is down), then the
            # checks, then the database: a journal is never stamped with an unverified chain.
            locks = Journal.lock(
                config.journal_path,
                account=signer.address,
                chain_id=config.chain_id,
                lock_dir=config.lock_dir,
            )
        try:
            report = run_checks(node, config.startup, signer.address if signer else None)
            if live:
                assert signer is not None
                journal = Journal.open(
                    config.journal_path,
                    account=signer.address,
                    chain_id=config.chain_id,
                    locks=locks,
                )
            if signer is not None:
                address = signer.address
            elif account is not None:
                address = Web3.to_checksum_address(account)
            else:
                data = node.call(
                    {"to": config.startup.liquidator, "data": "0x8da5cb5b"}  # owner()
                )
                address = Web3.to_checksum_address(abi_decode(["address"], data)[0])
            submitter: Submitter | None = None
            if config.relay is not None:
                submitter = PrivateRelay(config.relay, auth=relay_auth)
                if config.max_in_flight != 1:
                    config = replace(config, max_in_flight=1)
            executor = cls(
                node, config, signer, address, journal, report, submitter=submitter, out=out
            )
            if journal is not None:
                journal.record_event("startup", "; ".join(report.checks))
                executor.reconcile()
        except BaseException:
            if journal is not None:
                journal.close()
            else:
                for held in locks:
                    held.release()
            raise
        return executor

    def close(self) -> None:
        self.node.close()
        if self.journal is not None:
            self.journal.close()
            self.journal = None

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def live(self) -> bool:
        return self.manager is not None

    def reconcile(self) -> ReconcileReport:
        """Bring the journal in line with the chain (after a crash, and at every start)."""
        assert self.manager is not None and self.nonces is not None and self.journal is not None
        self._check_chain()
        report = reconcile(self.manager, self.nonces, self.journal)
        self.last_reconcile = report
        log.info("reconciled: %s", report.summary())
        return report

    # ------------------------------------------------------------------ helpers

    def _check_chain(self, chain_id: int | None = None) -> None:
        """Halt on another chain. ``chain_id``: the node's answer when already read (a
        block's batch of reads); else it is read here, uncached."""
        if self.halted:
            raise ChainMismatch(self.halted)
        if chain_id is None:
            chain_id = self.node.chain_id()
        if chain_id != self.config.chain_id:
            self.halted = (
                f"the node is now on chain {chain_id}, not {self.config.chain_id}: halted, "
                "nothing will be signed"
            )
            if self.journal is not None:
                self.journal.record_event("halt", self.halted)
            log.error(self.halted)
            raise ChainMismatch(self.halted)

    def _record(self, kind: str, detail: str) -> None:
        if self.journal is not None:
            self.journal.record_event(kind, detail)

    def _reject(
        self, request: ExecutionRequest, status: Status, detail: str, **kw: Any
    ) -> ExecutionResult:
        self._record(f"not_sent:{status}", f"{request.key}: {detail}")
        log.info("not sending %s: %s: %s", request.key, status, detail)
        return ExecutionResult(status, request.key, detail, **kw)

    def blocked_reason(self) -> str | None:
        """Why no new transaction may be sent now (an unresolved nonce), if any."""
        if self.halted:
            return self.halted
        if self.journal is None or self.config.relay is None:
            return None  # only a relay's abandoned nonce blocks (below)
        for intent in self.journal.open_intents():
            if intent.state is IntentState.DROPPED:
                attempts = self.journal.attempts(intent.id)
                if any(a.kind is AttemptKind.CANCEL for a in attempts):
                    return f"nonce {intent.nonce} unresolved (relay gave up on intent {intent.id})"
        return None

    def in_flight(self) -> list[Intent]:
        return self.journal.open_intents() if self.journal is not None else []

    def in_flight_keys(self) -> list[str]:
        """The opportunity keys of :meth:`in_flight`, read without loading the intents."""
        return self.journal.open_keys() if self.journal is not None else []

    def ledger(self) -> list[LedgerEntry]:
        return self.journal.ledger() if self.journal is not None else []

    def competitor_for(self, request: ExecutionRequest | dict[str, Any], head: int) -> str:
        """A competitor's liquidation of this user since the decision, if one landed."""
        if isinstance(request, dict):
            request = ExecutionRequest.from_json(request)
        if request.expected_log is None:
            return ""
        start = max(request.observed_block, head - self.config.competitor_scan_blocks)
        ours = [self.account, self.config.startup.liquidator]
        try:
            if request.rival_log is not None:  # another protocol's "someone else did it"
                rival = request.rival_log
                found = rival_logs(self.node, rival.address, rival.topics, start, head, ours)
            else:
                found = competitor_liquidations(
                    self.node, request.expected_log.address, request.user, start, head, ours
                )
        except NodeUnavailable:
            return ""
        if not found:
            return ""
        first = found[0]
        return (
            f"{first.liquidator} liquidated {request.user} in block {first.block} ({first.tx_hash})"
        )

    def _classify(
        self, request: ExecutionRequest, sim: Simulation, head: int
    ) -> tuple[RevertKind, str]:
        kind = sim.kind or RevertKind.UNKNOWN
        competitor = self.competitor_for(request, head)
        if competitor:
            return RevertKind.LOST_TO_COMPETITOR, f"{sim.reason}; {competitor}"
        return kind, sim.reason

    # ------------------------------------------------------------------ execute

    def execute(self, request: ExecutionRequest) -> ExecutionResult:
        """Simulate, and (unless read-only or dry-run) sign and send one liquidation."""
        try:
            return self._execute(request)
        except ChainMismatch as exc:
            return ExecutionResult(Status.BLOCKED, request.key, str(exc))
        except NodeUnavailable as exc:
            return self._reject(request, Status.NODE_UNAVAILABLE, str(exc))

    @property
    def pipelined(self) -> bool:
        """Batches may overlap: sent in steps (:meth:`start_batch`), or by two threads
        running :meth:`execute_batch` at once (one batch is broadcast while the next is
        simulated and signed; the rest of a batch runs one at a time, and batches broadcast
        in the order they were staged). Only against a node that takes batched JSON-RPC
        over HTTP, through the public mempool: nowhere else does a batch go out in one
        round trip (and eth-tester is not thread-safe)."""
        return (
            self.manager is not None
            and self.manager.submitter.visible_in_pool
            and self.node.batches
        )

    def begin_block(self) -> Head | None:
        """Read, once for the sends of one block, what each send would otherwise re-read:
        the chain id (uncached: it catches a failover), the head (refused if older than one
        seen before), the nonces (foreign use, holes) and the balance (a running budget).

        Until :meth:`end_block`, :meth:`execute` checks each request against these reads and
        allocates nonces from the journal's counter. Returns the head, or None when the reads
        failed (then each send checks for itself, and fails closed as before).

        The reads go out in one JSON-RPC batch where the node batches (one round trip), and
        are judged in the order of the one-by-one reads: a wrong chain id halts even when a
        later answer is bad."""
        self._block = None
        try:
            if self.halted:
                raise ChainMismatch(self.halted)
            reads = self.node.block_reads(
                self.account, nonces=self.nonces is not None, balance=self.live
            )
            self._check_chain(reads.chain_id() if reads is not None else None)
            head = reads.head() if reads is not None else self.node.head()
            if head.number < self.highest_head:
                return None
            self.highest_head = head.number
            check = None
            if self.nonces is not None:
                check = self.nonces.check(reads.account_nonces() if reads is not None else None)
            budget = None
            if self.live:
                budget = reads.balance() if reads is not None else self.node.balance(self.account)
        except (ChainMismatch, NodeUnavailable) as exc:
            log.warning("block reads failed, each send checks for itself: %s", exc)
            return None
        count = (
            self.journal.count_open(IntentKind.LIQUIDATION) if self.journal is not None else None
        )
        self._block = _BlockReads(head, check, budget, count)
        return head

    def end_block(self) -> None:
        self._block = None

    def _simulate(self, request: ExecutionRequest, head: int | None) -> Simulation:
        return simulate(
            self.node,
            sender=self.account,
            to=request.to,
            data=request.data,
            value=request.value,
            estimate=self.config.estimate_gas,
            head=head,
        )

    def _execute(self, request: ExecutionRequest) -> ExecutionResult:
        prep = self._prepare(request)
        if isinstance(prep, ExecutionResult):
            return prep
        head, block = prep.head, prep.block
        sim = self._simulate(request, head.number if block is not None else None)
        staged = self._stage(request, prep, sim)
        if isinstance(staged, ExecutionResult):
            return staged
        assert self.manager is not None
        failpoints.failpoint(failpoints.AFTER_JOURNAL_BEFORE_BROADCAST)
        outcome = self.manager.record_original(
            staged.attempt,
            head,
            self.manager.submitter.submit(
                staged.attempt.raw_tx, staged.attempt.tx_hash, head.number
            ),
        )
        return self._sent(request, staged, outcome)

    def execute_batch(self, requests: Sequence[ExecutionRequest]) -> list[ExecutionResult]:
        """:meth:`execute` for several liquidations of one block, with their simulations in
        one JSON-RPC batch and their broadcasts in another (where the node batches and a
        block's reads are open, see :meth:`begin_block`; else one by one). Every check of
        :meth:`execute` runs for each; each response is judged on its own, and a send whose
        answer is missing or unclear is "maybe sent", looked up by the next poll."""
        block = self._block
        # One request too takes the batch path when the block's reads are open: its intent and
        # signed attempt commit together (one fsync less than execute's), its simulation and
        # gas estimate share one round trip.
        if (
            not requests
            or block is None
            or self.manager is None
            or not self.manager.submitter.visible_in_pool  # a relay takes one at a time
        ):
            return [self.execute(r) for r in requests]
        try:
            return self._execute_batch(requests, block)
        except ChainMismatch as exc:
            return [ExecutionResult(Status.BLOCKED, r.key, str(exc)) for r in requests]

    def _simulate_batch(
        self, items: list[tuple[int, ExecutionRequest]], head: Head
    ) -> dict[int, Simulation]:
        """Each item's simulation at the latest block, by index (an item left out is
        simulated again on its own). Liquidations through our own liquidator (no gas
        estimate asked) run in order in one ``tryEach`` call, see :meth:`_simulate_in_order`;
        else one ``eth_call`` each, in one JSON-RPC batch."""
        if self._in_order_possible(items):
            in_order = self._simulate_in_order(items, head)
            if in_order is not None:
                return in_order
        calls: list[tuple[str, list[Any]]] = []
        for _, request in items:
            tx = {
                "from": self.account,
                "to": request.to,
                "data": "0x" + request.data.hex(),
                "value": hex(request.value),
            }
            calls.append(("eth_call", [tx, "latest"]))
            if self.config.estimate_gas:
                calls.append(("eth_estimateGas", [tx, "latest"]))
        try:
            answers = self.node.batch(calls)
        except NodeUnavailable:
            answers = None
        sims: dict[int, Simulation] = {}
        if answers is None:
            return sims
        step = 2 if self.config.estimate_gas else 1
        for k, (index, _request) in enumerate(items):
            call = answers[k * step]
            estimate = answers[k * step + 1] if step == 2 else {}
            result = call.get("result")
            if "error" in call or not isinstance(result, str):
                continue  # a revert or an odd answer: simulated again on its own
            gas: int | None = None
            if step == 2:
                value = estimate.get("result")
                if "error" in estimate or not isinstance(value, str):
                    continue
                gas = int(value, 16)
            data = bytes.fromhex(result[2:] if result.startswith("0x") else result)
            sims[index] = Simulation(head.number, True, return_data=data, gas_estimate=gas)
        return sims

    def _in_order_possible(self, items: list[tuple[int, ExecutionRequest]]) -> bool:
        """Two or more liquidations, all through our own liquidator, no gas estimate asked
        (``tryEach`` returns no per-item gas), and ``tryEach`` not found missing before."""
        config = self.config
        if (
            config.estimate_gas
            or not config.simulate_in_order
            or len(items) < 2
            or self.try_each_unavailable
        ):
            return False
        liquidator = config.startup.liquidator.lower()
        return all(
            r.to.lower() == liquidator and r.value == 0 and r.data[:4] in TRY_EACH_ITEMS
            for _, r in items
        )

    def _simulate_in_order(
        self, items: list[tuple[int, ExecutionRequest]], head: Head
    ) -> dict[int, Simulation] | None:
        """The batch simulated in ONE ``eth_call`` of the liquidator's ``tryEach``, in the
        order the sends will be mined (one sender, nonce order): each item sees the effects
        of the earlier ones, and one that fails is a failed simulation, not simulated again
        on its own (alone it might pass, but that is not the state it will be mined in).

        The items are cut into runs that fit one block's gas limit (each item counted at the
        gas limit it would be sent with, plus its calldata); each run is one call, all in one
        JSON-RPC batch where the node batches. A later run does not see an earlier run's
        effects (it would be mined in a later block at best).

        {}: a transport failure (each item is then simulated on its own and fails closed, as
        a per-call batch would). None: ``tryEach`` itself reverted or answered nonsense (a
        liquidator deployed without it): remembered, and this and later batches are
        simulated call by call."""
        liquidator = self.config.startup.liquidator
        runs = self._runs_within_block_gas(items, head.gas_limit)
        txs = [
            {
                "from": self.account,
                "to": liquidator,
                "data": "0x" + encode_try_each([r.data for _, r in run]).hex(),
                "gas": hex(head.gas_limit),
            }
            for run in runs
        ]
        outputs: list[bytes] = []
        try:
            answers = self.node.batch([("eth_call", [tx, "latest"]) for tx in txs])
            if answers is None:  # a node that cannot batch (eth-tester): one call per run
                for tx in txs:
                    outputs.append(self.node.call({**tx, "gas": head.gas_limit}, "latest"))
            else:
                for answer in answers:
                    result = answer.get("result")
                    if "error" in answer or not isinstance(result, str):
                        error = scrub(str(answer.get("error", "no result")))[:300]
                        if _is_revert_answer(answer):
                            self._in_order_unavailable(f"tryEach reverted: {error}")
                        else:  # the node's trouble, not the contract's: call by call, this once
                            log.warning("batch simulation in one call failed: %s", error)
                        return None
                    outputs.append(bytes.fromhex(result.removeprefix("0x")))
        except NodeUnavailable as exc:
            log.warning("batch simulation failed, each send simulates on its own: %s", exc)
            return {}
        except Exception as exc:
            if not is_revert(exc):
                raise
            self._in_order_unavailable(f"tryEach reverted: {as_reverted(exc).reason}")
            return None
        sims: dict[int, Simulation] = {}
        for run, output in zip(runs, outputs, strict=True):
            try:
                outcomes = decode_try_each(output, len(run))
            except ValueError as exc:
                self._in_order_unavailable(str(exc))
                return None
            for (index, _request), (ok, data) in zip(run, outcomes, strict=True):
                sims[index] = (
                    Simulation(head.number, True, return_data=data)
                    if ok
                    else failed_simulation(head.number, data)
                )
        return sims

    def _in_order_unavailable(self, reason: str) -> None:
        self.try_each_unavailable = reason
        log.warning("the liquidator cannot simulate a batch in one call (%s): call by call", reason)

    def _runs_within_block_gas(
        self, items: list[tuple[int, ExecutionRequest]], block_gas_limit: int
    ) -> list[list[tuple[int, ExecutionRequest]]]:
        """``items`` in order, cut where the next would take a run past the block's gas
        limit (each counted at its send's gas limit, its calldata and some slack; at least
        one item a run)."""
        margin = 10_000 + self.config.gas_margin_bps
        budget = block_gas_limit - 100_000
        runs: list[list[tuple[int, ExecutionRequest]]] = [[]]
        used = 0
        for item in items:
            request = item[1]
            gas = min(-(-request.gas_limit * margin // 10_000), self.config.max_gas_limit)
            cost = gas + 16 * (len(request.data) + 64) + 10_000
            if runs[-1] and used + cost > budget:
                runs.append([])
                used = 0
            runs[-1].append(item)
            used += cost
        return runs

    def _execute_batch(
        self, requests: Sequence[ExecutionRequest], block: _BlockReads
    ) -> list[ExecutionResult]:
        """Staged (checks, simulation, signing, the journal's commit) under ``_staging``;
        broadcast under ``_broadcasting``, taken before ``_staging`` is let go, so that
        batches broadcast in the order they were staged (nonce order) while the next one is
        staged during this one's round trip (see :attr:`pipelined`)."""
        assert self.manager is not None and self.journal is not None
        with self._staging:
            results, ready = self._prepare_batch(requests)
            sims = self._simulate_batch([(i, r) for i, r, _ in ready], block.head)
            staged = self._sign_batch(ready, sims, block, results)
            if not staged:
                return [results[i] for i in range(len(requests))]
            failpoints.failpoint(failpoints.AFTER_JOURNAL_BEFORE_BROADCAST)
            self._broadcasting.acquire()
        try:
            outcomes = self._send_batch(_attempts_of(staged))
        finally:
            self._broadcasting.release()
        with self._staging:
            self._record_batch(staged, outcomes, block, results)
        return [results[i] for i in range(len(requests))]

    def start_batch(
        self,
        requests: Sequence[ExecutionRequest],
        simulations: ThreadPoolExecutor,
        broadcasts: ThreadPoolExecutor,
    ) -> BatchSend | None:
        """:meth:`execute_batch` in steps, for a caller that plans on this thread: see
        :class:`BatchSend`. None where a batch is not sent so (see :attr:`pipelined`, and no
        block reads open): the caller calls :meth:`execute_batch` instead."""
        block = self._block
        if not requests or block is None or not self.pipelined:
            return None
        return BatchSend(self, list(requests), block, simulations, broadcasts)

    def _prepare_batch(
        self, requests: Sequence[ExecutionRequest]
    ) -> tuple[dict[int, ExecutionResult], list[tuple[int, ExecutionRequest, _Prepared]]]:
        """Each request's checks before its simulation: the refused ones' results, by index,
        and the rest."""
        assert self.journal is not None
        results: dict[int, ExecutionResult] = {}
        ready: list[tuple[int, ExecutionRequest, _Prepared]] = []
        history = self.journal.key_history([r.key for r in requests])  # one query for all
        for index, request in enumerate(requests):
            try:
                prep = self._prepare(request, history)
            except NodeUnavailable as exc:
                prep = self._reject(request, Status.NODE_UNAVAILABLE, str(exc))
            if isinstance(prep, ExecutionResult):
                results[index] = prep
            else:
                ready.append((index, request, prep))
        return results, ready

    def _record_batch(
        self,
        staged: list[tuple[int, ExecutionRequest, _Staged]],
        outcomes: list[SendOutcome],
        block: _BlockReads,
        results: dict[int, ExecutionResult],
    ) -> None:
        """The broadcast's answers, in one transaction, not fsynced: lost with the machine,
        they are redone from the chain on restart (the attempts are journaled as signed)."""
        assert self.manager is not None and self.journal is not None
        attempts = _attempts_of(staged)
        with self.journal.batch(durable=False):
            self.manager.record_originals(attempts, block.head, outcomes)
        by_attempt = {a.id: o for a, o in zip(attempts, outcomes, strict=True)}
        for index, request, done in staged:
            results[index] = self._sent(request, done, by_attempt[done.attempt.id])

    def _sign_batch(
        self,
        ready: list[tuple[int, ExecutionRequest, _Prepared]],
        sims: dict[int, Simulation],
        block: _BlockReads,
        results: dict[int, ExecutionResult],
    ) -> list[tuple[int, ExecutionRequest, _Staged]]:
        """Sign the simulated requests that pass and journal them durably, in one commit;
        the refused ones' results go into ``results``. Returns the staged (signed and
        journaled, not broadcast) ones."""
        assert self.manager is not None and self.journal is not None
        head = block.head
        journal = self.journal
        staged: list[tuple[int, ExecutionRequest, _Staged]] = []
        # Every intent and signed attempt of the batch in one SQLite transaction (one fsync,
        # not one per write), written together by ``add_originals`` once all are signed:
        # committed when the ``with`` ends, before anything is broadcast. An exception rolls
        # it all back; nothing of it was broadcast, so that is safe.
        with journal.batch():
            counter = journal.next_nonce()
            if counter is None:  # begin_block's nonce check starts the counter
                raise JournalError("the journal's nonce counter is not started")
            passing: list[tuple[int, ExecutionRequest, _Plan]] = []
            keys: set[str] = set()
            for index, request, prep in ready:
                try:
                    sim = sims.get(index) or self._simulate(request, head.number)
                    plan = self._plan(request, prep, sim, counter)  # its nonce: set below
                except NodeUnavailable as exc:
                    plan = self._reject(request, Status.NODE_UNAVAILABLE, str(exc))
                if isinstance(plan, _Plan) and request.key in keys:
                    plan = ExecutionResult(
                        Status.IN_FLIGHT, request.key, f"{request.key} is twice in one batch"
                    )
                if isinstance(plan, ExecutionResult):
                    results[index] = plan
                    continue
                keys.add(request.key)
                self._count_in(block, plan, request)
                passing.append((index, request, plan))
            planned: list[tuple[list[tuple[int, ExecutionRequest, _Plan]], SignedOriginal]] = []
            for group in self._bundles(passing, head.gas_limit):
                nonce = counter + len(planned)
                original = self._signed_original(group, nonce)
                fees = original.fees  # a bundle's: its items' bids averaged
                sent_as = {
                    "nonce": nonce,
                    "maxFeePerGas": fees.max_fee_per_gas,
                    "maxPriorityFeePerGas": fees.max_priority_fee_per_gas,
                }
                group = [
                    (
                        i,
                        r,
                        replace(p, nonce=nonce, fees=fees, would_send={**p.would_send, **sent_as}),
                    )
                    for i, r, p in group
                ]
                planned.append((group, original))
            try:
                written = journal.add_originals([item for _, item in planned])
            except DuplicateIntent:
                # Not expected (the keys were checked above, and this process holds the
                # journal): one by one and unbundled, so that only the duplicate is refused.
                written = []
                for index, request, plan in (member for group, _ in planned for member in group):
                    done = self._write(request, plan, counted=True)
                    if isinstance(done, ExecutionResult):
                        results[index] = done
                    else:
                        staged.append((index, request, done))
            for (group, _item), (intent, attempt) in zip(planned, written, strict=False):
                for index, request, plan in group:
                    staged.append(
                        (
                            index,
                            request,
                            _Staged(
                                intent, attempt, plan.fees, plan.gas, plan.profit, plan.would_send
                            ),
                        )
                    )
        return staged

    def _bundlable(self, request: ExecutionRequest) -> bool:
        """A liquidation ``tryEach`` can run and the judge can tell apart in a shared
        receipt (by its pair and user in the liquidator's ``Liquidated`` event)."""
        return (
            request.to.lower() == self.config.startup.liquidator.lower()
            and request.value == 0
            and request.data[:4] in TRY_EACH_ITEMS
            and request.route in (Route.FLASH, Route.INVENTORY, Route.INVENTORY_SWAP)
            and request.expected_log is not None
            and request.profit_log is None
            and request.approval is None
        )

    def _bundles(
        self, passing: list[tuple[int, ExecutionRequest, _Plan]], block_gas_limit: int
    ) -> list[list[tuple[int, ExecutionRequest, _Plan]]]:
        """``passing`` in order, cut into transactions: one each, or (``bundle_size`` > 1)
        runs of bundlable liquidations, up to ``bundle_size`` and within the block's gas
        limit (each at its own gas limit: what it was simulated and checked at). Batches are
        simulated in order through ``tryEach``, so a bundle runs its items on the state they
        were simulated on."""
        size = self.config.bundle_size
        config = self.config
        if (
            size <= 1
            or config.estimate_gas
            or not config.simulate_in_order
            or self.try_each_unavailable
        ):
            return [[member] for member in passing]
        budget = block_gas_limit - 100_000
        groups: list[list[tuple[int, ExecutionRequest, _Plan]]] = []
        open_group: list[tuple[int, ExecutionRequest, _Plan]] = []
        used = 0
        for member in passing:
            _, request, plan = member
            if not self._bundlable(request):
                groups.append([member])
                continue
            gas = plan.gas + 16 * (len(request.data) + 64)
            if open_group and (len(open_group) >= size or used + gas > budget):
                groups.append(open_group)
                open_group, used = [], 0
            open_group.append(member)
            used += gas
        if open_group:
            groups.append(open_group)
        return groups

    def _signed_original(
        self, group: list[tuple[int, ExecutionRequest, _Plan]], nonce: int
    ) -> SignedOriginal:
        """Sign ``group``'s transaction at ``nonce``: the liquidation itself, or (two or
        more) one ``tryEach`` of them all, at the sum of their gas limits (each item's
        includes a transaction's 21,000 base gas, which pays for the loop and calldata).

        A bundle's fees are its items' (each checked against its own profit, caps and the
        balance) averaged by gas, rounded down: each item bid its own tip, and one
        transaction pays one tip per gas, so the bundle pays in total at most what its
        items bid one by one, in the worst case and at the predicted base fee alike (the
        per-item max fees differ only by their tips, so the averaged max fee still covers
        the averaged tip)."""
        assert self.manager is not None
        route = self.manager.submitter.route
        if len(group) == 1:
            _, request, plan = group[0]
            signed = self.manager.sign(
                nonce=nonce,
                to=request.to,
                data=request.data,
                value=request.value,
                gas=plan.gas,
                fees=plan.fees,
            )
            return SignedOriginal(
                **_intent_fields(request, plan.gas),
                nonce=nonce,
                tx_hash=signed.tx_hash,
                raw_tx=signed.raw,
                fees=plan.fees,
                route=route,
            )
        requests = [r for _, r, _ in group]
        gas = sum(p.gas for _, _, p in group)
        max_fee = sum(p.fees.max_fee_per_gas * p.gas for _, _, p in group) // gas
        tip = sum(p.fees.max_priority_fee_per_gas * p.gas for _, _, p in group) // gas
        fees = Fees(max_fee, min(tip, max_fee))
        liquidator = self.config.startup.liquidator
        data = encode_try_each([r.data for r in requests])
        signed = self.manager.sign(
            nonce=nonce, to=liquidator, data=data, value=0, gas=gas, fees=fees
        )
        wei = [r.expected_profit_wei for r in requests]
        return SignedOriginal(
            key=f"bundle:{self.account.lower()}:{nonce}:{requests[0].key}",
            kind=IntentKind.BUNDLE,
            path="bundle",
            target=liquidator,
            calldata=data,
            value=0,
            gas_limit=gas,
            observed_block=min(r.observed_block for r in requests),
            request={
                "key": f"bundle of {len(requests)}",
                "items": [r.to_json() for r in requests],
                "priority_fee_per_gas": str(fees.max_priority_fee_per_gas),
                "expected_profit_wei": (
                    str(sum(w for w in wei if w is not None)) if None not in wei else None
                ),
            },
            nonce=nonce,
            tx_hash=signed.tx_hash,
            raw_tx=signed.raw,
            fees=fees,
            route=route,
            items=tuple(BundleItem(r.key, r.observed_block) for r in requests),
        )

    def _send_batch(self, attempts: list[Attempt]) -> list[SendOutcome]:
        """``eth_sendRawTransaction`` for each, in one batch; the answers read one by one."""
        calls = [("eth_sendRawTransaction", ["0x" + a.raw_tx.hex()]) for a in attempts]
        try:
            answers = self.node.batch(calls)
        except NodeUnavailable as exc:
            # The batch may have reached the node: every send in it is "maybe sent".
            return [SendOutcome(SendStatus.MAYBE, str(exc)[:300]) for _ in attempts]
        if answers is None:
            assert self.manager is not None
            submit = self.manager.submitter.submit
            return [submit(a.raw_tx, a.tx_hash, self.highest_head) for a in attempts]
        outcomes = []
        for attempt, answer in zip(attempts, answers, strict=True):
            error = answer.get("error")
            result = answer.get("result")
            if error is not None:
                message = scrub(
                    str(error.get("message", error) if isinstance(error, dict) else error)
                )
                status = SendStatus.MAYBE if means_maybe_sent(message) else SendStatus.REJECTED
                outcomes.append(SendOutcome(status, message[:300]))
            elif not isinstance(result, str):
                outcomes.append(SendOutcome(SendStatus.MAYBE, "no answer in the batch"))
            elif result.lower() != attempt.tx_hash.lower():
                outcomes.append(SendOutcome(SendStatus.MAYBE, f"node returned hash {result}"))
            else:
                outcomes.append(SendOutcome(SendStatus.ACCEPTED))
        return outcomes

    def _prepare(
        self, request: ExecutionRequest, history: dict[str, list[KeyRecord]] | None = None
    ) -> ExecutionResult | _Prepared:
        """Every check before the simulation; a result when one says no. ``history``: the
        batch's keys, read in one query (a batch allocates its nonces when it is staged)."""
        block = self._block
        if block is None:
            self._check_chain()
        elif self.halted:
            raise ChainMismatch(self.halted)
        journal = self.journal
        if journal is not None:
            blocked = self.blocked_reason()
            if blocked:
                return self._reject(request, Status.BLOCKED, blocked)
            records = (
                history.get(request.key, [])
                if history is not None
                else journal.key_history([request.key]).get(request.key, [])
            )
            for record in records:
                if record.state in OPEN_STATES:
                    return ExecutionResult(
                        Status.IN_FLIGHT,
                        request.key,
                        f"intent {record.id} is {record.state}",
                        intent_id=record.id,
                    )
                # A decision on block N's state already sees a liquidation mined in N
                # (a second one of the same account is fresh); only a later one is news.
                if (
                    record.state is IntentState.CONFIRMED
                    and record.mined_block > request.observed_block
                ):
                    return ExecutionResult(
                        Status.ALREADY_DONE,
                        request.key,
                        f"intent {record.id} liquidated it in block {record.mined_block}, "
                        f"after the decision's block {request.observed_block}",
                        intent_id=record.id,
                    )
            open_liquidations = (
                block.open_liquidations
                if block is not None and block.open_liquidations is not None
                else journal.count_open(IntentKind.LIQUIDATION)
            )
            if open_liquidations >= self.config.max_in_flight:
                return self._reject(
                    request, Status.BUSY, f"{open_liquidations} liquidations in flight"
                )
        head = block.head if block is not None else self.node.head()
        if head.number < self.highest_head:
            return self._reject(
                request,
                Status.STALE_HEAD,
                f"the node's head {head.number} is behind block {self.highest_head} seen before",
            )
        self.highest_head = head.number
        if head.number < request.observed_block:
            return self._reject(
                request,
                Status.STALE_HEAD,
                f"the node's head {head.number} is older than the decision's block "
                f"{request.observed_block}",
            )
        check: NonceCheck | None = None
        if block is not None and block.check is not None and self.journal is not None:
            # The block's read of the chain's nonces; one send at a time takes the journal's
            # counter as it is now (every send of this block moved it past its own nonce).
            check = block.check
            if history is None:
                counter = self.journal.next_nonce()
                if counter is not None:
                    check = replace(check, next_nonce=counter)
        elif self.nonces is not None:
            check = self.nonces.check()
        if check is not None:
            if check.foreign:
                return self._reject(request, Status.NONCE_CONFLICT, check.detail)
            if check.gaps:
                return self._reject(
                    request, Status.BUSY, f"nonce holes {list(check.gaps)} are being healed"
                )

        if request.approval is not None:
            waiting = self._ensure_allowance(request, head)
            if waiting is not None:
                return waiting
        return _Prepared(head, check, block)

    def _stage(
        self, request: ExecutionRequest, prep: _Prepared, sim: Simulation
    ) -> ExecutionResult | _Staged:
        """After the simulation: profit, gas, fees and balance; then (live) the intent is
        journaled and the transaction signed and journaled, ready to broadcast."""
        check = prep.check
        nonce: int | None = None
        if check is not None:
            nonce = check.next_nonce
            if prep.block is not None and self.journal is not None:
                # The counter as it is when this one is signed.
                counter = self.journal.next_nonce()
                if counter is not None:
                    nonce = counter
        plan = self._plan(request, prep, sim, nonce)
        if isinstance(plan, ExecutionResult):
            return plan
        return self._write(request, plan)

    def _plan(
        self, request: ExecutionRequest, prep: _Prepared, sim: Simulation, nonce: int | None
    ) -> ExecutionResult | _Plan:
        """The checks after the simulation (profit, gas, fees, balance, the in-flight cap)
        and what would be sent at ``nonce`` (None: not live; the node's pending nonce);
        read-only and dry-run end here with their result."""
        head, block = prep.head, prep.block
        if not sim.ok:
            # The revert may come from a block mined after ``head`` was read: look for a
            # competitor up to the newest head, not just the one the decision started from.
            latest = max(head.number, self.node.head().number)
            kind, reason = self._classify(request, sim, latest)
            return self._reject(
                request,
                Status.SIMULATION_REVERTED,
                f"{kind}: {reason}",
                revert_kind=kind,
            )
        profit = _profit_from_return(request.route, sim.return_data)
        if profit is not None and profit < request.min_profit:
            return self._reject(
                request,
                Status.BELOW_MIN_PROFIT,
                f"simulated profit {profit} < minimum {request.min_profit}",
                simulated_profit=profit,
                revert_kind=RevertKind.BELOW_MIN_PROFIT,
            )
        estimate = sim.gas_estimate or request.gas_limit
        if estimate > self.config.max_gas_limit:
            return self._reject(
                request,
                Status.GAS_LIMIT,
                f"estimated gas {estimate} > max gas limit {self.config.max_gas_limit}",
            )
        gas = min(
            max(request.gas_limit, -(-estimate * (10_000 + self.config.gas_margin_bps) // 10_000)),
            self.config.max_gas_limit,
        )
        policy = self.config.fees
        if request.max_fee_per_gas is not None and request.max_fee_per_gas < (
            policy.caps.max_fee_per_gas
        ):
            policy = replace(
                policy,
                caps=FeeCaps(request.max_fee_per_gas, policy.caps.max_priority_fee_per_gas),
            )
        predicted = predict_base_fee(head.base_fee, head.gas_used, head.gas_limit)
        fees = initial_fees(predicted, request.priority_fee_per_gas, policy)
        if isinstance(fees, FeeRefusal):
            return self._reject(request, Status.FEES_OVER_CAP, fees.reason)
        cost = fees.expected_cost(estimate, predicted)
        if request.expected_profit_wei is not None and cost >= request.expected_profit_wei:
            return self._reject(
                request,
                Status.GAS_EXCEEDS_PROFIT,
                f"gas would cost {cost} wei, the expected profit is "
                f"{request.expected_profit_wei} wei",
                simulated_profit=profit,
            )
        balance = (
            block.budget
            if block is not None and block.budget is not None
            else self.node.balance(self.account)
        )
        worst = fees.worst_case_cost(gas)
        if balance < worst + request.value:
            return self._reject(
                request,
                Status.NO_GAS_MONEY,
                f"balance {balance} wei < {worst} wei for gas",
            )
        live = self.manager is not None and self.journal is not None and nonce is not None
        # Live: the journal's next nonce; dry-run and read-only: what the node would assign.
        if nonce is None:
            nonce = self.node.nonce(self.account, "pending")
        would_send = {
            "from": self.account,
            "to": request.to,
            "data": "0x" + request.data.hex(),
            "value": request.value,
            "gas": gas,
            "maxFeePerGas": fees.max_fee_per_gas,
            "maxPriorityFeePerGas": fees.max_priority_fee_per_gas,
            "nonce": nonce,
            "chainId": self.config.chain_id,
            "key": request.key,
            "route": str(request.route),
            "simulatedProfit": profit,
            "expectedProfit": request.expected_profit,
            "minProfit": request.min_profit,
            "block": sim.block,
        }
        if not live:
            status = Status.DRY_RUN if self.config.dry_run else Status.READ_ONLY
            self.out(json.dumps({"would_send": would_send}, sort_keys=True, default=str))
            return ExecutionResult(
                status,
                request.key,
                "not signed",
                nonce=nonce,
                fees=fees,
                gas_limit=gas,
                simulated_profit=profit,
                would_send=would_send,
            )

        # A batch's sends all pass _prepare's check before any is staged; this one is exact.
        if (
            block is not None
            and block.open_liquidations is not None
            and block.open_liquidations >= self.config.max_in_flight
        ):
            return self._reject(
                request, Status.BUSY, f"{block.open_liquidations} liquidations in flight"
            )
        return _Plan(nonce, fees, gas, worst, profit, would_send)

    @staticmethod
    def _count_in(block: _BlockReads | None, plan: _Plan, request: ExecutionRequest) -> None:
        """A send of this block takes its worst-case cost from the budget and one slot of
        the in-flight cap."""
        if block is not None and block.budget is not None:
            block.budget -= plan.worst_case_cost + request.value
        if block is not None and block.open_liquidations is not None:
            block.open_liquidations += 1

    def _write(
        self, request: ExecutionRequest, plan: _Plan, *, counted: bool = False
    ) -> ExecutionResult | _Staged:
        """Journal the intent, then sign its transaction and journal it (one send at a time:
        :meth:`execute`, and a batch that :meth:`Journal.add_originals` refused as a whole).
        ``counted``: the block's budget and in-flight count already hold this send, and the
        nonce is the counter's as it is now (the plan's assumed the batch's earlier sends)."""
        assert self.manager is not None and self.journal is not None and plan.nonce is not None
        try:
            intent = self.journal.add_intent(**_intent_fields(request, plan.gas))
        except DuplicateIntent as exc:
            return ExecutionResult(Status.IN_FLIGHT, request.key, str(exc))
        nonce = plan.nonce
        if counted:
            nonce = self.journal.next_nonce() or plan.nonce
        else:
            self._count_in(self._block, plan, request)
        attempt = self.manager.sign_original(intent, nonce=nonce, gas=plan.gas, fees=plan.fees)
        return _Staged(intent, attempt, plan.fees, plan.gas, plan.profit, plan.would_send)

    def _sent(
        self, request: ExecutionRequest, staged: _Staged, outcome: SendOutcome
    ) -> ExecutionResult:
        intent, attempt = staged.intent, staged.attempt
        fees, gas, profit, would_send = staged.fees, staged.gas, staged.profit, staged.would_send
        status = Status.NOT_SENT if outcome.status is SendStatus.REJECTED else Status.SENT
        log.info(
            "%s %s: intent %d nonce %d %s (%s)",
            status,
            request.key,
            intent.id,
            attempt.nonce,
            attempt.tx_hash,
            outcome.status,
        )
        return ExecutionResult(
            status,
            request.key,
            f"{outcome.status}: {outcome.detail}" if outcome.detail else str(outcome.status),
            intent_id=intent.id,
            tx_hash=attempt.tx_hash,
            nonce=attempt.nonce,
            fees=fees,
            gas_limit=gas,
            simulated_profit=profit,
            would_send=would_send,
        )

    def _ensure_allowance(self, request: ExecutionRequest, head: Head) -> ExecutionResult | None:
        """Approve the pool once (to max) before a DIRECT liquidation; None when approved."""
        approval = request.approval
        assert approval is not None
        data = _ALLOWANCE + abi_encode(["address", "address"], [self.account, approval.spender])
        allowance = int(
            abi_decode(
                ["uint256"], self.node.call({"to": approval.token, "data": "0x" + data.hex()})
            )[0]
        )
        if allowance >= approval.amount:
            return None
        key = f"approve:{approval.token.lower()}:{approval.spender.lower()}"
        if self.manager is None or self.journal is None:
            return ExecutionResult(
                Status.WAITING_FOR_APPROVAL,
                request.key,
                f"allowance {allowance} < {approval.amount}: an approval would be sent first",
            )
        for intent in self.journal.intents_for_key(key):
            if intent.is_open:
                return ExecutionResult(
                    Status.WAITING_FOR_APPROVAL,
                    request.key,
                    f"approval intent {intent.id} is {intent.state}",
                    intent_id=intent.id,
                )
        calldata = _APPROVE + abi_encode(["address", "uint256"], [approval.spender, MAX_UINT])
        sim = simulate(
            self.node,
            sender=self.account,
            to=approval.token,
            data=calldata,
            estimate=self.config.estimate_gas,
        )
        if not sim.ok:
            return self._reject(
                request, Status.SIMULATION_REVERTED, f"approval reverts: {sim.reason}"
            )
        predicted = predict_base_fee(head.base_fee, head.gas_used, head.gas_limit)
        fees = initial_fees(predicted, request.priority_fee_per_gas, self.config.fees)
        if isinstance(fees, FeeRefusal):
            return self._reject(request, Status.FEES_OVER_CAP, fees.reason)
        gas = -(-(sim.gas_estimate or 60_000) * (10_000 + self.config.gas_margin_bps) // 10_000)
        check = self.nonces.check() if self.nonces is not None else None
        assert check is not None
        try:
            intent = self.journal.add_intent(
                key=key,
                kind=IntentKind.APPROVE,
                path="approve",
                target=approval.token,
                calldata=calldata,
                value=0,
                gas_limit=gas,
                observed_block=head.number,
                request={"key": key, "priority_fee_per_gas": str(request.priority_fee_per_gas)},
            )
        except DuplicateIntent as exc:
            return ExecutionResult(Status.WAITING_FOR_APPROVAL, request.key, str(exc))
        attempt, outcome = self.manager.send_original(
            intent, nonce=check.next_nonce, gas=gas, fees=fees, head=head
        )
        return ExecutionResult(
            Status.WAITING_FOR_APPROVAL,
            request.key,
            f"approval sent ({outcome.status})",
            intent_id=intent.id,
            tx_hash=attempt.tx_hash,
            nonce=attempt.nonce,
            fees=fees,
        )

    # ------------------------------------------------------------------ per block

    def poll(self) -> list[Update]:
        """Track everything in flight; heal nonce holes. Call once per new block."""
        return self._poll(None)

    def poll_for(self, prefixes: Sequence[str]) -> list[Update]:
        """Settle only the open intents whose opportunity key starts with one of
        ``prefixes`` (the accounts about to be planned again), leaving the rest, and nonce
        healing, to the next :meth:`poll`; what this reads of the new blocks is kept for that
        poll, which then asks no receipt it would not have asked anyway."""
        if not prefixes:
            return []
        return self._poll(tuple(prefixes))

    def _poll(self, prefixes: tuple[str, ...] | None) -> list[Update]:
        if self.manager is None or self.nonces is None or self.journal is None:
            return []
        try:
            self._check_chain()
            head = self.node.head()
            if head.number < self.highest_head:
                log.warning(
                    "poll skipped: the node's head %d is behind block %d seen before",
                    head.number,
                    self.highest_head,
                )
                return []
            self.highest_head = head.number
            if prefixes is not None:
                return self.manager.tick(head, prefixes)
            check = self.nonces.check()
            updates = self.manager.tick(head)
            for gap in check.gaps[:1]:
                self._heal(gap, head)
        except ChainMismatch:
            return []
        except NodeUnavailable as exc:
            log.warning("poll skipped: %s", exc)
            return []
        return updates

    def _heal(self, nonce: int, head: Head) -> None:
        """Fill a nonce hole with a zero-value self-send, so that later nonces can be mined."""
        assert self.manager is not None and self.journal is not None
        predicted = predict_base_fee(head.base_fee, head.gas_used, head.gas_limit)
        fees = initial_fees(predicted, self.config.heal_priority_fee_per_gas, self.config.fees)
        if isinstance(fees, FeeRefusal):
            self._record("fee_cap", f"cannot heal nonce {nonce}: {fees.reason}")
            return
        key = f"heal:{self.account.lower()}:{nonce}"
        try:
            intent = self.journal.add_intent(
                key=key,
                kind=IntentKind.HEAL,
                path="heal",
                target=self.account,
                calldata=b"",
                value=0,
                gas_limit=CANCEL_GAS,
                observed_block=head.number,
                request={"key": key, "priority_fee_per_gas": str(fees.max_priority_fee_per_gas)},
            )
        except DuplicateIntent:
            return
        self._record("heal", f"nonce {nonce}: zero-value self-send")
        self.manager.send_original(
            intent, nonce=nonce, gas=CANCEL_GAS, fees=fees, head=head, fill_gap=True
        )

    def cancel(self, key: str, reason: str = "cancelled by the caller") -> Attempt | None:
        """Cancel the in-flight intent for ``key`` (zero-value self-send at its nonce); for
        a bundle's item, the bundle's transaction, with every item in it."""
        if self.manager is None or self.journal is None:
            return None
        head = self.node.head()
        for intent in self.journal.intents_for_key(key):
            if intent.is_open:
                return self.manager.cancel(intent, head, reason)
        return None


def _liquidated_profit(
    request: ExecutionRequest, receipt: Receipt, topics: tuple[bytes, ...]
) -> int:
    """What the first of our liquidator's ``Liquidated`` events whose topics start with
    ``topics`` says was made: the collateral seized (INVENTORY) or the profit; 0 if none."""
    for entry in receipt.logs:
        if (
            entry.address.lower() == request.to.lower()
            and tuple(entry.topics[: len(topics)]) == topics
        ):
            _covered, seized, profit, _flash = abi_decode(
                ["uint256", "uint256", "uint256", "bool"], entry.data
            )
            return int(seized) if request.route is Route.INVENTORY else int(profit)
    return 0


class _LogsBySource:
    """A bundle's receipt, its logs indexed by emitter and leading topics: each item is
    judged on the logs its own events could be, not on the whole receipt (a bundle of 32
    liquidations emits some 300 logs; reading them all per item, twice, is quadratic)."""

    def __init__(self, receipt: Receipt) -> None:
        self.receipt = receipt
        self._by_prefix: dict[int, dict[tuple[str, tuple[bytes, ...]], list[int]]] = {}

    def _index(self, length: int) -> dict[tuple[str, tuple[bytes, ...]], list[int]]:
        index = self._by_prefix.get(length)
        if index is None:
            index = self._by_prefix[length] = {}
            for position, entry in enumerate(self.receipt.logs):
                if len(entry.topics) >= length:
                    key = (entry.address.lower(), entry.topics[:length])
                    index.setdefault(key, []).append(position)
        return index

    def receipt_for(self, *events: tuple[str, tuple[bytes | None, ...]]) -> Receipt:
        """The receipt with only the logs emitted by each event's address with its topics
        first, in their order; the whole receipt when an event leaves a topic open."""
        wanted: list[tuple[str, tuple[bytes, ...]]] = []
        for address, topics in events:
            known = tuple(t for t in topics if t is not None)
            if not topics or len(known) != len(topics):
                return self.receipt
            wanted.append((address.lower(), known))
        positions = {p for key in wanted for p in self._index(len(key[1])).get(key, ())}
        return replace(self.receipt, logs=tuple(self.receipt.logs[p] for p in sorted(positions)))


def _item_topics(request: ExecutionRequest) -> tuple[bytes, ...]:
    """The topics of a bundle item's own ``Liquidated`` event: user, collateral and debt
    are indexed, and unique within a bundle (whose keys are)."""
    return (
        LIQUIDATED_TOPIC,
        *(
            bytes(12) + bytes.fromhex(a[2:])
            for a in (request.user, request.collateral, request.debt)
        ),
    )


def attempt_gas_limit(intent: Intent, receipt: Receipt, journal: Journal | None) -> int:
    """The gas limit of the attempt that produced ``receipt``."""
    if journal is not None:
        attempt = journal.attempt_by_hash(receipt.tx_hash)
        if attempt is not None:
            return attempt.gas_limit
    return intent.gas_limit


class _Supervisor:
    """The executor's answers to the transaction manager: keep or cancel, and what a
    receipt means."""

    def __init__(self, executor: Executor) -> None:
        self.x = executor

    def _resimulate(self, intent: Intent) -> Simulation:
        """The pending transaction's call at the latest block."""
        return simulate(
            self.x.node,
            sender=self.x.account,
            to=intent.target,
            data=intent.calldata,
            value=intent.value,
            estimate=False,
        )

    def review(self, intent: Intent, head: Head) -> Review:
        priority = int(intent.request.get("priority_fee_per_gas", 0))
        if intent.kind is IntentKind.BUNDLE:
            return self._review_bundle(intent, head, priority)
        if intent.kind is not IntentKind.LIQUIDATION:
            return Review(keep=True, priority_fee_per_gas=priority)
        request = ExecutionRequest.from_json(intent.request)
        try:
            sim = self._resimulate(intent)
        except NodeUnavailable as exc:
            # Unsure: leave the transaction as it is (no bump, no cancel) this block.
            return Review(keep=True, priority_fee_per_gas=0, max_gas_cost_wei=0, reason=str(exc))
        if not sim.ok:
            kind, reason = self.x._classify(request, sim, head.number)
            return Review(keep=False, reason=f"{kind}: {reason}")
        profit = _profit_from_return(request.route, sim.return_data)
        if profit is not None and profit < request.min_profit:
            return Review(keep=False, reason=f"simulated profit {profit} < {request.min_profit}")
        return Review(
            keep=True,
            priority_fee_per_gas=priority,
            max_gas_cost_wei=request.expected_profit_wei,
        )

    def _review_bundle(self, intent: Intent, head: Head, priority: int) -> Review:
        """Keep a bundle while one of its items still pays (the others then fail alone and
        burn only their gas); bump it no further than what those items are worth."""
        items = [ExecutionRequest.from_json(item) for item in intent.request["items"]]
        try:
            sim = self._resimulate(intent)
            outcomes = decode_try_each(sim.return_data, len(items)) if sim.ok else None
        except (NodeUnavailable, ValueError) as exc:
            # Unsure: leave the transaction as it is (no bump, no cancel) this block.
            return Review(keep=True, priority_fee_per_gas=0, max_gas_cost_wei=0, reason=str(exc))
        if outcomes is None:
            return Review(keep=False, reason=f"the bundle reverts: {sim.reason}")
        paying = [
            request
            for request, (ok, data) in zip(items, outcomes, strict=True)
            if ok
            and ((p := _profit_from_return(request.route, data)) is None or p >= request.min_profit)
        ]
        if not paying:
            return Review(keep=False, reason=f"none of the bundle's {len(items)} items pays")
        worth = [r.expected_profit_wei for r in paying]
        return Review(
            keep=True,
            priority_fee_per_gas=priority,
            max_gas_cost_wei=sum(w for w in worth if w is not None) if None not in worth else None,
        )

    def _item_ledgers(
        self,
        intent: Intent,
        outcomes: Sequence[tuple[str, int, bool, str]],
        receipt: Receipt | None,
    ) -> tuple[LedgerEntry, ...]:
        """A bundle's ledger rows: per item (outcome, realised profit, liquidated, detail),
        the gas of the shared transaction split evenly (the first item takes the remainder;
        gas used is not known per item, so it is left 0) and burnt by the items that
        liquidated nothing."""
        items = intent.request["items"]
        paid = receipt.gas_paid if receipt is not None else 0
        share, rest = divmod(paid, len(items))
        rows = []
        for k, (item, (outcome, realised, ok, detail)) in enumerate(
            zip(items, outcomes, strict=True)
        ):
            gas = share + (rest if k == 0 else 0)
            rows.append(
                LedgerEntry(
                    intent_id=intent.id,
                    opportunity_key=str(item["key"]),
                    kind=str(IntentKind.LIQUIDATION),
                    path=str(item["route"]),
                    outcome=outcome,
                    profit_asset=str(item.get("profit_asset", "")),
                    predicted_profit=int(item.get("expected_profit", 0)),
                    realised_profit=realised,
                    predicted_net_value=int(item.get("expected_net_value", 0)),
                    gas_paid_wei=gas,
                    gas_burnt_wei=0 if ok else gas,
                    block_number=receipt.block_number if receipt is not None else None,
                    tx_hash=receipt.tx_hash if receipt is not None else "",
                    detail=f"{detail} (item {k + 1} of a bundle of {len(items)})",
                )
            )
        return tuple(rows)

    def _judge_bundle(self, intent: Intent, attempt: Attempt, receipt: Receipt) -> Verdict:
        """Each item by its own ``Liquidated`` event in the shared receipt; the bundle is
        confirmed when one of them liquidated."""
        items = [ExecutionRequest.from_json(item) for item in intent.request["items"]]
        block = receipt.block_number
        if attempt.kind is AttemptKind.CANCEL:
            detail = f"cancelled by self-send in block {block}"
            outcomes = [("cancelled", 0, False, detail)] * len(items)
            return Verdict(
                IntentState.CANCELLED,
                "cancelled",
                detail,
                self._item_ledgers(intent, outcomes, receipt),
            )
        if receipt.status != 1:
            kind, reason = self._why_reverted(None, intent, receipt)
            detail = f"reverted in block {block}: {kind}: {reason}"
            outcomes = [(f"reverted:{kind}", 0, False, detail)] * len(items)
            return Verdict(
                IntentState.FAILED,
                f"reverted:{kind}",
                detail,
                self._item_ledgers(intent, outcomes, receipt),
            )
        outcomes = []
        sources = _LogsBySource(receipt)
        for request in items:
            expected = request.expected_log
            own = sources.receipt_for(
                (request.to, _item_topics(request)),
                *([(expected.address, expected.topics)] if expected is not None else []),
            )
            if self._liquidated(request, own):
                realised = self._item_profit(request, own)
                outcomes.append(
                    (
                        "liquidated",
                        realised,
                        True,
                        f"liquidated in block {block}: profit {realised}",
                    )
                )
                continue
            competitor = self.x.competitor_for(request, block)
            kind = RevertKind.LOST_TO_COMPETITOR if competitor else RevertKind.UNKNOWN
            detail = competitor or "its call failed inside the bundle"
            outcomes.append((f"reverted:{kind}", 0, False, f"in block {block}: {detail}"))
        done = sum(1 for o in outcomes if o[2])
        detail = f"bundle mined in block {block}: {done} of {len(items)} liquidated"
        return Verdict(
            IntentState.CONFIRMED if done else IntentState.FAILED,
            "liquidated" if done else "reverted:in_bundle",
            detail,
            self._item_ledgers(intent, outcomes, receipt),
        )

    @staticmethod
    def _item_profit(request: ExecutionRequest, receipt: Receipt) -> int:
        """The profit of this item's own ``Liquidated`` event."""
        return _liquidated_profit(request, receipt, _item_topics(request))

    def _base_ledger(self, intent: Intent, outcome: str, detail: str) -> LedgerEntry:
        r = intent.request
        return LedgerEntry(
            intent_id=intent.id,
            opportunity_key=intent.opportunity_key,
            kind=str(intent.kind),
            path=intent.path,
            outcome=outcome,
            profit_asset=str(r.get("profit_asset", "")),
            predicted_profit=int(r.get("expected_profit", 0)),
            predicted_net_value=int(r.get("expected_net_value", 0)),
            detail=detail,
        )

    def judge_replaced(self, intent: Intent, detail: str) -> LedgerEntry | tuple[LedgerEntry, ...]:
        if intent.kind is IntentKind.BUNDLE:
            outcome = ("replaced_by_other", 0, False, detail)
            return self._item_ledgers(intent, [outcome] * len(intent.request["items"]), None)
        return self._base_ledger(intent, "replaced_by_other", detail)

    def judge(self, intent: Intent, attempt: Attempt, receipt: Receipt) -> Verdict:
        if intent.kind is IntentKind.BUNDLE:
            return self._judge_bundle(intent, attempt, receipt)
        gas_paid = receipt.gas_paid
        base = replace(
            self._base_ledger(intent, "", ""),
            gas_used=receipt.gas_used,
            gas_paid_wei=gas_paid,
            block_number=receipt.block_number,
            tx_hash=receipt.tx_hash,
        )
        if attempt.kind is AttemptKind.CANCEL:
            detail = f"cancelled by self-send in block {receipt.block_number}"
            return Verdict(
                IntentState.CANCELLED,
                "cancelled",
                detail,
                replace(base, outcome="cancelled", gas_burnt_wei=gas_paid, detail=detail),
            )
        if intent.kind is not IntentKind.LIQUIDATION:
            ok = receipt.status == 1
            detail = (
                f"{intent.kind} {'mined' if ok else 'reverted'} in block {receipt.block_number}"
            )
            return Verdict(
                IntentState.CONFIRMED if ok else IntentState.FAILED,
                str(intent.kind) if ok else "reverted",
                detail,
                replace(
                    base,
                    outcome=str(intent.kind) if ok else "reverted",
                    gas_burnt_wei=0 if ok else gas_paid,
                    detail=detail,
                ),
            )
        request = ExecutionRequest.from_json(intent.request)
        if receipt.status == 1 and self._liquidated(request, receipt):
            realised = self._realised_profit(request, receipt)
            detail = (
                f"liquidated in block {receipt.block_number}: profit {realised} "
                f"(predicted {request.expected_profit}), gas {gas_paid} wei"
            )
            return Verdict(
                IntentState.CONFIRMED,
                "liquidated",
                detail,
                replace(base, outcome="liquidated", realised_profit=realised, detail=detail),
            )
        if receipt.status == 1:
            detail = (
                f"mined with status 1 in block {receipt.block_number} but without the expected "
                "LiquidationCall event"
            )
            outcome = "no_liquidation_event"
        else:
            kind, reason = self._why_reverted(request, intent, receipt)
            outcome = f"reverted:{kind}"
            detail = f"reverted in block {receipt.block_number}: {kind}: {reason}"
        return Verdict(
            IntentState.FAILED,
            outcome,
            detail,
            replace(base, outcome=outcome, gas_burnt_wei=gas_paid, detail=detail),
        )

    def _liquidated(self, request: ExecutionRequest, receipt: Receipt) -> bool:
        expected = request.expected_log
        if expected is None:
            return False
        return any(
            expected.matches(entry.address, entry.topics, entry.data) for entry in receipt.logs
        )

    def _realised_profit(self, request: ExecutionRequest, receipt: Receipt) -> int:
        if request.profit_log is not None:
            at = 32 * request.profit_word
            for entry in receipt.logs:
                if request.profit_log.matches(entry.address, entry.topics, entry.data):
                    return int.from_bytes(entry.data[at : at + 32], "big")
            return 0
        if request.route is Route.DIRECT:
            expected = request.expected_log
            for entry in receipt.logs:
                if expected is not None and expected.matches(
                    entry.address, entry.topics, entry.data
                ):
                    return int(abi_decode(["uint256"], entry.data[32:64])[0])
            return 0
        return _liquidated_profit(request, receipt, (LIQUIDATED_TOPIC,))

    def _why_reverted(
        self, request: ExecutionRequest | None, intent: Intent, receipt: Receipt
    ) -> tuple[RevertKind, str]:
        """Replay the call at the mined block (after it: close enough to name the cause).
        ``request`` None: a bundle (whose items' competitors do not revert it)."""
        competitor = self.x.competitor_for(request, receipt.block_number) if request else ""
        if competitor:
            return RevertKind.LOST_TO_COMPETITOR, competitor
        try:
            sim = simulate(
                self.x.node,
                sender=self.x.account,
                to=intent.target,
                data=intent.calldata,
                value=intent.value,
                block=receipt.block_number,
                estimate=False,
            )
        except NodeUnavailable as exc:
            return RevertKind.UNKNOWN, f"replay failed: {exc}"
        if sim.ok:
            limit = attempt_gas_limit(intent, receipt, self.x.journal)
            if receipt.gas_used * 10 >= limit * 9:
                # It runs with more gas, and ours used (nearly) all of its own: a sub-call ran
                # out and its caller kept the 1/64 it is owed, per call depth.
                return RevertKind.OUT_OF_GAS, f"used {receipt.gas_used} of {limit} gas"
            return RevertKind.UNKNOWN, "the replay at the mined block does not revert"
        assert sim.reverted is not None
        return classify(sim.reverted), sim.reason


__all__ = [
    "ChainMismatch",
    "ExecutionResult",
    "Executor",
    "ExecutorConfig",
    "Status",
]
