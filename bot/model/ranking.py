"""Decide what to liquidate: net profit after gas, a priority-fee bid, ranking across accounts.

The bid is a share of the expected surplus (profit after the base fee), paid as priority fee
per gas and capped by a maximum fee per gas: competing bots bid for the same liquidation,
and a bot that cannot raise its bid loses it, but one that bids past its profit loses money.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from bot.frozen import quick_init, replace
from bot.model.amm import after_swap
from bot.model.fixed_point import PERCENTAGE_FACTOR, percent_mul, ray_mul
from bot.model.gas import GasTable
from bot.model.health import (
    AccountData,
    ReserveLevel,
    account_data,
    account_data_at,
    close_factor,
    reserve_levels,
)
from bot.model.interest import normalized_debt, normalized_income
from bot.model.liquidation import liquidate
from bot.model.profit import NATIVE_UNIT, VALUE_SCALE, Valuation
from bot.model.sizing import (
    DEFAULT_MAX_STEPS,
    PairBook,
    SeizeTerms,
    SizedPath,
    WalkMemo,
    flash_curve_ceiling,
    flash_on,
    flash_owed,
    flash_reach,
    flash_start,
    flash_value_ceiling,
    liquidation_pairs,
    seize_terms,
    size_terms,
)
from bot.model.types import Account, ExecutionPath, MarketState, PairReserves

ALL_PATHS = (ExecutionPath.FLASH, ExecutionPath.INVENTORY_SWAP, ExecutionPath.INVENTORY)


@dataclass(frozen=True, slots=True)
class BidPolicy:
    """Priority fee = ``profit_share_bps`` of the surplus per gas, within the bounds."""

    profit_share_bps: int = 2_000
    max_fee_per_gas: int = 500 * 10**9
    min_priority_fee_per_gas: int = 0


@dataclass(frozen=True, slots=True)
class DecisionConfig:
    min_profit: int = 0
    """Skip opportunities whose net profit (numeraire units, after gas) is below this."""
    bid: BidPolicy = field(default_factory=BidPolicy)
    paths: tuple[ExecutionPath, ...] = ALL_PATHS
    inventory_only_without_flash: bool = True
    """Use the bot's own tokens only for accounts no profitable flash liquidation covers
    (keeps inventory for where it is needed, and avoids holding seized collateral)."""
    max_steps: int = DEFAULT_MAX_STEPS


@quick_init
@dataclass(frozen=True, slots=True)
class Opportunity:
    """A sized, priced, bid liquidation of one account, ready for simulation and sending."""

    user: str
    health_factor: int
    sized: SizedPath
    gas_units: int
    base_fee: int
    priority_fee_per_gas: int
    max_fee_per_gas: int
    seized_value: int
    """Numeraire value of the collateral the liquidator receives (oracle price)."""
    debt_value: int
    """Numeraire value of the debt repaid."""
    swap_cost: int
    """Flash-swap fee and slippage (flash), or selling slippage (inventory + swap)."""
    gross_profit: int
    """Value of what the bot keeps, before gas (numeraire units)."""
    gas_cost: int
    net_profit: int
    min_profit_guard: int
    """Contract ``minProfit`` (``minCollateralOut`` for inventory) that still pays for gas."""

    @property
    def path(self) -> ExecutionPath:
        return self.sized.path

    @property
    def debt_to_cover(self) -> int:
        return self.sized.debt_to_cover


def priority_fee(surplus_wei: int, gas_units: int, base_fee: int, policy: BidPolicy) -> int | None:
    """Priority fee per gas to bid; None when the base fee is already above the cap."""
    headroom = policy.max_fee_per_gas - base_fee
    if headroom < 0:
        return None
    share = (surplus_wei * policy.profit_share_bps // 10_000) // gas_units if surplus_wei > 0 else 0
    return min(max(share, policy.min_priority_fee_per_gas), headroom)


def _bid(
    gross: int, gas_units: int, valuation: Valuation, base_fee: int, policy: BidPolicy
) -> tuple[int, int] | None:
    """(priority fee per gas, gas cost in wei) bid for a liquidation grossing ``gross``
    (numeraire); None when the base fee is already above the cap."""
    gross_wei = valuation.to_native(gross)
    priority = priority_fee(gross_wei - gas_units * base_fee, gas_units, base_fee, policy)
    if priority is None:
        return None
    return priority, gas_units * (base_fee + priority)


def rounding_slack(valuation: Valuation, gas_units: int) -> int:
    """How much more a lower gross may net (numeraire): net is not quite monotone in gross,
    as a priority fee rounded down one wei per gas can save more than a small loss of gross,
    and two values are floored."""
    return valuation.gas_value(gas_units + 1) + 2


def price_opportunity(
    user: str,
    health_factor: int,
    sized: SizedPath,
    valuation: Valuation,
    gas_table: GasTable,
    base_fee: int,
    policy: BidPolicy,
) -> Opportunity | None:
    """Value a sized path in the numeraire, bid for gas and net it out."""
    gas_units = gas_table.gas_for(sized.path)
    seized_value = valuation.value(sized.amounts.to_liquidator, sized.collateral)
    debt_value = valuation.value(sized.amounts.debt_covered, sized.debt)
    gross = valuation.value(sized.collateral_gain, sized.collateral) + valuation.value(
        sized.debt_gain, sized.debt
    )
    bid = _bid(gross, gas_units, valuation, base_fee, policy)
    if bid is None:
        return None
    priority, gas_wei = bid
    gas_cost = valuation.gas_value(gas_wei)
    return Opportunity(
        user=user,
        health_factor=health_factor,
        sized=sized,
        gas_units=gas_units,
        base_fee=base_fee,
        priority_fee_per_gas=priority,
        max_fee_per_gas=policy.max_fee_per_gas,
        seized_value=seized_value,
        debt_value=debt_value,
        swap_cost=seized_value - debt_value - gross,
        gross_profit=gross,
        gas_cost=gas_cost,
        net_profit=gross - gas_cost,
        min_profit_guard=_guard(sized, valuation, gas_wei),
    )


def _guard(sized: SizedPath, valuation: Valuation, gas_wei: int) -> int:
    """Break-even contract guard: below it the liquidation would not pay for its gas."""
    gas_key = gas_wei * valuation.native_price * (VALUE_SCALE // NATIVE_UNIT)
    if sized.path is ExecutionPath.INVENTORY_SWAP:
        unit_key = valuation.value_key(1, sized.debt)
        needed = -(-gas_key // unit_key)
    else:
        unit_key = valuation.value_key(1, sized.collateral)
        needed = -(-gas_key // unit_key)
        if sized.path is ExecutionPath.INVENTORY:
            debt_key = valuation.value_key(sized.amounts.debt_covered, sized.debt)
            needed = -(-(gas_key + debt_key) // unit_key)
    return min(needed, sized.contract_profit)


def net_ceiling(
    value_key: int,
    path: ExecutionPath,
    valuation: Valuation,
    gas_table: GasTable,
    base_fee: int,
    policy: BidPolicy,
) -> int | None:
    """An upper bound on the ``net_profit`` :func:`price_opportunity` gives any sized path
    whose gains are worth at most ``value_key`` (VALUE_SCALE units); None where the base fee
    is above the fee cap (nothing prices).

    Net profit is gross minus a gas cost that never falls as gross rises (the bid is a share
    of the surplus), so a lower gross nets at most ``gross gap + rounding`` less, and the
    bound is the net at the ceiling's gross plus :func:`rounding_slack`."""
    numeraire = valuation.numeraire
    gross = -(-value_key * numeraire.unit // (VALUE_SCALE * valuation.numeraire_price))
    return net_of_gross_ceiling(gross, gas_table.gas_for(path), valuation, base_fee, policy)


def net_of_gross_ceiling(
    gross: int, gas_units: int, valuation: Valuation, base_fee: int, policy: BidPolicy
) -> int | None:
    """An upper bound on the ``net_profit`` of any opportunity of ``gas_units`` whose gross
    profit (numeraire) is at most ``gross``; None where nothing prices (see
    :func:`net_ceiling`)."""
    bid = _bid(gross, gas_units, valuation, base_fee, policy)
    if bid is None:
        return None
    return gross - valuation.gas_value(bid[1]) + rounding_slack(valuation, gas_units)


def best_for_account(
    market: MarketState,
    account: Account,
    timestamp: int,
    *,
    pairs: PairBook,
    valuation: Valuation,
    gas_table: GasTable,
    base_fee: int,
    inventory: Mapping[str, int] | None = None,
    config: DecisionConfig = DecisionConfig(),
) -> Opportunity | None:
    """The most profitable liquidation of one account that clears ``min_profit``, if any."""
    return _best_for_account(
        market,
        account,
        timestamp,
        pairs=pairs,
        valuation=valuation,
        gas_table=gas_table,
        base_fee=base_fee,
        inventory=inventory,
        config=config,
    )[0]


def _best_for_account(
    market: MarketState,
    account: Account,
    timestamp: int,
    *,
    pairs: PairBook,
    valuation: Valuation,
    gas_table: GasTable,
    base_fee: int,
    inventory: Mapping[str, int] | None,
    config: DecisionConfig,
    memo: WalkMemo | None = None,
) -> tuple[Opportunity | None, bool]:
    """:func:`best_for_account`, and whether every size search behind it was exact (then the
    result is the true optimum of each path, which :func:`iter_plan`'s bounds rely on)."""
    data = account_data(market, account, timestamp)
    if not data.liquidatable or market.liquidations_paused:
        return None, True
    taken = [
        (seize_terms(market, account, c, d, timestamp, data), pairs.find(c, d))
        for c, d in liquidation_pairs(market, account)
    ]
    return _best_of_terms(
        account.user,
        data.health_factor,
        taken,
        valuation=valuation,
        gas_table=gas_table,
        base_fee=base_fee,
        inventory=inventory,
        config=config,
        memo=memo,
    )


def _best_of_terms(
    user: str,
    health_factor: int,
    taken: Sequence[tuple[SeizeTerms, PairReserves | None]],
    *,
    valuation: Valuation,
    gas_table: GasTable,
    base_fee: int,
    inventory: Mapping[str, int] | None,
    config: DecisionConfig,
    memo: WalkMemo | None,
    flash_cannot_pay: bool = False,
) -> tuple[Opportunity | None, bool]:
    """:func:`_best_for_account` of a liquidatable account from the terms of each
    (collateral, debt) it can be liquidated on and their pairs. ``flash_cannot_pay`` where
    a ceiling has shown no flash liquidation of it clears the minimum profit: the flash path
    is not sized, and the result is exact without it."""
    exact = True

    def best_of(paths: tuple[ExecutionPath, ...]) -> Opportunity | None:
        nonlocal exact
        best: Opportunity | None = None
        for terms, pair in taken:
            sized = size_terms(
                terms,
                pair,
                inventory=inventory,
                paths=paths,
                max_steps=config.max_steps,
                memo=memo,
            )
            for s in sized:
                exact = exact and s.exact
                opp = price_opportunity(
                    user, health_factor, s, valuation, gas_table, base_fee, config.bid
                )
                if opp is None or opp.net_profit < config.min_profit or opp.net_profit <= 0:
                    continue
                if best is None or opp.net_profit > best.net_profit:
                    best = opp
        return best

    if config.inventory_only_without_flash and ExecutionPath.FLASH in config.paths:
        flash = None if flash_cannot_pay else best_of((ExecutionPath.FLASH,))
        if flash is not None:
            return flash, exact
        return best_of(tuple(p for p in config.paths if p is not ExecutionPath.FLASH)), exact
    if flash_cannot_pay:
        return best_of(tuple(p for p in config.paths if p is not ExecutionPath.FLASH)), exact
    return best_of(config.paths), exact


def rank(opportunities: Iterable[Opportunity]) -> list[Opportunity]:
    """Most profitable first; ties by lower health factor (the more urgent), then user."""
    return sorted(opportunities, key=lambda o: (-o.net_profit, o.health_factor, o.user))


def rank_accounts(
    market: MarketState,
    accounts: Iterable[Account],
    timestamp: int,
    *,
    pairs: Sequence[PairReserves],
    valuation: Valuation,
    gas_table: GasTable,
    base_fee: int,
    inventory: Mapping[str, int] | None = None,
    config: DecisionConfig = DecisionConfig(),
) -> list[Opportunity]:
    """Each account's best opportunity, independently, ranked."""
    book = PairBook.of(pairs)
    found = []
    for account in accounts:
        opp = best_for_account(
            market,
            account,
            timestamp,
            pairs=book,
            valuation=valuation,
            gas_table=gas_table,
            base_fee=base_fee,
            inventory=inventory,
            config=config,
        )
        if opp is not None:
            found.append(opp)
    return rank(found)


def plan_block(
    market: MarketState,
    accounts: Sequence[Account],
    timestamp: int,
    *,
    pairs: Sequence[PairReserves],
    valuation: Valuation,
    gas_table: GasTable,
    base_fee: int,
    inventory: Mapping[str, int] | None = None,
    config: DecisionConfig = DecisionConfig(),
    max_liquidations: int | None = None,
) -> list[Opportunity]:
    """Greedy plan for one block, in execution order.

    Liquidations in one block share AMM pairs, inventory and reserves: after taking the best,
    its effects (pair reserves, inventory, the pool's state) are applied and the remaining
    accounts are re-evaluated, so later entries are priced on the state they will meet.

    Only accounts whose inputs changed are re-evaluated (see :class:`_Inputs`): the result is
    the one re-ranking every account after every liquidation gives, at a cost that grows
    with the accounts a liquidation really affects rather than with all of them.
    """
    return list(
        iter_plan(
            market,
            accounts,
            timestamp,
            pairs=pairs,
            valuation=valuation,
            gas_table=gas_table,
            base_fee=base_fee,
            inventory=inventory,
            config=config,
            max_liquidations=max_liquidations,
        )
    )


def gross_ceiling(
    market: MarketState,
    account: Account,
    timestamp: int,
    *,
    pairs: Mapping[frozenset[str], PairReserves],
    valuation: Valuation,
    data: AccountData,
    levels: Mapping[str, ReserveLevel] | None = None,
) -> int | None:
    """An upper bound on the gross profit (numeraire) of any liquidation of ``account`` on
    any path and at any size, with the pairs as they are; None when there is no cheap bound
    (a pair side worth nothing at the oracle). Net profit is never above gross.

    Per (collateral C, debt D): the bonus part, ``value(covered) * (bonus - 1)`` with
    ``covered`` at most the close factor's share of the debt; plus what selling C for D
    through the pair can earn over the oracle: the bot sells at most the collateral it
    seizes (worth at most ``covered * bonus``, and no more than the account holds), at no
    better than the pair's spot price ``r_D / r_C``, so at most
    ``value(seized) * (value(r_D) / value(r_C) - 1)``, when positive. All rounded up.

    ``levels``: the market's :func:`reserve_levels` at ``timestamp`` by asset, when the
    caller bounds many accounts at once (each index is then compounded once, not per
    account).
    """
    if not data.liquidatable or market.liquidations_paused:
        return 0
    held: list[tuple[str, int]] = []
    owed: list[tuple[str, int]] = []
    for p in account.positions:
        if not market.has_reserve(p.asset):
            continue
        r = market.reserve(p.asset)
        level = levels.get(p.asset) if levels is not None else None
        if p.using_as_collateral and p.scaled_supply > 0 and r.config.liquidation_threshold:
            income = level.income if level is not None else normalized_income(r.state, timestamp)
            held.append((p.asset, ray_mul(p.scaled_supply, income)))
        if p.scaled_debt > 0:
            debt_index = (
                level.debt_index if level is not None else normalized_debt(r.state, timestamp)
            )
            owed.append((p.asset, ray_mul(p.scaled_debt, debt_index)))
    cf = close_factor(data.health_factor)
    ceiling = 0
    for c, amount in held:
        total_bonus = market.reserve(c).config.liquidation_bonus
        bonus = max(total_bonus - PERCENTAGE_FACTOR, 0)
        held_value = valuation.value(amount, c) + 1
        for d, debt in owed:
            covered = valuation.value(percent_mul(debt, cf), d) + 1
            bound = -(-covered * bonus // PERCENTAGE_FACTOR) + 4
            seized = min(held_value, -(-covered * total_bonus // PERCENTAGE_FACTOR) + 1)
            pair = pairs.get(frozenset((c, d))) if c != d else None
            if pair is not None:
                r_c, r_d = pair.reserves_for(c)
                side_c = valuation.value(r_c, c)
                if side_c <= 0:
                    return None
                edge = valuation.value(r_d, d) + 1 - side_c
                if edge > 0:
                    bound += -(-seized * edge // side_c)
            ceiling = max(ceiling, bound)
    return ceiling


_ANY_REACH = 1 << 256
"""A reach no account's exceeds (:func:`flash_reach` is below the pair's reserve or the
debt, both uint256)."""

_SHARED_LEVELS = 8
"""Accounts bounded at once from which the reserves' levels are computed once for all
(below it, each account compounds only the indexes it uses)."""


def iter_plan(
    market: MarketState,
    accounts: Sequence[Account],
    timestamp: int,
    *,
    pairs: Sequence[PairReserves],
    valuation: Valuation,
    gas_table: GasTable,
    base_fee: int,
    inventory: Mapping[str, int] | None = None,
    config: DecisionConfig = DecisionConfig(),
    max_liquidations: int | None = None,
) -> Generator[Opportunity, None, None]:
    """:func:`plan_block`, one liquidation at a time: each is yielded as soon as it is
    decided, so that it can be sent while the rest of the plan is worked out.

    The queue holds, per account, either its exact best opportunity or an upper bound on
    it, and an account is evaluated only when its bound reaches the top (lazy greedy): an
    opportunity is taken once it is exact and no bound above it remains, so the plan is the
    one that re-evaluates everything after every liquidation. Bounds come from
    :func:`gross_ceiling` for an account not evaluated yet, and from the last exact value
    for one that a liquidation can only have made worse (its pair moved against it, or
    inventory it could use fell): see :meth:`_Inputs.affected`.

    In a crash, one lagging pair is what most accounts' flash liquidations sell into, and
    each of them moves it: every such account's value falls, and most would be sized again
    after every flash liquidation. Instead, an account whose last value is a stale bound is
    first re-bounded when it reaches the top, from the pair as it now stands and the closed
    form of its relaxed optimum (:func:`flash_value_ceiling`, a few integer operations), and
    sized only if that bound still reaches the top. Whether its flash liquidation still pays
    (which keeps the bound valid) is checked at every move, mostly by one comparison. Such
    stale accounts wait under one queue entry per curve (``park``), bounded by the one that
    reaches furthest (:func:`flash_curve_ceiling`), and come out one at a time.

    An account that reaches the top on a gross ceiling is treated the same way, unsized,
    where its flash liquidation surely pays at the size the search starts from
    (:func:`flash_start`); where its flash ceiling is below the minimum profit, it is sized
    without the flash path. Accounts whose profit curves coincide share their size searches
    (:class:`WalkMemo`), and each account's seize terms are taken once per pool-side state.
    """
    book = {frozenset((p.token0, p.token1)): p for p in pairs}
    stock = dict(inventory or {})
    remaining = {a.user: a for a in accounts}
    accounts_by = dict(remaining)
    inputs: _Inputs | None = None
    """Built once the first liquidation is taken (and sent): not on the first's path."""
    first_market = market
    heap: list[tuple[int, int, str, int]] = []
    version: dict[str, int] = {}
    best: dict[str, Opportunity] = {}
    health: dict[str, int] = {}
    data_of: dict[str, AccountData] = {}
    """Each user's account data as ``ceiling`` last took it (with its pool side)."""
    bounded: set[str] = set()
    """Users whose queue entry is an upper bound, to evaluate when it reaches the top."""
    can_bound: set[str] = set()
    """Users whose last evaluation was exact and does not hinge on the flash path being
    preferred: their value can only fall when the pair or inventory moves against them."""
    flash_bound: set[str] = set()
    """Users whose exact best is a preferred flash liquidation: their value can only fall
    while that flash liquidation still pays (checked at each move); once it does not,
    their best switches to the other paths, which may be worth more."""
    flash_first = config.inventory_only_without_flash and ExecutionPath.FLASH in config.paths
    tight: set[str] = set()
    """Bounded flash-bound users whose queue entry is :func:`flash_value_ceiling`'s bound at
    the pair as it stands: the next time they reach the top, they are sized."""
    terms_of: dict[str, list[SeizeTerms] | None] = {}
    """Seize terms of each (collateral, debt) a user can be liquidated on (None: it cannot
    be), kept until a liquidation changes its pool side (``ceiling`` drops them)."""
    curves: dict[str, list[tuple[int, str]]] = {}
    """Per curve (see ``park``), its parked users as (-reach, user), furthest reach first;
    entries of users since unparked are skipped when they come up."""
    curve_ids: dict[tuple[object, ...], str] = {}
    parked: dict[str, tuple[str, int]] = {}
    """Users queued under their curve's entry, not their own: the curve and their reach."""
    moved_curves: set[str] = set()
    """Curves parked on during a move, to queue again from the pair as it now stands."""
    memo = WalkMemo()
    no_flash: set[str] = set()
    """Users no flash liquidation of which can pay (by its ceiling), until their pool side
    or the pair moves their way (a move against them keeps it so)."""
    witness: dict[str, Opportunity] = {}
    """Per flash-bound user, a flash liquidation priced at one size that surely pays (its
    exact best, or the probe at the size sizing starts from): its flash liquidation is
    preferred while this one pays."""
    pay_limit: dict[str, int] = {}
    """Per flash-bound user, the most the pair may be owed at its last size for its flash
    liquidation to still surely pay (see ``still_pays``)."""
    need = max(config.min_profit, 1)
    # A flash liquidation that nets ``sure`` at one size nets at least ``need`` at the size
    # sizing picks (worth at least as much; net may lose a priority-fee wei per gas).
    sure = need + rounding_slack(valuation, gas_table.gas_for(ExecutionPath.FLASH))

    def sure_limit(opp: Opportunity, priced: Valuation) -> int:
        """The most the pair may be owed at ``opp``'s size for it to still net ``sure``:
        the gain falls by what is owed extra, net profit by at most that much (gas never
        costs more as gross falls) plus a floor."""
        budget = opp.net_profit - sure - 1
        return (
            opp.sized.repay + priced.amount_within(budget, opp.sized.collateral)
            if budget >= 0
            else -1
        )

    # A ceiling on gross profit is one on net profit, on whichever path nets the most from it
    # (the bid takes a share of the surplus: net is well below gross).
    path_gas = sorted({gas_table.gas_for(p) for p in config.paths})

    def push(user: str, key: int) -> None:
        version[user] = version.get(user, 0) + 1
        # The order of ``rank``: most profitable, then lowest health, then user.
        heapq.heappush(heap, (-key, health[user], user, version[user]))

    views: list[tuple[MarketState, PairBook, Valuation]] = []

    def view() -> tuple[PairBook, Valuation]:
        """The pairs and prices as the plan stands (rebuilt once per liquidation taken)."""
        if not views or views[-1][0] is not market:
            views[:] = [(market, PairBook(dict(book)), replace(valuation, market=market))]
        return views[-1][1], views[-1][2]

    def evaluate(users: Iterable[str]) -> None:
        _, priced = view()
        for user in users:
            best.pop(user, None)
            bounded.discard(user)
            can_bound.discard(user)
            flash_bound.discard(user)
            tight.discard(user)
            parked.pop(user, None)
            taken = terms_all(user)
            opp, exact = (
                (None, True)
                if taken is None
                else _best_of_terms(
                    user,
                    health[user],
                    [(t, book.get(frozenset((t.collateral, t.debt)))) for t in taken],
                    valuation=priced,
                    gas_table=gas_table,
                    base_fee=base_fee,
                    inventory=stock,
                    config=config,
                    memo=memo,
                    flash_cannot_pay=user in no_flash,
                )
            )
            if opp is None:
                version[user] = version.get(user, 0) + 1  # drops any queued bound
                continue
            if exact and flash_first and opp.path is ExecutionPath.FLASH:
                flash_bound.add(user)
                witness[user] = opp
                pay_limit[user] = sure_limit(opp, priced)
            elif exact:
                can_bound.add(user)
            best[user] = opp
            health[user] = opp.health_factor
            push(user, opp.net_profit)

    def ceiling(users: Sequence[str], pool_side_moved: bool = True) -> None:
        """Queue each user's cheap bound; evaluate it at once where there is none. Users
        whose pool side has not moved since ``data_of`` (only a pair or the inventory did)
        keep their account data and seize terms."""
        _, priced = view()
        now = []
        # Many users (the first pass): each reserve's indexes compounded once for them all.
        levels = reserve_levels(market, timestamp) if len(users) >= _SHARED_LEVELS else None
        by_asset = {level.asset: level for level in levels} if levels is not None else None
        for user in users:
            no_flash.discard(user)
            parked.pop(user, None)
            account = remaining[user]
            if pool_side_moved:
                terms_of.pop(user, None)
                data_of[user] = (
                    account_data(market, account, timestamp)
                    if levels is None
                    else account_data_at(levels, account)
                )
            data = data_of[user]
            if not data.liquidatable or market.liquidations_paused:
                version[user] = version.get(user, 0) + 1
                continue
            health[user] = data.health_factor
            bound = gross_ceiling(
                market,
                account,
                timestamp,
                pairs=book,
                valuation=priced,
                data=data,
                levels=by_asset,
            )
            net = (
                None
                if bound is None
                else max(
                    (
                        n
                        for units in path_gas
                        if (n := net_of_gross_ceiling(bound, units, priced, base_fee, config.bid))
                        is not None
                    ),
                    default=None,
                )
            )
            if net is None:
                now.append(user)
                continue
            bound = net
            best.pop(user, None)
            can_bound.discard(user)
            flash_bound.discard(user)
            tight.discard(user)
            bounded.add(user)
            push(user, bound)
        evaluate(now)

    def stale(user: str, opp: Opportunity) -> None:
        """Queue the last value as a bound, with :func:`rounding_slack`."""
        bounded.add(user)
        tight.discard(user)
        push(user, opp.net_profit + rounding_slack(valuation, opp.gas_units))

    def park(user: str) -> bool:
        """Queue a flash-bound user whose bound went stale under its curve's entry instead
        of its own (False where it has no single pair to flash on).

        In a crash, every flash liquidation through a pair lowers the flash value of every
        account on it, and hundreds of stale bounds stay above the next best value: each
        would reach the top and be re-bounded, only to fall below it (7,797 re-bounds in
        the flash phase of the bench's first crash plan). Accounts on one curve (the same
        assets, prices and bonus) are bounded together by :func:`flash_curve_ceiling` at
        the furthest reach among them, so only the curve's entry reaches the top, and each
        time it does, the account reaching furthest comes out to be re-bounded alone."""
        spot = parked.get(user)
        if spot is not None:  # parked already, on terms that stay until ``ceiling``
            moved_curves.add(spot[0])
            return True
        terms = terms_for(user)
        if terms is None or frozenset((terms.collateral, terms.debt)) not in book:
            return False
        curve = curve_ids.setdefault(
            (terms.collateral, terms.debt, terms.curve_key), f"curve {len(curve_ids)}"
        )
        reach = flash_reach(terms)
        parked[user] = (curve, reach)
        heapq.heappush(curves.setdefault(curve, []), (-reach, user))
        version[user] = version.get(user, 0) + 1  # drops its own entry
        bounded.add(user)
        tight.discard(user)
        moved_curves.add(curve)
        return True

    def curve_head(curve: str) -> str | None:
        """The parked user reaching furthest on the curve (None: none left)."""
        members = curves[curve]
        while members:
            reach, user = members[0]
            if user in remaining and parked.get(user) == (curve, -reach):
                return user
            heapq.heappop(members)
        return None

    def queue_curve(curve: str, cap: int | None = None) -> None:
        """Queue the curve's entry at its bound from the pair as it stands (its parked
        users' values only fall from there), or drop it when no one is parked on it."""
        version[curve] = version.get(curve, 0) + 1
        head = curve_head(curve)
        if head is None:
            return
        terms = terms_for(head)
        assert terms is not None  # parked users have their terms until ``ceiling`` unparks
        _, priced = view()
        net = net_ceiling(
            flash_curve_ceiling(
                terms, book[frozenset((terms.collateral, terms.debt))], parked[head][1]
            ),
            ExecutionPath.FLASH,
            priced,
            gas_table,
            base_fee,
            config.bid,
        )
        key = 0 if net is None else net  # None: nothing prices, parked users included
        # Ahead of any user at the same key: the users under it may tie with that one.
        heapq.heappush(heap, (-(key if cap is None else min(key, cap)), -1, curve, version[curve]))

    def unpark_head(curve: str, key: int) -> None:
        """The curve's entry reached the top: its head gets its own entry at that key
        (to be re-bounded alone), and the curve is queued at the next one's bound."""
        head = curve_head(curve)
        if head is None:
            return
        heapq.heappop(curves[curve])
        del parked[head]
        push(head, key)
        queue_curve(curve, cap=key)

    def terms_all(user: str) -> list[SeizeTerms] | None:
        """The user's seize terms on the pool side as it stands: taken once (a term the pool
        would refuse raises, as :func:`best_for_account` does)."""
        if user not in terms_of:
            data, account = data_of[user], remaining[user]
            terms_of[user] = (
                [
                    seize_terms(market, account, c, d, timestamp, data)
                    for c, d in liquidation_pairs(market, account)
                ]
                if data.liquidatable and not market.liquidations_paused
                else None
            )
        return terms_of[user]

    def terms_for(user: str) -> SeizeTerms | None:
        """The user's seize terms if it is liquidatable on one (collateral, debt) only."""
        taken = terms_all(user)
        return taken[0] if taken is not None and len(taken) == 1 else None

    def probe(user: str, priced: Valuation) -> None:
        """Make a bounded user flash-bound without sizing it, where its flash liquidation
        surely pays at the size sizing starts from: then that path is the one chosen, and
        its ceiling (see ``tighten``) bounds the user, far below a gross ceiling that has to
        cover every path."""
        terms = terms_for(user)
        pair = None if terms is None else book.get(frozenset((terms.collateral, terms.debt)))
        if terms is None or pair is None:
            return
        start = flash_start(terms, pair)
        if start is None:
            return
        opp = price_opportunity(user, health[user], start, priced, gas_table, base_fee, config.bid)
        if opp is not None and opp.net_profit >= sure:
            flash_bound.add(user)
            witness[user] = opp
            pay_limit[user] = sure_limit(opp, priced)

    curve_net: dict[tuple[object, ...], int | None] = {}
    """Per curve and pair state, :func:`flash_curve_ceiling`'s net bound at any reach."""

    def tighten(user: str, priced: Valuation) -> int | None:
        """A bound on the net profit of the user's flash liquidation at the pair as it
        stands, without sizing (None where there is none: several pairs to liquidate, or
        nothing prices). For a flash-bound user it bounds the user.

        Once a pair is spent, no flash liquidation through it pays for any account on a
        curve, which one bound for the whole curve shows (at a reach no account exceeds):
        the accounts that then reach the top one by one, a thousand in a crash, each take
        that answer instead of a bound of their own."""
        terms = terms_for(user)
        if terms is None:
            return None
        pair = book.get(frozenset((terms.collateral, terms.debt)))
        if pair is None:
            return 0  # no pair to flash-borrow from: no flash liquidation at all
        if user not in flash_bound:
            key = (terms.collateral, terms.debt, terms.curve_key, pair.reserve0, pair.reserve1)
            if key not in curve_net:
                curve_net[key] = net_ceiling(
                    flash_curve_ceiling(terms, pair, _ANY_REACH),
                    ExecutionPath.FLASH,
                    priced,
                    gas_table,
                    base_fee,
                    config.bid,
                )
            whole = curve_net[key]
            if whole is not None and whole < need:
                return whole
        return net_ceiling(
            flash_value_ceiling(terms, pair),
            ExecutionPath.FLASH,
            priced,
            gas_table,
            base_fee,
            config.bid,
        )

    def still_pays(opp: Opportunity, priced: Valuation) -> bool:
        """The account's preferred flash liquidation still pays at its last size. Most
        accounts pass on one integer comparison: the gain falls by what the pair is owed
        extra, and net profit by at most that much (gas never costs more as gross falls).

        That test is loose (the bid falls with gross, so net falls by less). Once it
        fails, the liquidation is priced again, and if it still pays, that price becomes
        the user's witness that later moves are tested from: a test based on the first
        price, with the pair draining move after move, keeps failing once it has (in the
        flash phase of the bench's first crash plan, 2,791 of 12,506 checks were priced
        again; 1,842 now). The answer is the same either way, as a passing test implies
        the price does."""
        s = opp.sized
        pair = book[frozenset((s.collateral, s.debt))]
        x = s.debt_to_cover
        r_coll, r_debt = pair.reserves_for(s.collateral)
        if x < r_debt:
            owed = flash_owed(x, r_coll, r_debt)
            if owed <= s.amounts.to_liquidator and owed <= pay_limit.get(opp.user, -1):
                return True
        moved = flash_on(s, pair, market)
        if moved is None:
            return False
        again = price_opportunity(
            opp.user, opp.health_factor, moved, priced, gas_table, base_fee, config.bid
        )
        if again is None or again.net_profit < sure:
            return False
        witness[opp.user] = again
        pay_limit[opp.user] = sure_limit(again, priced)
        return True

    ceiling(list(remaining))
    taken = 0
    while remaining and (max_liquidations is None or taken < max_liquidations):
        chosen: Opportunity | None = None
        while heap:
            top, _, user, seen = heapq.heappop(heap)
            if user in curves:
                if version[user] == seen:
                    unpark_head(user, -top)
                continue
            if user not in remaining or version[user] != seen:
                continue
            if user in bounded:
                if flash_first and user not in tight:
                    priced = view()[1]
                    bound = tighten(user, priced)
                    if bound is not None and bound < need and user not in flash_bound:
                        no_flash.add(user)  # not sized: no flash liquidation of it pays
                    elif bound is not None:
                        if user not in flash_bound:
                            probe(user, priced)
                        if user in flash_bound:
                            tight.add(user)
                            push(user, min(bound, -top))
                            continue
                evaluate((user,))  # exact now: back into the queue at its true place
                continue
            chosen = best[user]
            break
        if chosen is None:
            break
        yield chosen
        taken += 1
        s = chosen.sized
        outcome = liquidate(
            market,
            remaining.pop(chosen.user),
            s.collateral,
            s.debt,
            s.debt_to_cover,
            timestamp,
            data=data_of[chosen.user],  # what its seize terms came from: current (``affected``)
        )
        before_market, before_stock = market, dict(stock)
        market = outcome.market
        key = frozenset((s.collateral, s.debt))
        sold: tuple[str, str] | None = None
        if s.path is ExecutionPath.FLASH:
            book[key] = after_swap(book[key], s.collateral, s.repay, s.debt_to_cover)
            sold = (s.collateral, s.debt)
        elif s.path is ExecutionPath.INVENTORY_SWAP:
            book[key] = after_swap(book[key], s.collateral, s.amounts.to_liquidator, s.swap_out)
            sold = (s.collateral, s.debt)
        if s.path is not ExecutionPath.FLASH:
            stock[s.debt] = stock.get(s.debt, 0) + s.debt_gain
        if s.path is ExecutionPath.INVENTORY:
            stock[s.collateral] = stock.get(s.collateral, 0) + s.collateral_gain
        if inputs is None:
            inputs = _Inputs(first_market, timestamp, accounts_by.values())
        changed, worse = inputs.affected(
            before_market,
            market,
            assets=(s.collateral, s.debt),
            sold=sold,
            stock_before=before_stock,
            stock_after=stock,
        )
        _, priced = view()
        again: list[str] = []
        again_off_pool: list[str] = []
        """Users to bound again whose pool side this liquidation left as it was."""
        for user in sorted((changed | worse) & remaining.keys()):
            opp = best.get(user)
            if user in changed:
                again.append(user)
            elif user in flash_bound:
                if not still_pays(witness[user], priced):
                    again_off_pool.append(user)
                elif park(user):
                    pass  # still bounded (its value only fell), under its curve
                elif user in bounded:
                    tight.discard(user)  # still a bound (its value only fell); re-tighten
                elif opp is not None:  # always: an unbounded user has been sized
                    stale(user, opp)
            elif opp is None and user in bounded:
                continue  # a ceiling only falls when the pair or inventory moves against it
            elif opp is not None and user in can_bound:
                if user not in bounded:
                    stale(user, opp)
            else:
                again_off_pool.append(user)
        ceiling(again)
        ceiling(again_off_pool, pool_side_moved=False)
        for curve in sorted(moved_curves):
            queue_curve(curve)
        moved_curves.clear()


class _Inputs:
    """What each account's best opportunity is computed from, to find whom a liquidation
    affects. ``best_for_account`` reads, for an account, only:

    - per reserve it holds: the configuration, the liquidity index normalized to the
      block's timestamp if it supplies the asset and the borrow index if it owes it (cash,
      rates and totals are not read; a balance of zero makes its index irrelevant);
    - the AMM pair of any two assets it holds;
    - the inventory of each asset it owes, only up to its debt in it (sizing caps a
      liquidation at ``min(balance, debt)`` and never covers more than the debt);
    - prices, gas, fees and the decision configuration, which no liquidation changes.
    """

    def __init__(self, market: MarketState, timestamp: int, accounts: Iterable[Account]) -> None:
        self.timestamp = timestamp
        self.by_asset: dict[str, set[str]] = {}
        self.suppliers: dict[str, set[str]] = {}
        self.owers: dict[str, set[str]] = {}
        self.by_pair: dict[frozenset[str], set[str]] = {}
        self.debts: dict[str, list[tuple[int, str]]] = {}
        """asset -> (debt in token units, user), sorted."""
        for account in accounts:
            assets = [p.asset for p in account.positions]
            for asset in assets:
                self.by_asset.setdefault(asset, set()).add(account.user)
            for i, a in enumerate(assets):
                for b in assets[i + 1 :]:
                    self.by_pair.setdefault(frozenset((a, b)), set()).add(account.user)
            for p in account.positions:
                if p.scaled_supply:
                    self.suppliers.setdefault(p.asset, set()).add(account.user)
                if p.scaled_debt:
                    self.owers.setdefault(p.asset, set()).add(account.user)
                if p.scaled_debt and market.has_reserve(p.asset):
                    index = normalized_debt(market.reserve(p.asset).state, timestamp)
                    debt = ray_mul(p.scaled_debt, index)
                    self.debts.setdefault(p.asset, []).append((debt, account.user))
        for entries in self.debts.values():
            entries.sort()

    def _view(self, market: MarketState, asset: str) -> tuple[object, int, int] | None:
        if not market.has_reserve(asset):
            return None
        r = market.reserve(asset)
        t = self.timestamp
        return (r.config, normalized_income(r.state, t), normalized_debt(r.state, t))

    def affected(
        self,
        before: MarketState,
        after: MarketState,
        *,
        assets: Iterable[str],
        sold: tuple[str, str] | None,
        stock_before: Mapping[str, int],
        stock_after: Mapping[str, int],
    ) -> tuple[set[str], set[str]]:
        """Accounts whose inputs differ between the two states, in two sets: those whose
        best may have moved either way, and those whose every path can only have become
        worse (``sold`` = (asset in, asset out) of a swap through their pair, for a holder
        who could not swap the other way; inventory that fell).

        Why "only worse" holds: a swap that put ``a`` into the pair and took ``b`` out
        leaves less ``b`` for any later ``a`` (the flash and swap paths sell collateral
        ``a`` for debt ``b``), and less inventory narrows a size search's range. The
        optimum of each path over a range of sizes where every size pays less, or over a
        smaller range, cannot rise."""
        changed: set[str] = set()
        worse: set[str] = set()
        for asset in set(assets):
            was, now = self._view(before, asset), self._view(after, asset)
            if was is None or now is None or was[0] != now[0]:
                changed |= self.by_asset.get(asset, set())
                continue
            if was[1] != now[1]:
                changed |= self.suppliers.get(asset, set())
            if was[2] != now[2]:
                changed |= self.owers.get(asset, set())
        if (before.liquidations_paused, before.prices) != (after.liquidations_paused, after.prices):
            for users in self.by_asset.values():
                changed |= users
        if sold is not None:
            into, out_of = sold
            holders = self.by_pair.get(frozenset(sold), set())
            # A holder supplying what left the pair and owing what entered it could swap
            # the other way, which the move made cheaper.
            both_ways = holders & self.suppliers.get(out_of, set()) & self.owers.get(into, set())
            changed |= both_ways
            worse |= holders - both_ways
        for asset in set(stock_before) | set(stock_after):
            old, new = stock_before.get(asset, 0), stock_after.get(asset, 0)
            if old == new:
                continue
            # min(stock, debt) changes exactly for the debts above the lower of the two.
            entries = self.debts.get(asset, [])
            start = bisect.bisect_right(entries, (min(old, new), "\U0010ffff"))
            moved = {user for _, user in entries[start:]}
            if new < old:
                worse |= moved
            else:
                changed |= moved
        return changed, worse
