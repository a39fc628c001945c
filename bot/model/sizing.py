"""The ``debtToCover`` that maximises profit, per execution path and per (collateral, debt).

How it works, and why it converges
----------------------------------
Fix an account, a block timestamp and a (collateral, debt) pair. Below the point where the
seize would exceed the user's collateral (``x_cap``) and the close-factor limit, the pool
covers exactly ``x`` (the size) and the liquidator receives ``s(x)`` collateral, an integer
staircase that follows ``k*x`` within ``eps_s = bonus/1e4 + 1.5`` units (``k`` is the
oracle exchange rate times bonus, net of the protocol fee). Each path's profit is then
``f(x) = G(s(x)) - H(x)`` with G non-decreasing and H increasing:

- flash: ``s(x) - getAmountIn(x, rC, rD)`` (collateral units);
- inventory + swap: ``getAmountOut(s(x), rC, rD) - x`` (debt units);
- inventory: ``value(s(x)) - value(x)`` at oracle prices.

Its continuous relaxation F (replace ``s`` by ``k*x`` and the AMM's floors by the exact
Moebius maps of ``amm.Curve``) is concave: a linear term plus a concave one (the AMM output
is concave, the input needed is convex). Its maximiser has a closed form: for flash
``x* = (A - sqrt(A*B/k)) / C``, for the swap ``x* = (sqrt(A*B*k) - B) / (C*k)``, for inventory
the upper end. And ``|f - F| <= eps`` everywhere, ``eps`` bounding all the floors: for flash
``eps_s + 1`` collateral units, for the swap ``(A/B)*eps_s + 1`` debt units, for inventory the
value of ``eps_s`` collateral units (checked against exact rationals in the tests).

Exact refinement: because G(s(x)) is constant while ``s`` is, and H increases, the best ``x``
in any run of equal ``s`` is its smallest, so only the "left edges" of the staircase are
candidates; they are found in closed form (``SeizeTerms.x_for``). Starting at the edge
nearest ``x*`` we walk edges outwards in both directions. We stop in one direction at the
first edge ``y`` with ``f(y) < best - 2*eps``: then ``F(y) <= f(y) + eps < best - eps <=
F(x_best)`` with ``y`` beyond ``x_best``, so by concavity F only falls from ``y`` on, and every
later ``z`` has ``f(z) <= F(z) + eps < F(y) + eps <= f(y) + 2*eps < best``. When both
walks stop this way (or hit the domain's ends) the result is the exact integer optimum;
if a walk runs out of its step budget, the result is still within ``2*eps`` profit units
of it (``f(best) >= f(x0) >= F(x*) - eps >= max f - 2*eps`` up to the rounding of ``x*``).
``SizedPath.exact`` says which case happened.

Above ``x_cap`` the seize is capped: the outcome no longer depends on ``x``, so the only
candidate is the smallest size that reaches it and still covers what the pool pulls
(``max(x_cap + 1, debt_covered)``); it is evaluated exactly and compared with the rest.
Past the last size the pool uses (that one, or the close-factor limit), a flash-borrowed
surplus comes back to the bot as debt tokens; ``getAmountIn`` rises in whole collateral units,
so the surplus up to the end of the current step is free: that "free tail" is one more exact
candidate. Borrowing further would be an AMM trade, not a liquidation, and is never chosen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from math import isqrt

from bot.frozen import quick_init, replace
from bot.model.amm import Curve
from bot.model.fixed_point import percent_mul, ray_mul
from bot.model.health import AccountData, account_data, close_factor
from bot.model.interest import normalized_debt, normalized_income
from bot.model.liquidation import (
    CollateralCannotBeLiquidated,
    HealthFactorNotBelowThreshold,
    LiquidationAmounts,
    LiquidationsPaused,
    SpecifiedCurrencyNotBorrowedByUser,
    liquidation_amounts,
)
from bot.model.profit import VALUE_SCALE
from bot.model.types import Account, ExecutionPath, MarketState, PairReserves

DEFAULT_MAX_STEPS = 24


@quick_init
@dataclass(frozen=True, slots=True)
class SeizeTerms:
    """Everything a liquidation of one (collateral, debt) pair depends on, at one timestamp."""

    collateral: str
    debt: str
    user_collateral: int
    user_debt: int
    close_factor: int
    collateral_price: int
    debt_price: int
    collateral_unit: int
    debt_unit: int
    liquidation_bonus: int
    protocol_fee: int
    max_debt: int = field(init=False)
    """``percentMul(userDebt, closeFactor)``: sizes above it change nothing."""
    x_cap: int = field(init=False)
    """Largest size whose seize does not exceed the user's collateral."""
    curve_key: tuple[int, ...] = field(init=False, repr=False, compare=False)
    """What ``seized``, ``x_for``, ``to_liquidator`` and the value keys depend on: the
    terms of every account liquidated on this (collateral, debt) in one state share it."""
    _qn: int = field(init=False, repr=False)
    _qd: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        qn = self.debt_price * self.collateral_unit
        qd = self.collateral_price * self.debt_unit
        object.__setattr__(self, "_qn", qn)
        object.__setattr__(self, "_qd", qd)
        curve = (
            self.collateral_price,
            self.debt_price,
            self.collateral_unit,
            self.debt_unit,
            self.liquidation_bonus,
            self.protocol_fee,
        )
        object.__setattr__(self, "curve_key", curve)
        object.__setattr__(self, "max_debt", percent_mul(self.user_debt, self.close_factor))
        # largest base with percentMul(base, bonus) <= userCollateral, then largest x with
        # floor(x * qn / qd) <= that base
        base_max = ((self.user_collateral + 1) * 10_000 - 5_001) // self.liquidation_bonus
        object.__setattr__(self, "x_cap", ((base_max + 1) * qd - 1) // qn)

    def amounts(self, debt_to_cover: int) -> LiquidationAmounts:
        """The exact outcome for any size (capped or not)."""
        return liquidation_amounts(
            debt_to_cover,
            user_collateral=self.user_collateral,
            user_debt=self.user_debt,
            close_factor_bps=self.close_factor,
            collateral_price=self.collateral_price,
            debt_price=self.debt_price,
            collateral_unit=self.collateral_unit,
            debt_unit=self.debt_unit,
            liquidation_bonus=self.liquidation_bonus,
            protocol_fee_bps=self.protocol_fee,
        )

    def seized(self, x: int) -> int:
        """Collateral taken (fee included) for an uncapped size ``x``."""
        return (x * self._qn // self._qd * self.liquidation_bonus + 5_000) // 10_000

    def to_liquidator(self, collateral: int) -> int:
        bonus = self.liquidation_bonus
        bonus_part = collateral - (collateral * 10_000 + bonus // 2) // bonus
        return collateral - (bonus_part * self.protocol_fee + 5_000) // 10_000

    def x_for(self, collateral: int) -> int:
        """Smallest size whose (uncapped) seize is at least ``collateral``."""
        numerator = collateral * 10_000 - 5_000
        if numerator <= 0:
            return 0
        base = -(-numerator // self.liquidation_bonus)
        return -(-base * self._qd // self._qn)

    @property
    def rate(self) -> tuple[int, int]:
        """``k = kn/kd``: collateral to the liquidator per unit of debt covered (relaxed)."""
        bonus = self.liquidation_bonus
        kn = self._qn * (bonus * 10_000 - (bonus - 10_000) * self.protocol_fee)
        return kn, self._qd * 10**8

    @property
    def eps_seize(self) -> int:
        """Bound on ``|s(x) - k*x|``: a little over ``bonus/1e4 + 1.5``, rounded up."""
        return (self.liquidation_bonus + 15_000) // 10_000 + 1

    def collateral_key(self, amount: int) -> int:
        return amount * self.collateral_price * (VALUE_SCALE // self.collateral_unit)

    def debt_key(self, amount: int) -> int:
        return amount * self.debt_price * (VALUE_SCALE // self.debt_unit)


def seize_terms(
    market: MarketState,
    account: Account,
    collateral: str,
    debt: str,
    timestamp: int,
    data: AccountData | None = None,
) -> SeizeTerms:
    """The terms of liquidating ``account`` in a block at ``timestamp``; raises as the pool."""
    if market.liquidations_paused:
        raise LiquidationsPaused()
    if data is None:
        data = account_data(market, account, timestamp)
    if not data.liquidatable:
        raise HealthFactorNotBelowThreshold()
    coll_reserve = market.reserve(collateral)
    debt_reserve = market.reserve(debt)
    coll_pos = account.position(collateral)
    user_collateral = ray_mul(
        coll_pos.scaled_supply, normalized_income(coll_reserve.state, timestamp)
    )
    if (
        user_collateral == 0
        or not coll_pos.using_as_collateral
        or coll_reserve.config.liquidation_threshold == 0
    ):
        raise CollateralCannotBeLiquidated()
    user_debt = ray_mul(
        account.position(debt).scaled_debt, normalized_debt(debt_reserve.state, timestamp)
    )
    if user_debt == 0:
        raise SpecifiedCurrencyNotBorrowedByUser()
    return SeizeTerms(
        collateral=collateral,
        debt=debt,
        user_collateral=user_collateral,
        user_debt=user_debt,
        close_factor=close_factor(data.health_factor),
        collateral_price=market.price(collateral),
        debt_price=market.price(debt),
        collateral_unit=coll_reserve.config.unit,
        debt_unit=debt_reserve.config.unit,
        liquidation_bonus=coll_reserve.config.liquidation_bonus,
        protocol_fee=coll_reserve.config.liquidation_protocol_fee,
    )


def liquidation_pairs(market: MarketState, account: Account) -> list[tuple[str, str]]:
    """Every (collateral, debt) the pool would accept for this account, in reserve order."""
    collaterals: list[str] = []
    debts: list[str] = []
    held = {p.asset: p for p in account.positions}
    for reserve in market.reserves:
        p = held.get(reserve.asset)
        if p is None:
            continue
        if p.using_as_collateral and p.scaled_supply > 0 and reserve.config.liquidation_threshold:
            collaterals.append(reserve.asset)
        if p.scaled_debt > 0:
            debts.append(reserve.asset)
    return [(c, d) for c in collaterals for d in debts]


@quick_init
@dataclass(frozen=True, slots=True)
class SizedPath:
    """One execution path at one size, evaluated exactly as the contracts would run it."""

    path: ExecutionPath
    collateral: str
    debt: str
    debt_to_cover: int
    amounts: LiquidationAmounts
    repay: int
    """Flash: collateral owed to the pair (``getAmountIn``); else 0."""
    swap_out: int
    """Inventory + swap: debt asset received for the seized collateral; else 0."""
    collateral_gain: int
    """Collateral the bot ends with (flash: seized - owed; inventory: seized; swap: 0)."""
    debt_gain: int
    """Debt asset the bot ends with, signed (flash: unused; inventory: -covered;
    swap: out - covered)."""
    value_key: int
    """Exact value of the gains at oracle prices (VALUE_SCALE units), for comparisons."""
    exact: bool = True
    """The size is the proven integer optimum of the path (see module docstring)."""
    evaluations: int = 1

    @property
    def contract_profit(self) -> int:
        """The ``profit`` the liquidator contract checks against ``minProfit``."""
        if self.path is ExecutionPath.FLASH:
            return self.collateral_gain
        if self.path is ExecutionPath.INVENTORY_SWAP:
            return self.debt_gain
        return self.amounts.to_liquidator

    @property
    def profit_asset(self) -> str:
        return self.debt if self.path is ExecutionPath.INVENTORY_SWAP else self.collateral


def flash_owed(x: int, r_coll: int, r_debt: int) -> int:
    """Collateral the pair is owed for flash-borrowing ``x`` of the debt asset
    (``getAmountIn``; ``x < r_debt``)."""
    return r_coll * x * 1000 // ((r_debt - x) * 997) + 1


def _free_tail(x: int, r_coll: int, r_debt: int) -> int:
    """Largest size owing the pair no more collateral than ``x`` does.

    Past the last size the pool covers, the flash liquidator returns what it borrowed but did
    not use; ``getAmountIn`` is a staircase in collateral units, so up to the end of the
    current step that extra debt costs nothing. (Further steps would buy the debt asset at
    the pair's price: an AMM trade, not a liquidation, and never chosen.)
    """
    owed = flash_owed(x, r_coll, r_debt)
    # floor(r_coll*y*1000 / ((r_debt-y)*997)) <= owed-1
    #   <=>  y * (r_coll*1000 + owed*997) < owed*997*r_debt
    top = (owed * 997 * r_debt - 1) // (r_coll * 1000 + owed * 997)
    return min(top, r_debt - 1)


def _amount_out(amount_in: int, r_in: int, r_out: int) -> int:
    with_fee = amount_in * 997
    return with_fee * r_out // (r_in * 1000 + with_fee)


def evaluate(
    terms: SeizeTerms,
    path: ExecutionPath,
    debt_to_cover: int,
    *,
    pair: PairReserves | None = None,
    balance: int | None = None,
    exact: bool = True,
    evaluations: int = 1,
) -> SizedPath | None:
    """The exact result of running ``path`` at ``debt_to_cover``; None if it would revert.
    (``exact`` and ``evaluations`` are a size search's, passed on to the result.)

    ``balance`` is the liquidator contract's own balance of the debt asset (inventory paths;
    None means unlimited); ``pair`` the (collateral, debt) pair (flash and swap paths).
    Mirrors FlashLiquidator.sol: the flash path borrows exactly ``debt_to_cover``, owes
    ``getAmountIn(debt_to_cover)`` on the pre-swap reserves and returns unused debt.
    """
    if debt_to_cover <= 0:
        return None
    amounts = terms.amounts(debt_to_cover)
    covered = amounts.debt_covered
    seized = amounts.to_liquidator
    if path is ExecutionPath.FLASH:
        if pair is None or terms.collateral == terms.debt:
            return None
        r_coll, r_debt = pair.reserves_for(terms.collateral)
        if debt_to_cover >= r_debt or covered > debt_to_cover:
            return None
        owed = flash_owed(debt_to_cover, r_coll, r_debt)
        if seized < owed:
            return None
        gain_c, gain_d = seized - owed, debt_to_cover - covered
        return SizedPath(
            path,
            terms.collateral,
            terms.debt,
            debt_to_cover,
            amounts,
            owed,
            0,
            gain_c,
            gain_d,
            terms.collateral_key(gain_c) + terms.debt_key(gain_d),
            exact,
            evaluations,
        )
    if balance is not None and covered > balance:
        return None
    if covered > debt_to_cover:  # the pool pulls more than the approved allowance
        return None
    if path is ExecutionPath.INVENTORY:
        return SizedPath(
            path,
            terms.collateral,
            terms.debt,
            debt_to_cover,
            amounts,
            0,
            0,
            seized,
            -covered,
            terms.collateral_key(seized) - terms.debt_key(covered),
            exact,
            evaluations,
        )
    if pair is None or terms.collateral == terms.debt:
        return None
    r_coll, r_debt = pair.reserves_for(terms.collateral)
    out = _amount_out(seized, r_coll, r_debt)
    if out == 0 or out < covered:
        return None
    return SizedPath(
        path,
        terms.collateral,
        terms.debt,
        debt_to_cover,
        amounts,
        0,
        out,
        0,
        out - covered,
        terms.debt_key(out - covered),
        exact,
        evaluations,
    )


@quick_init
@dataclass(frozen=True, slots=True)
class _Search:
    best_x: int
    best_f: int
    exact: bool
    evaluations: int
    reach: int
    """The largest size the rightward walk compared with ``hi`` and found within it."""
    stopped_by: int | None
    """The size past ``hi`` that ended the rightward walk, if that is what ended it."""

    def holds_for(self, hi: int) -> bool:
        """The walk would have run the same with this ``hi``: every size it compared with
        its own ``hi`` compares the same way with this one."""
        return self.reach <= hi and (self.stopped_by is None or self.stopped_by > hi)


class WalkMemo:
    """Size searches already run, to share between accounts whose profit curves coincide.

    A walk depends on an account only through its prices, units, bonus and fee (the curve
    of ``s(x)``), the pair, the start and the range; in a crash many accounts large enough
    for the pair's optimum differ only in the range's top, which most walks never reach.
    One memo serves one plan (its pair states): it grows with the walks it runs."""

    __slots__ = ("_runs", "hits")

    def __init__(self) -> None:
        self._runs: dict[tuple[object, ...], list[_Search]] = {}
        self.hits = 0

    def walk(
        self,
        f: _Profit,
        terms: SeizeTerms,
        x0: int,
        lo: int,
        hi: int,
        eps: int,
        max_steps: int,
    ) -> _Search:
        key = (f.curve_key(), terms.curve_key, x0, lo, eps, max_steps)
        runs = self._runs.setdefault(key, [])
        for run in runs:
            if run.holds_for(hi):
                self.hits += 1
                return run
        run = _walk(f, terms, x0, lo, hi, eps, max_steps)
        runs.append(run)
        return run


def _walk(
    f: _Profit, terms: SeizeTerms, x0: int, lo: int, hi: int, eps: int, max_steps: int
) -> _Search:
    """Walk the staircase's left edges out from ``x0``; see the module docstring."""
    best_x, best_f = x0, f(x0)
    evaluations = 1
    exact = True
    slack = 2 * eps
    # rightwards
    x, steps = x0, 0
    reach, stopped_by = x0, None
    while True:
        nx = terms.x_for(terms.seized(x) + 1)
        if nx > hi:
            stopped_by = nx
            break
        reach = nx
        if steps == max_steps:
            exact = False
            break
        steps += 1
        v = f(nx)
        evaluations += 1
        if v > best_f:
            best_x, best_f = nx, v
        elif v < best_f - slack:
            break
        x = nx
    # leftwards
    x, steps = x0, 0
    while x > lo:
        px = max(terms.x_for(terms.seized(x - 1)), lo)
        if steps == max_steps:
            exact = False
            break
        steps += 1
        v = f(px)
        evaluations += 1
        if v >= best_f:  # ties go to the smaller size
            best_x, best_f = px, v
        elif v < best_f - slack:
            break
        x = px
    return _Search(best_x, best_f, exact, evaluations, reach, stopped_by)


class _Profit:
    """Exact profit of a path for an uncapped size (covered == x), in its own units."""

    def __call__(self, x: int) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    def curve_key(self) -> tuple[object, ...]:
        """What the profit depends on besides the seize terms' curve."""
        raise NotImplementedError  # pragma: no cover - interface


class _FlashProfit(_Profit):
    __slots__ = ("r_coll", "r_debt", "terms")

    def __init__(self, terms: SeizeTerms, r_coll: int, r_debt: int) -> None:
        self.terms, self.r_coll, self.r_debt = terms, r_coll, r_debt

    def curve_key(self) -> tuple[object, ...]:
        return ("flash", self.r_coll, self.r_debt)

    def __call__(self, x: int) -> int:
        t = self.terms
        return t.to_liquidator(t.seized(x)) - flash_owed(x, self.r_coll, self.r_debt)


class _SwapProfit(_Profit):
    __slots__ = ("r_coll", "r_debt", "terms")

    def __init__(self, terms: SeizeTerms, r_coll: int, r_debt: int) -> None:
        self.terms, self.r_coll, self.r_debt = terms, r_coll, r_debt

    def curve_key(self) -> tuple[object, ...]:
        return ("swap", self.r_coll, self.r_debt)

    def __call__(self, x: int) -> int:
        t = self.terms
        return _amount_out(t.to_liquidator(t.seized(x)), self.r_coll, self.r_debt) - x


class _InventoryProfit(_Profit):
    __slots__ = ("terms",)

    def __init__(self, terms: SeizeTerms) -> None:
        self.terms = terms

    def curve_key(self) -> tuple[object, ...]:
        return ("inventory",)

    def __call__(self, x: int) -> int:
        t = self.terms
        return t.collateral_key(t.to_liquidator(t.seized(x))) - t.debt_key(x)


def flash_optimum(terms: SeizeTerms, curve: Curve) -> int:
    """Maximiser of ``k*x - B*x/(A - C*x)`` (floor); 0 when no size is profitable."""
    kn, kd = terms.rate
    a, b, c = curve.a, curve.b, curve.c
    if kn * a <= b * kd:
        return 0
    return max((a - isqrt(a * b * kd // kn)) // c, 0)


def swap_optimum(terms: SeizeTerms, curve: Curve) -> int:
    """Maximiser of ``A*k*x / (B + C*k*x) - x`` (floor); 0 when no size is profitable."""
    kn, kd = terms.rate
    a, b, c = curve.a, curve.b, curve.c
    if a * kn <= b * kd:
        return 0
    return max((isqrt(a * b * kn // kd) - b) * kd // (c * kn), 0)


def _start(terms: SeizeTerms, x_star: int, lo: int, hi: int) -> int:
    x = min(max(x_star, lo), hi)
    return max(terms.x_for(terms.seized(x)), lo)


def _edge_candidates(
    terms: SeizeTerms, path: ExecutionPath, pair: PairReserves | None
) -> list[int]:
    """Sizes beyond the walk's range that sizing evaluates exactly (see the module
    docstring): the capped one, and for flash the free tail past the last size the pool
    uses."""
    candidates: list[int] = []
    if terms.x_cap < terms.max_debt:
        capped = terms.amounts(terms.x_cap + 1)
        x_c = max(terms.x_cap + 1, capped.debt_covered)
        candidates.append(x_c)
        last = x_c  # the pool covers no more beyond this
    else:
        last = terms.max_debt
    if path is ExecutionPath.FLASH and pair is not None and last < pair.reserves_for(terms.debt)[0]:
        tail = _free_tail(last, *pair.reserves_for(terms.collateral))
        if tail > last:
            candidates.append(tail)
    return candidates


def size_path(
    terms: SeizeTerms,
    path: ExecutionPath,
    *,
    pair: PairReserves | None = None,
    balance: int | None = None,
    max_steps: int = DEFAULT_MAX_STEPS,
    memo: WalkMemo | None = None,
) -> SizedPath | None:
    """The most valuable size for ``path``; None if no size runs without reverting.
    ``memo`` shares walks between calls (the result is the same with or without it)."""
    lo = 1
    hi = min(terms.max_debt, terms.x_cap)
    if path is ExecutionPath.INVENTORY:
        f: _Profit = _InventoryProfit(terms)
        if balance is not None:
            hi = min(hi, balance)
        kn, kd = terms.rate
        rising = terms.collateral_key(kn) > terms.debt_key(kd)
        x_star = hi if rising else lo
        eps = terms.collateral_key(terms.eps_seize)
    else:
        if pair is None or terms.collateral == terms.debt:
            return None
        r_coll, r_debt = pair.reserves_for(terms.collateral)
        curve = Curve.hop(r_coll, r_debt)
        if path is ExecutionPath.FLASH:
            f = _FlashProfit(terms, r_coll, r_debt)
            hi = min(hi, r_debt - 1)
            x_star = flash_optimum(terms, curve)
            eps = terms.eps_seize + 1
        else:
            f = _SwapProfit(terms, r_coll, r_debt)
            if balance is not None:
                hi = min(hi, balance)
            x_star = swap_optimum(terms, curve)
            eps = -(-curve.a * terms.eps_seize // curve.b) + 1

    best: SizedPath | None = None
    candidates = _edge_candidates(terms, path, pair)
    search: _Search | None = None
    if hi >= lo:
        x0 = _start(terms, x_star, lo, hi)
        search = (memo.walk if memo is not None else _walk)(f, terms, x0, lo, hi, eps, max_steps)
    exact = search is None or search.exact
    evaluations = len(candidates) + (0 if search is None else search.evaluations)
    if search is not None:
        best = evaluate(
            terms,
            path,
            search.best_x,
            pair=pair,
            balance=balance,
            exact=exact,
            evaluations=evaluations,
        )
    for x in candidates:
        candidate = evaluate(
            terms, path, x, pair=pair, balance=balance, exact=exact, evaluations=evaluations
        )
        if candidate is not None and (best is None or candidate.value_key > best.value_key):
            best = candidate
    return best


def _relaxed_flash_max(terms: SeizeTerms, r_coll: int, r_debt: int, hi: int) -> int:
    """Upper bound (collateral units, rounded up) on ``max F`` over ``[0, hi]``, where
    ``F(x) = k*x - A*x / (B*(r_debt - x))`` (``A = 1000*r_coll``, ``B = 997``) is the flash
    profit's relaxation. F is concave with ``F(0) = 0``; its unconstrained maximum is
    ``(sqrt(k*r_debt) - sqrt(A/B))**2``, reached where ``F' = 0``."""
    kn, kd = terms.rate
    a, b = 1000 * r_coll, 997
    if kn * b * r_debt <= a * kd:  # F'(0) <= 0: F only falls
        return 0
    gap = r_debt - hi
    if kn * b * gap * gap >= a * r_debt * kd:  # F'(hi) >= 0: F rises all the way to hi
        return max(-(-kn * hi // kd) - a * hi // (b * gap), 0)
    # over the common denominator kd*b; isqrt rounds the subtracted root down
    num = kn * r_debt * b + a * kd - 2 * isqrt(kn * r_debt * a * kd * b)
    return -(-num // (kd * b))


def flash_start(terms: SeizeTerms, pair: PairReserves) -> SizedPath | None:
    """The flash liquidation at the size :func:`size_path` starts its search from (None if
    there is none, or it reverts): the size it picks is worth at least as much, as the walk
    only moves to better sizes and the capped and tail candidates replace it only when worth
    more. The planner's cheap proof that an account's flash liquidation pays, unsized."""
    if terms.collateral == terms.debt:
        return None
    r_coll, r_debt = pair.reserves_for(terms.collateral)
    hi = min(terms.max_debt, terms.x_cap, r_debt - 1)
    if hi < 1:
        return None
    x0 = _start(terms, flash_optimum(terms, Curve.hop(r_coll, r_debt)), 1, hi)
    return evaluate(terms, ExecutionPath.FLASH, x0, pair=pair)


def flash_value_ceiling(terms: SeizeTerms, pair: PairReserves) -> int:
    """An upper bound on ``size_path(terms, FLASH, pair=pair).value_key`` (where it is not
    None) without the walk.

    The walk's sizes are uncapped and within ``[1, hi]``, where the exact profit is within
    ``eps`` of its concave relaxation, whose maximum has a closed form; the capped and
    free-tail candidates are evaluated exactly, as :func:`size_path` does. The planner uses
    it to re-bound an account after its pair moved, at a fraction of a sizing's cost."""
    if terms.collateral == terms.debt:
        return 0  # size_path never flashes one asset against itself
    r_coll, r_debt = pair.reserves_for(terms.collateral)
    hi = min(terms.max_debt, terms.x_cap, r_debt - 1)
    bound = 0
    if hi >= 1:
        eps = terms.eps_seize + 1
        bound = terms.collateral_key(_relaxed_flash_max(terms, r_coll, r_debt, hi) + eps)
    for x in _edge_candidates(terms, ExecutionPath.FLASH, pair):
        sized = evaluate(terms, ExecutionPath.FLASH, x, pair=pair)
        if sized is not None:
            bound = max(bound, sized.value_key)
    return bound


def flash_reach(terms: SeizeTerms) -> int:
    """How far a flash sizing of ``terms`` reaches: the close-factor limit, or one past the
    largest size whose seize the collateral covers. On one curve (see
    :func:`flash_curve_ceiling`) an account that reaches less is worth no more."""
    return terms.max_debt if terms.x_cap >= terms.max_debt else terms.x_cap + 1


def flash_curve_ceiling(terms: SeizeTerms, pair: PairReserves, reach: int) -> int:
    """An upper bound on ``size_path(t, FLASH, pair=pair).value_key`` for every ``t`` on the
    curve of ``terms`` (same assets and ``curve_key``) with ``flash_reach(t) <= reach``.

    It depends on the account only through ``reach``, so the planner can queue a whole
    curve's accounts under one entry, bounded at the furthest reach among them. Each of
    :func:`size_path`'s candidates is bounded in turn:

    - a walked size ``x <= hi``: ``F(x) + eps`` collateral units (module docstring);
    - the capped one: the collateral it seizes is below ``s(x_cap + 1)`` and the pair is
      owed at least ``getAmountIn(x_cap + 1)``, so its collateral gain is below
      ``F(x_cap + 1) + eps``, and it keeps the debt it borrowed beyond what the pool
      covers, which the pool's rounding keeps under ``2 * qd/qn + 3`` units;
    - the free tail: the same collateral gain as the size it extends, plus the debt it
      keeps, less than one step of ``getAmountIn``'s staircase: ``r_debt*997 /
      (r_coll*1000)`` units, as the owed amount rises at least that fast.

    ``_relaxed_flash_max`` is the relaxation's maximum over ``[0, hi]`` rounded up: it may
    dip as ``hi`` grows, by its rounding (under 2 units), which is added, so the bound at one
    reach holds for every account reaching less."""
    r_coll, r_debt = pair.reserves_for(terms.collateral)
    hi = min(reach, r_debt - 1)
    relaxed = _relaxed_flash_max(terms, r_coll, r_debt, hi) if hi >= 1 else 0
    step = r_debt * 997 // (r_coll * 1000) + 1
    capped_gap = 2 * (terms._qd // terms._qn + 1) + 3
    return terms.collateral_key(relaxed + terms.eps_seize + 3) + terms.debt_key(step + capped_gap)


def flash_on(sized: SizedPath, pair: PairReserves, market: MarketState) -> SizedPath | None:
    """The flash liquidation ``sized`` at the same size, run against ``pair`` instead (the
    pool's side, priced in ``market``, unchanged); None if it would revert there. The
    planner's cheap test that a flash liquidation still pays after its pair moved."""
    if sized.path is not ExecutionPath.FLASH:
        raise ValueError(f"flash_on needs a flash path, not {sized.path}")
    r_coll, r_debt = pair.reserves_for(sized.collateral)
    x = sized.debt_to_cover
    if x >= r_debt:
        return None
    owed = flash_owed(x, r_coll, r_debt)
    seized = sized.amounts.to_liquidator
    if seized < owed:
        return None
    gain = seized - owed
    unit_key = market.price(sized.collateral) * (
        VALUE_SCALE // market.reserve(sized.collateral).config.unit
    )
    return replace(
        sized,
        repay=owed,
        collateral_gain=gain,
        value_key=sized.value_key + (gain - sized.collateral_gain) * unit_key,
        exact=False,
        evaluations=1,
    )


@quick_init
@dataclass(frozen=True, slots=True)
class PairBook:
    """AMM pairs by unordered token pair, for finding a (collateral, debt) pair fast."""

    pairs: Mapping[frozenset[str], PairReserves]

    @classmethod
    def of(cls, pairs: Iterable[PairReserves]) -> PairBook:
        return cls({frozenset((p.token0, p.token1)): p for p in pairs})

    def find(self, a: str, b: str) -> PairReserves | None:
        return self.pairs.get(frozenset((a, b)))


def size_account(
    market: MarketState,
    account: Account,
    timestamp: int,
    *,
    pairs: PairBook,
    inventory: Mapping[str, int] | None = None,
    paths: Iterable[ExecutionPath] = (ExecutionPath.FLASH,),
    max_steps: int = DEFAULT_MAX_STEPS,
    data: AccountData | None = None,
) -> list[SizedPath]:
    """Best size for every (collateral, debt) pair and path; empty if not liquidatable.

    ``inventory`` is the liquidator contract's balance per debt asset: inventory paths are
    tried only for assets it holds.
    """
    if market.liquidations_paused:
        return []
    if data is None:
        data = account_data(market, account, timestamp)
    if not data.liquidatable:
        return []
    wanted = tuple(paths)
    results: list[SizedPath] = []
    for collateral, debt in liquidation_pairs(market, account):
        terms = seize_terms(market, account, collateral, debt, timestamp, data)
        results += size_terms(
            terms,
            pairs.find(collateral, debt),
            inventory=inventory,
            paths=wanted,
            max_steps=max_steps,
        )
    return results


def size_terms(
    terms: SeizeTerms,
    pair: PairReserves | None,
    *,
    inventory: Mapping[str, int] | None = None,
    paths: Iterable[ExecutionPath] = (ExecutionPath.FLASH,),
    max_steps: int = DEFAULT_MAX_STEPS,
    memo: WalkMemo | None = None,
) -> list[SizedPath]:
    """:func:`size_account` for one (collateral, debt) whose terms are taken already."""
    results: list[SizedPath] = []
    for path in paths:
        balance: int | None = None
        if path is not ExecutionPath.FLASH:
            balance = (inventory or {}).get(terms.debt, 0)
            if balance <= 0:
                continue
        elif pair is None:
            continue
        sized = size_path(terms, path, pair=pair, balance=balance, max_steps=max_steps, memo=memo)
        if sized is not None:
            results.append(sized)
    return results
