"""Decide what to liquidate: net profit after gas, a priority-fee bid, ranking across accounts.

The bid is a share of the expected surplus (profit after the base fee), paid as priority fee
per gas and capped by a maximum fee per gas: competing bots bid for the same liquidation,
and a bot that cannot raise its bid loses it, but one that bids past its profit loses money.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from bot.model.amm import after_swap
from bot.model.gas import GasTable
from bot.model.health import account_data
from bot.model.liquidation import liquidate
from bot.model.profit import NATIVE_UNIT, VALUE_SCALE, Valuation
from bot.model.sizing import DEFAULT_MAX_STEPS, PairBook, SizedPath, size_account
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
    gross_wei = valuation.to_native(gross)
    priority = priority_fee(gross_wei - gas_units * base_fee, gas_units, base_fee, policy)
    if priority is None:
        return None
    gas_wei = gas_units * (base_fee + priority)
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
    data = account_data(market, account, timestamp)
    if not data.liquidatable or market.liquidations_paused:
        return None

    def best_of(paths: tuple[ExecutionPath, ...]) -> Opportunity | None:
        if not paths:
            return None
        sized = size_account(
            market,
            account,
            timestamp,
            pairs=pairs,
            inventory=inventory,
            paths=paths,
            max_steps=config.max_steps,
            data=data,
        )
        best: Opportunity | None = None
        for s in sized:
            opp = price_opportunity(
                account.user, data.health_factor, s, valuation, gas_table, base_fee, config.bid
            )
            if opp is None or opp.net_profit < config.min_profit or opp.net_profit <= 0:
                continue
            if best is None or opp.net_profit > best.net_profit:
                best = opp
        return best

    if config.inventory_only_without_flash and ExecutionPath.FLASH in config.paths:
        flash = best_of((ExecutionPath.FLASH,))
        if flash is not None:
            return flash
        return best_of(tuple(p for p in config.paths if p is not ExecutionPath.FLASH))
    return best_of(config.paths)


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
    """
    book = {frozenset((p.token0, p.token1)): p for p in pairs}
    stock = dict(inventory or {})
    remaining = {a.user: a for a in accounts}
    plan: list[Opportunity] = []
    while remaining and (max_liquidations is None or len(plan) < max_liquidations):
        ranked = rank_accounts(
            market,
            remaining.values(),
            timestamp,
            pairs=list(book.values()),
            valuation=replace(valuation, market=market),
            gas_table=gas_table,
            base_fee=base_fee,
            inventory=stock,
            config=config,
        )
        if not ranked:
            break
        best = ranked[0]
        plan.append(best)
        s = best.sized
        outcome = liquidate(
            market, remaining.pop(best.user), s.collateral, s.debt, s.debt_to_cover, timestamp
        )
        market = outcome.market
        key = frozenset((s.collateral, s.debt))
        if s.path is ExecutionPath.FLASH:
            book[key] = after_swap(book[key], s.collateral, s.repay, s.debt_to_cover)
        elif s.path is ExecutionPath.INVENTORY_SWAP:
            book[key] = after_swap(book[key], s.collateral, s.amounts.to_liquidator, s.swap_out)
        if s.path is not ExecutionPath.FLASH:
            stock[s.debt] = stock.get(s.debt, 0) + s.debt_gain
        if s.path is ExecutionPath.INVENTORY:
            stock[s.collateral] = stock.get(s.collateral, 0) + s.collateral_gain
    return plan
