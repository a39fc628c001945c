"""What ``liquidationCall`` does: amounts, the resulting balances, and bad-debt write-off.

``liquidation_amounts`` is the hot path used by sizing (plain integers in, integers out);
``liquidate`` applies a whole call to a market and an account, as the pool would, and raises
the pool's own error names where the pool reverts.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.frozen import quick_init, replace
from bot.model.fixed_point import percent_div, percent_mul, ray_div, ray_mul
from bot.model.health import AccountData, account_data, close_factor
from bot.model.interest import update_rates, update_state
from bot.model.types import Account, MarketState, Reserve, UserReserve


class LiquidationReverted(Exception):
    """The pool would revert; the subclass name is the contract's custom error."""


class LiquidationsPaused(LiquidationReverted):
    pass


class HealthFactorNotBelowThreshold(LiquidationReverted):
    pass


class CollateralCannotBeLiquidated(LiquidationReverted):
    pass


class SpecifiedCurrencyNotBorrowedByUser(LiquidationReverted):
    pass


class NotEnoughLiquidity(LiquidationReverted):
    """The collateral reserve's cash cannot pay the liquidator in underlying."""


class Panic(LiquidationReverted):
    """Checked arithmetic would underflow (the protocol fee exceeds the user's supply)."""


@quick_init
@dataclass(frozen=True, slots=True)
class LiquidationAmounts:
    """The amounts one ``liquidationCall`` moves, all in token units."""

    close_factor: int
    """Basis points of the debt that may be repaid (5000 or 10000)."""
    actual_debt_to_liquidate: int
    """``min(debtToCover, percentMul(userDebt, closeFactor))``."""
    debt_covered: int
    """What the liquidator pays and the user's debt falls by."""
    collateral_amount: int
    """Collateral taken from the user (liquidator's part plus protocol fee)."""
    protocol_fee: int
    to_liquidator: int
    capped_by_collateral: bool


@dataclass(frozen=True, slots=True)
class BadDebtWriteOff:
    asset: str
    loss: int
    scaled_debt: int
    new_liquidity_index: int


@quick_init
@dataclass(frozen=True, slots=True)
class LiquidationOutcome:
    """A whole ``liquidationCall``: amounts, scaled movements and the state after it."""

    amounts: LiquidationAmounts
    account_data_before: AccountData
    user_collateral: int
    user_debt: int
    debt_scaled_burnt: int
    fee_scaled: int
    """Scaled supply moved to the treasury."""
    liquidator_scaled: int
    """Scaled supply taken from the user for the liquidator (burnt unless receiveAToken)."""
    bad_debt: tuple[BadDebtWriteOff, ...]
    market: MarketState
    account: Account

    @property
    def debt_covered(self) -> int:
        return self.amounts.debt_covered

    @property
    def to_liquidator(self) -> int:
        return self.amounts.to_liquidator

    @property
    def protocol_fee(self) -> int:
        return self.amounts.protocol_fee


def liquidation_amounts(
    debt_to_cover: int,
    *,
    user_collateral: int,
    user_debt: int,
    close_factor_bps: int,
    collateral_price: int,
    debt_price: int,
    collateral_unit: int,
    debt_unit: int,
    liquidation_bonus: int,
    protocol_fee_bps: int,
) -> LiquidationAmounts:
    """Steps 4-5 of PROTOCOL.md's liquidation: close factor, seize, cap, protocol fee."""
    max_debt = percent_mul(user_debt, close_factor_bps)
    actual = debt_to_cover if debt_to_cover < max_debt else max_debt
    base = debt_price * actual * collateral_unit // (collateral_price * debt_unit)
    max_collateral = percent_mul(base, liquidation_bonus)
    if max_collateral > user_collateral:
        collateral = user_collateral
        covered = percent_div(
            collateral_price * collateral * debt_unit // (debt_price * collateral_unit),
            liquidation_bonus,
        )
        capped = True
    else:
        collateral = max_collateral
        covered = actual
        capped = False
    bonus_part = collateral - percent_div(collateral, liquidation_bonus)
    fee = percent_mul(bonus_part, protocol_fee_bps)
    return LiquidationAmounts(
        close_factor=close_factor_bps,
        actual_debt_to_liquidate=actual,
        debt_covered=covered,
        collateral_amount=collateral,
        protocol_fee=fee,
        to_liquidator=collateral - fee,
        capped_by_collateral=capped,
    )


def _has_collateral(market: MarketState, account: Account) -> bool:
    for p in account.positions:
        if (
            p.scaled_supply > 0
            and p.using_as_collateral
            and market.has_reserve(p.asset)
            and market.reserve(p.asset).config.liquidation_threshold != 0
        ):
            return True
    return False


def liquidate(
    market: MarketState,
    account: Account,
    collateral_asset: str,
    debt_asset: str,
    debt_to_cover: int,
    timestamp: int,
    *,
    receive_a_token: bool = False,
    data: AccountData | None = None,
) -> LiquidationOutcome:
    """The effect of ``liquidationCall`` mined in a block with ``timestamp``. ``data``: the
    account's data at ``market`` and ``timestamp``, where the caller already holds it (the
    planner sized the liquidation from it; computed here otherwise)."""
    if market.liquidations_paused:
        raise LiquidationsPaused()
    reserves: dict[str, Reserve] = {r.asset: r for r in market.reserves}

    def accrue(asset: str) -> Reserve:
        r = reserves[asset]
        state = update_state(r.state, timestamp)
        if state is not r.state:  # already accrued in this block: nothing to copy
            r = Reserve(r.config, state)
            reserves[asset] = r
        return r

    coll_reserve = accrue(collateral_asset)
    debt_reserve = accrue(debt_asset)
    if data is None:
        data = account_data(market, account, timestamp)
    if not data.liquidatable:
        raise HealthFactorNotBelowThreshold()

    coll_pos = account.position(collateral_asset)
    debt_pos = account.position(debt_asset)
    user_collateral = ray_mul(coll_pos.scaled_supply, coll_reserve.state.liquidity_index)
    if (
        user_collateral == 0
        or not coll_pos.using_as_collateral
        or coll_reserve.config.liquidation_threshold == 0
    ):
        raise CollateralCannotBeLiquidated()
    user_debt = ray_mul(debt_pos.scaled_debt, debt_reserve.state.variable_borrow_index)
    if user_debt == 0:
        raise SpecifiedCurrencyNotBorrowedByUser()

    amounts = liquidation_amounts(
        debt_to_cover,
        user_collateral=user_collateral,
        user_debt=user_debt,
        close_factor_bps=close_factor(data.health_factor),
        collateral_price=market.price(collateral_asset),
        debt_price=market.price(debt_asset),
        collateral_unit=coll_reserve.config.unit,
        debt_unit=debt_reserve.config.unit,
        liquidation_bonus=coll_reserve.config.liquidation_bonus,
        protocol_fee_bps=coll_reserve.config.liquidation_protocol_fee,
    )

    # 6. Debt: burn the scaled debt, the liquidator's payment becomes cash.
    if amounts.debt_covered == user_debt:
        burnt = debt_pos.scaled_debt
    else:
        burnt = min(
            ray_div(amounts.debt_covered, debt_reserve.state.variable_borrow_index),
            debt_pos.scaled_debt,
        )
    debt_state = debt_reserve.state
    reserves[debt_asset] = Reserve(
        debt_reserve.config,
        debt_state.with_balances(
            total_scaled_debt=debt_state.total_scaled_debt - burnt,
            cash=debt_state.cash + amounts.debt_covered,
        ),
    )
    account = account.with_position(
        UserReserve(
            debt_pos.asset,
            debt_pos.scaled_supply,
            debt_pos.scaled_debt - burnt,
            debt_pos.using_as_collateral,
        )
    )

    # 7. Collateral: fee to the treasury, the rest to the liquidator.
    coll_reserve = reserves[collateral_asset]
    coll_pos = account.position(collateral_asset)
    index = coll_reserve.state.liquidity_index
    fee_scaled = ray_div(amounts.protocol_fee, index)
    if fee_scaled > coll_pos.scaled_supply:
        raise Panic("protocol fee exceeds the user's scaled supply")
    remaining = coll_pos.scaled_supply - fee_scaled
    if amounts.collateral_amount == user_collateral:
        liquidator_scaled = remaining
    else:
        liquidator_scaled = min(ray_div(amounts.to_liquidator, index), remaining)
    remaining -= liquidator_scaled
    account = account.with_position(
        UserReserve(
            coll_pos.asset,
            remaining,
            coll_pos.scaled_debt,
            coll_pos.using_as_collateral and remaining != 0,
        )
    )
    if not receive_a_token:
        coll_state = coll_reserve.state
        if amounts.to_liquidator > coll_state.cash:
            raise NotEnoughLiquidity()
        reserves[collateral_asset] = Reserve(
            coll_reserve.config,
            coll_state.with_balances(
                total_scaled_supply=coll_state.total_scaled_supply - liquidator_scaled,
                cash=coll_state.cash - amounts.to_liquidator,
            ),
        )

    # 8. Bad debt: no collateral left but debt remains -> write every debt off.
    write_offs: list[BadDebtWriteOff] = []
    if remaining == 0 and not _has_collateral(market, account):
        for reserve in market.reserves:
            position = account.position(reserve.asset)
            if position.scaled_debt == 0:
                continue
            r = accrue(reserve.asset)
            state = r.state
            loss = ray_mul(position.scaled_debt, state.variable_borrow_index)
            new_index = state.liquidity_index
            if state.total_scaled_supply > 0:
                supplied = ray_mul(state.total_scaled_supply, state.liquidity_index)
                new_index = ray_div(supplied - min(loss, supplied), state.total_scaled_supply)
            r = replace(
                r,
                state=replace(
                    state,
                    total_scaled_debt=state.total_scaled_debt - position.scaled_debt,
                    liquidity_index=new_index,
                ),
            )
            if reserve.asset not in (collateral_asset, debt_asset):
                r = update_rates(r)  # its debt changed; the two liquidated ones follow below
            reserves[reserve.asset] = r
            write_offs.append(BadDebtWriteOff(reserve.asset, loss, position.scaled_debt, new_index))
            account = account.with_position(replace(position, scaled_debt=0))

    # 9. Rates of the two reserves.
    reserves[collateral_asset] = update_rates(reserves[collateral_asset])
    if debt_asset != collateral_asset:
        reserves[debt_asset] = update_rates(reserves[debt_asset])
    new_market = replace(market, reserves=tuple(reserves[r.asset] for r in market.reserves))
    return LiquidationOutcome(
        amounts=amounts,
        account_data_before=data,
        user_collateral=user_collateral,
        user_debt=user_debt,
        debt_scaled_burnt=burnt,
        fee_scaled=fee_scaled,
        liquidator_scaled=liquidator_scaled,
        bad_debt=tuple(write_offs),
        market=new_market,
        account=account,
    )
