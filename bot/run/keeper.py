"""The auction keeper: each block's auction snapshot -> the model's decisions -> the executor.

Per block it

- barks every unsafe vault whose keeper reward pays for the gas (with the limits on debt
  under auction applied in order, as the liquidator would);
- for each running Dutch auction: restarts it when it needs a redo and the redo reward pays;
  otherwise sizes the best take through the bot's AuctionTaker (flash sale on the pair, no
  inventory), and takes now unless the competitor model says waiting one more price step is
  worth more;
- for each English auction on an ilk: settles the ones the bot won, and bids (tend, then
  dent) when the next legal bid still leaves the minimum profit at the pair's price;

and sends every action through the same :class:`~bot.execute.Executor` as liquidations
(simulate first, fail closed, journal, nonce manager). Every vault or auction left alone gets
a reason. Values are stablecoin units (18 decimals, $1); gas is priced with the native
token's oracle price.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from eth_utils.crypto import keccak
from web3 import Web3

from bot.execute import ExecutionRequest, ExecutionResult, Executor, ExecutorConfig, Route, Status
from bot.execute.journal import Journal
from bot.execute.keys import Signer
from bot.execute.node import Node, NodeUnavailable
from bot.execute.request import Approval, ExpectedLog
from bot.execute.startup import StartupCheckFailed, StartupReport, missing_functions
from bot.execute.txmanager import Update
from bot.model.auction import (
    AUCTION_GAS,
    AuctionRevert,
    CompetitorModel,
    auction_status,
    bark_quote,
    best_flash_take,
    current_rate,
    decide_dutch_take,
    future_blocks,
    gas_in_stable,
    is_unsafe,
    marginal_price,
    plan_english_bid,
    redo_reward,
    spot,
    stable_in_wei,
)
from bot.model.gas import next_base_fee
from bot.observe.logs import event
from bot.protocols.auction_base import DUTCH, AuctionProtocol
from bot.protocols.auction_engine import VaultEngineAdapter, event_topics
from bot.protocols.base import TxCall, checksum
from bot.watch.auctions import AuctionSnapshot, AuctionWatcher

log = logging.getLogger("liqbot.keeper")

GWEI = 10**9
BARK, TAKE, REDO, TEND, DENT, DEAL = "bark", "take", "redo", "tend", "dent", "deal"
ROUTES = {
    BARK: Route.AUCTION_BARK,
    TAKE: Route.AUCTION_TAKE,
    REDO: Route.AUCTION_REDO,
    TEND: Route.AUCTION_TEND,
    DENT: Route.AUCTION_DENT,
    DEAL: Route.AUCTION_DEAL,
}
DEFAULT_GAS: dict[str, int] = dict(AUCTION_GAS)
"""Gas per action (``bot.model.auction.AUCTION_GAS``): better over- than underestimated."""


@dataclass(frozen=True, slots=True)
class KeeperConfig:
    min_profit: int = 10**18
    """Stablecoin (wad) an action must leave after gas."""
    competitors: CompetitorModel = field(default_factory=CompetitorModel)
    priority_fee_per_gas: int = 2 * GWEI
    max_fee_per_gas: int = 300 * GWEI
    gas: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_GAS))
    block_time: int = 12
    """Seconds between blocks: when the keeper can next act on a Dutch auction's curve."""
    lookahead_steps: int = 3
    """Price steps the wait-vs-take decision looks ahead (``decide_dutch_take``)."""
    english: bool = True
    """Bid in English auctions with the account's own stablecoin."""
    max_actions: int | None = None
    """At most this many actions sent per block (None: all that pay)."""

    def __post_init__(self) -> None:
        missing = set(DEFAULT_GAS) - set(self.gas)
        if missing:
            raise ValueError(f"gas: no figure for {', '.join(sorted(missing))}; add them")
        if self.min_profit < 0:
            raise ValueError("min_profit must not be negative")


@dataclass(frozen=True, slots=True)
class KeeperAction:
    """One decided action: what to send and what the model expects of it."""

    kind: str
    ilk: str
    key: str
    call: TxCall
    subject: str
    """The vault owner (bark) or the auction id (others), for reports."""
    owner: str
    amount: int
    """Stablecoin at stake: tab (bark), owe (take), bid (tend/dent); 0 otherwise."""
    expected_profit: int
    """Gross: keeper reward (bark, redo), the taker's profit (take), the lot's value minus
    the bid (tend/dent/deal); stablecoin."""
    net: int
    gas_stable: int
    gas_units: int
    min_profit_guard: int
    expected_log: ExpectedLog
    approval: Approval | None = None
    auction_id: int = 0
    collateral: int = 0


@dataclass(frozen=True, slots=True)
class Skipped:
    """A vault or auction the keeper left alone in a block, and why."""

    kind: str
    ilk: str
    subject: str
    reason: str


@dataclass
class KeeperReport:
    block: int
    timestamp: int
    actions: list[KeeperAction] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    results: list[ExecutionResult] = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)
    decided_at: float = 0.0

    @property
    def sent(self) -> list[ExecutionResult]:
        return [r for r in self.results if r.sent]


def _word(address: str) -> bytes:
    return bytes(12) + bytes.fromhex(checksum(address)[2:])


def _uint(value: int) -> bytes:
    return value.to_bytes(32, "big")


_TOPICS = event_topics()
TAKEN_TOPIC = keccak(text="Taken(address,uint256,uint256,uint256,uint256,uint256)")
"""``AuctionTaker.Taken``: its last data word is the take's realised profit."""


class AuctionKeeper:
    """Drive one auction market: call :meth:`on_snapshot` per block (or :meth:`step`)."""

    def __init__(
        self,
        watcher: AuctionWatcher,
        protocol: AuctionProtocol,
        executor: Executor,
        account: str,
        config: KeeperConfig | None = None,
        *,
        taker: str,
        liquidator: str,
    ) -> None:
        self.watcher = watcher
        self.protocol = protocol
        self.executor = executor
        self.account = checksum(account)
        self.config = config or KeeperConfig()
        self.taker = checksum(taker)
        self.liquidator = checksum(liquidator)
        self.reports: list[KeeperReport] = []
        self.gas_learned: dict[str, int] = {}
        """Gas per action kind from our own receipts (largest seen plus 15%)."""
        self._ledger_seen: set[int] = set()

    # ------------------------------------------------------------------ decisions

    def gas_stable(self, snapshot: AuctionSnapshot, kind: str) -> int:
        """The action's gas in stablecoin at the next block's base fee plus our tip."""
        base = (
            next_base_fee(snapshot.base_fee, snapshot.gas_used, snapshot.gas_limit)
            if snapshot.gas_limit
            else snapshot.base_fee
        )
        price = min(base + self.config.priority_fee_per_gas, self.config.max_fee_per_gas)
        return gas_in_stable(self.gas_units(kind) * price, snapshot.native_price)

    def gas_units(self, kind: str) -> int:
        """Gas to cost an action at: learned from our receipts once there are some, else the
        configured figure (the gas limit stays the configured one: a bigger lot may cost
        more than the ones seen)."""
        return self.gas_learned.get(kind, self.config.gas[kind])

    def learn_gas(self) -> None:
        """Fold the ledger's new successful receipts into :attr:`gas_learned`."""
        for entry in self.executor.ledger():
            if entry.intent_id in self._ledger_seen:
                continue
            self._ledger_seen.add(entry.intent_id)
            kind = entry.path.removeprefix("auction_")
            if entry.outcome == "liquidated" and kind in self.config.gas and entry.gas_used:
                seen = entry.gas_used * 115 // 100
                self.gas_learned[kind] = max(self.gas_learned.get(kind, 0), seen)

    def plan(self, snapshot: AuctionSnapshot) -> tuple[list[KeeperAction], list[Skipped]]:
        """Every action that pays in this block, best first within its kind, and why the
        rest was left alone."""
        actions: list[KeeperAction] = []
        skipped: list[Skipped] = []
        if snapshot.native_price <= 0:
            skipped.append(Skipped("all", "", "", "blocked: no native token price to cost gas"))
            return actions, skipped
        self._plan_english(snapshot, actions, skipped)
        self._plan_dutch(snapshot, actions, skipped)
        self._plan_barks(snapshot, actions, skipped)
        if self.config.max_actions is not None:
            for extra in actions[self.config.max_actions :]:
                skipped.append(
                    Skipped(extra.kind, extra.ilk, extra.subject, "deferred: per-block cap")
                )
            actions = actions[: self.config.max_actions]
        return actions, skipped

    def _plan_barks(
        self, snapshot: AuctionSnapshot, actions: list[KeeperAction], skipped: list[Skipped]
    ) -> None:
        now = snapshot.timestamp
        gas = self.gas_stable(snapshot, BARK)
        # debt put under auction by this plan, all ilks together: the global limit is shared,
        # so an ilk's room shrinks with every bark planned on any ilk (conservative)
        planned = 0
        for name, ilk in snapshot.ilks.items():
            unsafe = []
            if ilk.collateral_price == 0:
                price_ok = False
            else:
                price_ok = True
                rate = current_rate(ilk.rate, ilk.stability_fee, ilk.last_drip, now)
                line = spot(ilk.collateral_price, ilk.liquidation_ratio)
                unsafe = [
                    v
                    for (i, _), v in sorted(snapshot.vaults.items())
                    if i == name and is_unsafe(v.collateral, v.normalized_debt, line, rate)
                ]
            if not price_ok:
                skipped.append(Skipped(BARK, name, "*", "blocked: no valid oracle price"))
                continue
            if not unsafe:
                continue
            blocked = ""
            if not ilk.module_kind or ilk.penalty == 0:
                blocked = "blocked: the ilk has no auction module"
            elif ilk.module_kind == DUTCH and ilk.dutch.stopped >= 1:
                blocked = f"blocked: the Dutch auction is stopped (level {ilk.dutch.stopped})"
            if blocked:
                skipped.extend(Skipped(BARK, name, v.owner, blocked) for v in unsafe)
                continue
            room_left = max(ilk.room - planned, 0)
            # largest first: a limit on debt under auction goes to the biggest rewards
            quotes = []
            for vault in unsafe:
                try:
                    q = bark_quote(
                        collateral=vault.collateral,
                        normalized_debt=vault.normalized_debt,
                        rate=rate,
                        dust=ilk.dust,
                        room=ilk.room,
                        penalty=ilk.penalty,
                        tip=ilk.tip,
                        chip=ilk.chip,
                    )
                except AuctionRevert as exc:
                    skipped.append(Skipped(BARK, name, vault.owner, f"limit: {exc}"))
                    continue
                quotes.append((q.reward, vault))
            quotes.sort(key=lambda item: -item[0])
            for _, vault in quotes:
                try:
                    q = bark_quote(
                        collateral=vault.collateral,
                        normalized_debt=vault.normalized_debt,
                        rate=rate,
                        dust=ilk.dust,
                        room=room_left,
                        penalty=ilk.penalty,
                        tip=ilk.tip,
                        chip=ilk.chip,
                    )
                except AuctionRevert as exc:
                    skipped.append(
                        Skipped(BARK, name, vault.owner, f"limit: {exc} (waiting for room)")
                    )
                    continue
                net = q.reward - gas
                if net < self.config.min_profit:
                    skipped.append(
                        Skipped(
                            BARK,
                            name,
                            vault.owner,
                            f"dust: keeper reward {q.reward} does not pay gas {gas} plus the "
                            "minimum profit",
                        )
                    )
                    continue
                # 0.1% more than the tab: fees accrue until the bark is mined, and a later
                # bark planned into the exact remainder would hit the limit
                room_left -= min(room_left, q.tab + q.tab // 1_000)
                planned += q.tab + q.tab // 1_000
                info = next(i for i in self.protocol.ilks() if i.name == name)
                actions.append(
                    KeeperAction(
                        kind=BARK,
                        ilk=name,
                        key=f"auction:bark:{name}:{vault.owner.lower()}",
                        call=self.protocol.encode_bark(name, vault.owner, self.account),
                        subject=vault.owner,
                        owner=vault.owner,
                        amount=q.tab,
                        expected_profit=q.reward,
                        net=net,
                        gas_stable=gas,
                        gas_units=self.config.gas[BARK],
                        min_profit_guard=0,
                        expected_log=ExpectedLog(
                            self.liquidator,
                            (_TOPICS["Bark"], info.ilk, _word(vault.owner)),
                            ((5, _word(self.account)),),
                        ),
                        collateral=q.lot,
                    )
                )

    def _plan_dutch(
        self, snapshot: AuctionSnapshot, actions: list[KeeperAction], skipped: list[Skipped]
    ) -> None:
        now = snapshot.timestamp
        take_gas = self.gas_stable(snapshot, TAKE)
        redo_gas = self.gas_stable(snapshot, REDO)
        reserves = {
            name: (ilk.reserve_collateral, ilk.reserve_stable)
            for name, ilk in snapshot.ilks.items()
        }
        takes: list[KeeperAction] = []
        reserved: dict[tuple[str, int], tuple[int, int]] = {}
        for (name, auction_id), sale in sorted(snapshot.sales.items()):
            ilk = snapshot.ilks[name]
            params = ilk.dutch
            info = next(i for i in self.protocol.ilks() if i.name == name)
            subject = f"#{auction_id}"
            status = auction_status(sale, params, now)
            if status.needs_redo:
                if params.stopped >= 2:
                    skipped.append(
                        Skipped(
                            REDO, name, subject, f"blocked: redo stopped (level {params.stopped})"
                        )
                    )
                    continue
                if ilk.collateral_price == 0:
                    skipped.append(Skipped(REDO, name, subject, "blocked: no valid oracle price"))
                    continue
                reward = redo_reward(
                    tab=sale.tab,
                    lot=sale.lot,
                    feed_price=ilk.collateral_price,
                    dust_tab=params.dust_tab,
                    redo_tip=params.redo_tip,
                    redo_chip=params.redo_chip,
                )
                net = reward - redo_gas
                if net < self.config.min_profit:
                    skipped.append(
                        Skipped(
                            REDO,
                            name,
                            subject,
                            f"stale: redo reward {reward} does not pay gas {redo_gas} plus the "
                            "minimum profit",
                        )
                    )
                    continue
                actions.append(
                    KeeperAction(
                        kind=REDO,
                        ilk=name,
                        key=f"auction:redo:{info.dutch.lower()}:{auction_id}",
                        call=self.protocol.encode_redo(name, auction_id, self.account),
                        subject=subject,
                        owner=sale.owner,
                        amount=0,
                        expected_profit=reward,
                        net=net,
                        gas_stable=redo_gas,
                        gas_units=self.config.gas[REDO],
                        min_profit_guard=0,
                        expected_log=ExpectedLog(
                            info.dutch,
                            (
                                _TOPICS["Redo"],
                                _uint(auction_id),
                                _word(sale.owner),
                                _word(self.account),
                            ),
                        ),
                        auction_id=auction_id,
                    )
                )
                continue
            if params.stopped >= 3:
                skipped.append(
                    Skipped(TAKE, name, subject, f"blocked: takes stopped (level {params.stopped})")
                )
                continue
            r_coll, r_stable = reserves[name]
            best = best_flash_take(
                tab=sale.tab,
                lot=sale.lot,
                price=status.price,
                dust_tab=params.dust_tab,
                reserve_in=r_coll,
                reserve_out=r_stable,
                gas_stable=take_gas,
            )
            if best is None or best.net < self.config.min_profit:
                why = (
                    "unprofitable: the auction price is above the pair's"
                    if best is None
                    else f"unprofitable: best take nets {best.net} after gas {take_gas}"
                )
                skipped.append(Skipped(TAKE, name, subject, why))
                continue
            full_coll, full_stable = ilk.reserve_collateral, ilk.reserve_stable
            ahead = [
                replace(
                    b,
                    reserves=(
                        full_coll + reserved[(name, b.time)][0],
                        full_stable - reserved[(name, b.time)][1],
                    ),
                )
                if i > 0 and (name, b.time) in reserved
                else b
                for i, b in enumerate(
                    future_blocks(
                        sale,
                        params,
                        now=now,
                        block_time=self.config.block_time,
                        market_price=marginal_price(r_coll, r_stable),
                        competitors=self.config.competitors,
                        horizon_steps=self.config.lookahead_steps,
                    )
                )
            ]
            decision = decide_dutch_take(
                tab=sale.tab,
                lot=sale.lot,
                blocks=ahead,
                dust_tab=params.dust_tab,
                reserve_in=r_coll,
                reserve_out=r_stable,
                gas_stable=take_gas,
                min_profit=self.config.min_profit,
            )
            if not decision.take_now:
                if decision.next_take is not None:
                    # that block's pair is this auction's: later ones plan on what it leaves
                    j, planned = decision.next_take
                    key = (name, ahead[j].time)
                    dc, ds = reserved.get(key, (0, 0))
                    reserved[key] = (dc + planned.quote.slice, ds + planned.proceeds)
                skipped.append(Skipped(TAKE, name, subject, decision.reason))
                continue
            reserves[name] = (r_coll + best.quote.slice, r_stable - best.proceeds)
            guard = max(1, take_gas + self.config.min_profit)
            takes.append(
                KeeperAction(
                    kind=TAKE,
                    ilk=name,
                    key=f"auction:take:{info.dutch.lower()}:{auction_id}",
                    call=self.protocol.encode_flash_take(
                        name, auction_id, best.amount, status.price, guard
                    ),
                    subject=subject,
                    owner=sale.owner,
                    amount=best.quote.owe,
                    expected_profit=best.profit,
                    net=best.net,
                    gas_stable=take_gas,
                    gas_units=self.config.gas[TAKE],
                    min_profit_guard=guard,
                    expected_log=ExpectedLog(
                        info.dutch,
                        (_TOPICS["Take"], _uint(auction_id), _word(sale.owner), _word(self.taker)),
                    ),
                    auction_id=auction_id,
                    collateral=best.quote.slice,
                )
            )
        # sent in the order planned: each take was sized on the pair the previous ones leave
        actions.extend(takes)

    def _plan_english(
        self, snapshot: AuctionSnapshot, actions: list[KeeperAction], skipped: list[Skipped]
    ) -> None:
        now = snapshot.timestamp
        inventory = snapshot.keeper_balance
        for (name, auction_id), auction in sorted(snapshot.english.items()):
            ilk = snapshot.ilks[name]
            info = next(i for i in self.protocol.ilks() if i.name == name)
            subject = f"#{auction_id}"
            ours = auction.bidder == self.account
            if auction.can_deal(now):
                if not ours:
                    skipped.append(Skipped(DEAL, name, subject, f"won by {auction.bidder}"))
                    continue
                gas = self.gas_stable(snapshot, DEAL)
                actions.append(
                    KeeperAction(
                        kind=DEAL,
                        ilk=name,
                        key=f"auction:deal:{info.english.lower()}:{auction_id}",
                        call=self.protocol.encode_deal(name, auction_id),
                        subject=subject,
                        owner=auction.owner,
                        amount=0,
                        expected_profit=0,
                        net=-gas,
                        gas_stable=gas,
                        gas_units=self.config.gas[DEAL],
                        min_profit_guard=0,
                        expected_log=ExpectedLog(
                            info.english,
                            (_TOPICS["Deal"], _uint(auction_id), _word(self.account)),
                        ),
                        auction_id=auction_id,
                        collateral=auction.lot,
                    )
                )
                continue
            if not auction.open_for_bids(now):
                reason = (
                    "ended without bids: needs a tick"
                    if auction.bid_expiry == 0
                    else ("bidding closed at this block's time: settles next block")
                )
                skipped.append(Skipped(TEND, name, subject, reason))
                continue
            if ours:
                skipped.append(Skipped(TEND, name, subject, "we hold the best bid"))
                continue
            if not self.config.english:
                skipped.append(Skipped(TEND, name, subject, "English bidding is off"))
                continue
            kind = DENT if auction.in_dent_phase else TEND
            gas = self.gas_stable(snapshot, kind)
            bid = plan_english_bid(
                auction,
                min_bid_increase=ilk.english.min_bid_increase,
                reserve_in=ilk.reserve_collateral,
                reserve_out=ilk.reserve_stable,
                gas_stable=gas,
                min_profit=self.config.min_profit,
                now=now,
            )
            if bid is None:
                skipped.append(
                    Skipped(
                        kind,
                        name,
                        subject,
                        "unprofitable: the next legal bid leaves less "
                        "than the minimum profit at the pair's price",
                    )
                )
                continue
            pay = bid.bid
            if pay > inventory:
                skipped.append(
                    Skipped(
                        kind,
                        name,
                        subject,
                        f"inventory: bidding {pay} needs that much "
                        f"stablecoin, the account holds {inventory}",
                    )
                )
                continue
            inventory -= pay
            call = (
                self.protocol.encode_tend(name, auction_id, bid.lot, bid.bid)
                if kind == TEND
                else self.protocol.encode_dent(name, auction_id, bid.lot, bid.bid)
            )
            actions.append(
                KeeperAction(
                    kind=kind,
                    ilk=name,
                    key=f"auction:bid:{info.english.lower()}:{auction_id}",
                    call=call,
                    subject=subject,
                    owner=auction.owner,
                    amount=bid.bid,
                    expected_profit=bid.value - bid.bid,
                    net=bid.net,
                    gas_stable=gas,
                    gas_units=self.config.gas[kind],
                    min_profit_guard=0,
                    expected_log=ExpectedLog(
                        info.english,
                        (
                            _TOPICS["Tend" if kind == TEND else "Dent"],
                            _uint(auction_id),
                            _word(self.account),
                        ),
                    ),
                    approval=Approval(self.protocol.stablecoin, info.english, pay),
                    auction_id=auction_id,
                    collateral=bid.lot,
                )
            )

    # ------------------------------------------------------------------ sending

    def request_for(self, action: KeeperAction, snapshot: AuctionSnapshot) -> ExecutionRequest:
        info = next(i for i in self.protocol.ilks() if i.name == action.ilk)
        profit_wei = stable_in_wei(max(action.expected_profit, 0), snapshot.native_price)
        return ExecutionRequest(
            key=action.key,
            route=ROUTES[action.kind],
            to=checksum(action.call.to),
            data=action.call.data,
            value=action.call.value,
            user=checksum(action.owner),
            collateral=info.collateral,
            debt=self.protocol.stablecoin,
            debt_to_cover=action.amount,
            profit_asset=self.protocol.stablecoin,
            expected_profit=action.expected_profit,
            min_profit=action.min_profit_guard,
            gas_limit=action.gas_units,
            priority_fee_per_gas=self.config.priority_fee_per_gas,
            observed_block=snapshot.block_number,
            expected_log=action.expected_log,
            # a deal only hands over what was already paid for: no gas-vs-profit refusal
            expected_profit_wei=None if action.kind == DEAL else profit_wei,
            expected_net_value=action.net,
            max_fee_per_gas=self.config.max_fee_per_gas,
            approval=action.approval,
            extra={"keeper_action": action.kind, "ilk": action.ilk, "subject": action.subject},
            rival_log=self._rival_log(action, info.ilk),
            profit_log=(
                ExpectedLog(
                    self.taker,
                    (TAKEN_TOPIC, _word(action.expected_log.address), _uint(action.auction_id)),
                )
                if action.kind == TAKE and action.expected_log is not None
                else None
            ),
            profit_word=3,  # Taken(auction, id, collateralBought, paid, proceeds, profit)
        )

    def _rival_log(self, action: KeeperAction, ilk: bytes) -> ExpectedLog | None:
        """The log that means a rival got there first: their ``Take`` of this auction or their
        ``Bark`` of this vault (ours name our taker or account, and are left out)."""
        if action.kind == TAKE and action.expected_log is not None:
            return ExpectedLog(
                action.expected_log.address, (_TOPICS["Take"], _uint(action.auction_id))
            )
        if action.kind == BARK:
            return ExpectedLog(self.liquidator, (_TOPICS["Bark"], ilk, _word(action.owner)))
        return None

    def on_snapshot(self, snapshot: AuctionSnapshot) -> KeeperReport:
        """Plan, send what pays, track what is in flight."""
        report = KeeperReport(snapshot.block_number, snapshot.timestamp)
        report.actions, report.skipped = self.plan(snapshot)
        report.decided_at = time.monotonic()
        for action in report.actions:
            result = self.executor.execute(self.request_for(action, snapshot))
            report.results.append(result)
            if result.sent:
                event(
                    "keeper_sent",
                    kind=action.kind,
                    ilk=action.ilk,
                    subject=action.subject,
                    tx_hash=result.tx_hash,
                    net=action.net,
                )
            else:
                event(
                    "keeper_not_sent",
                    kind=action.kind,
                    ilk=action.ilk,
                    subject=action.subject,
                    status=str(result.status),
                    detail=result.detail,
                )
                if result.status not in (Status.IN_FLIGHT, Status.WAITING_FOR_APPROVAL):
                    report.skipped.append(
                        Skipped(
                            action.kind,
                            action.ilk,
                            action.subject,
                            f"not sent: {result.status}: {result.detail}",
                        )
                    )
        report.updates = self.executor.poll() if self.executor.live else []
        if report.updates:
            self.learn_gas()
        self.reports.append(report)
        return report

    def step(self) -> list[KeeperReport]:
        """Follow the chain to its head and act on each new snapshot."""
        return [self.on_snapshot(s) for s in self.watcher.poll()]


# ----------------------------------------------------------------------------- opening


KEEPER_FUNCTIONS = {
    "liquidator": ("bark(bytes32,address,address)", "room(bytes32)"),
    "engine": ("vault(bytes32,address)", "collateralPrice(bytes32)"),
    "taker": (
        "takeWithFlashSale(address,uint256,uint256,uint256,address,uint256)",
        "owner()",
    ),
}


def keeper_startup_checks(
    node: Node, protocol: VaultEngineAdapter, chain_id: int, account: str | None
) -> StartupReport:
    """Fail closed before anything is signed: the chain, the contracts' interfaces, the
    taker's owner, gas money."""
    checks: list[str] = []
    try:
        got = node.chain_id()
        if got != chain_id:
            raise StartupCheckFailed(
                f"the node is on chain {got}, the configuration says {chain_id}: wrong RPC URL "
                "or wrong deployment file; nothing will be signed"
            )
        checks.append(f"chain id {got}")
        for role, address in (
            ("liquidator", protocol.liquidator),
            ("engine", protocol.engine),
            ("taker", protocol.taker),
        ):
            code = node.code(address)
            if not code:
                raise StartupCheckFailed(
                    f"the {role} address {address} holds no code: check the deployment file"
                )
            missing = missing_functions(code, KEEPER_FUNCTIONS[role])
            if missing:
                raise StartupCheckFailed(
                    f"the {role} at {address} lacks {', '.join(missing)}: not a contract this "
                    "keeper can use (check the deployment file)"
                )
            checks.append(f"{role} {address}: expected interface")
        balance = None
        if account is not None:
            data = node.call({"to": protocol.taker, "data": "0x8da5cb5b"})  # owner()
            owner = Web3.to_checksum_address(data[-20:])
            if owner != checksum(account):
                raise StartupCheckFailed(
                    f"the AuctionTaker {protocol.taker} is owned by {owner}, not by the keeper's "
                    f"account {account}: transfer its ownership or use the owner's key"
                )
            balance = node.balance(account)
            if balance == 0:
                raise StartupCheckFailed(f"the account {account} has no gas money: top it up")
            checks.append(f"taker owned by {account}; gas money {balance} wei")
    except NodeUnavailable as exc:
        raise StartupCheckFailed(f"cannot reach the node for the start-up checks: {exc}") from None
    return StartupReport(chain_id, account, balance, tuple(checks))


def open_keeper_executor(
    w3: Web3,
    protocol: VaultEngineAdapter,
    config: ExecutorConfig,
    signer: Signer,
    *,
    out: Callable[[str], None] = lambda line: None,
) -> Executor:
    """The executor for the keeper: the same locks, journal and reconciliation as
    :meth:`Executor.open`, with the keeper's own start-up checks (the auction contracts and
    the taker's owner instead of the lending pool and its flash liquidator)."""
    node = Node(w3)
    path: Path = config.journal_path
    locks = Journal.lock(
        path, account=signer.address, chain_id=config.chain_id, lock_dir=config.lock_dir
    )
    journal = None
    try:
        report = keeper_startup_checks(node, protocol, config.chain_id, signer.address)
        journal = Journal.open(path, account=signer.address, chain_id=config.chain_id, locks=locks)
        executor = Executor(node, config, signer, signer.address, journal, report, out=out)
        journal.record_event("startup", "keeper: " + "; ".join(report.checks))
        executor.reconcile()
    except BaseException:
        if journal is not None:
            journal.close()
        else:
            for held in locks:
                held.release()
        raise
    return executor


__all__ = [
    "AuctionKeeper",
    "KeeperAction",
    "KeeperConfig",
    "KeeperReport",
    "Skipped",
    "keeper_startup_checks",
    "open_keeper_executor",
]
