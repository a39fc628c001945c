"""Collateral auctions (contracts/AUCTIONS.md), exactly: curves, bark, take, redo, English bids,
and the keeper's decisions (what pays, how much to take, whether to wait).

Pure and exact like the rest of ``bot.model``: integers in protocol units (stablecoin wad,
rays for prices and rates, collateral in the token's smallest unit), Solidity's truncating
division where the contracts truncate, ``ceil_div`` where they round up, and ``rpow`` rounded
half-up at every product as Maker's is. A function that mirrors a contract raises
:class:`AuctionRevert` with the contract's error name where the contract would revert.

Values the keeper compares are all in stablecoin units (LUSD is worth $1): gas is converted
with :func:`gas_in_stable` from the native token's oracle price.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import isqrt

from bot.model.amm import get_amount_out

WAD = 10**18
RAY = 10**27
HALF_RAY = RAY // 2
BPS = 10_000
MAX_COLLATERAL_DECIMALS = 37


AUCTION_GAS: dict[str, int] = {
    "bark": 520_000,
    "take": 330_000,
    "redo": 200_000,
    "tend": 200_000,
    "dent": 200_000,
    "deal": 160_000,
}
"""Gas per keeper action on the bundled contracts: the worst receipts of the keeper tests
(bark 477k, flash take 277k) plus about 10-20%; the others are upper bounds."""


class AuctionRevert(ValueError):
    """The contract would revert; ``str(exc)`` starts with its custom error's name."""


# ----------------------------------------------------------------------------- arithmetic


def rmul(x: int, y: int) -> int:
    return x * y // RAY


def wmul(x: int, y: int) -> int:
    return x * y // WAD


def rdiv(x: int, y: int) -> int:
    return x * RAY // y


def ceil_div(a: int, b: int) -> int:
    return 0 if a == 0 else (a - 1) // b + 1


def rpow(x: int, n: int) -> int:
    """``x**n`` for a ray ``x``, by squaring, each product rounded half-up (AuctionMath.rpow)."""
    if x == 0:
        return RAY if n == 0 else 0
    z = x if n % 2 else RAY
    n //= 2
    while n:
        x = (x * x + HALF_RAY) // RAY
        if n % 2:
            z = (z * x + HALF_RAY) // RAY
        n //= 2
    return z


# ----------------------------------------------------------------------------- vault engine


def current_rate(rate: int, stability_fee: int, last_drip: int, now: int) -> int:
    """``VaultEngine.currentRate``: the rate a drip at ``now`` would store."""
    if now == last_drip:
        return rate
    if now < last_drip:
        raise ValueError(f"time {now} is before the last drip {last_drip}")
    return rmul(rpow(stability_fee, now - last_drip), rate)


def collateral_price(oracle_price: int, decimals: int) -> int:
    """Ray of stablecoin units per collateral unit for a USD price with 8 decimals."""
    scale: int = 10 ** (MAX_COLLATERAL_DECIMALS - decimals)
    return oracle_price * scale


def spot(price: int, liquidation_ratio: int) -> int:
    return rdiv(price, liquidation_ratio)


def is_unsafe(collateral: int, normalized_debt: int, spot_price: int, rate: int) -> bool:
    return normalized_debt != 0 and collateral * spot_price < normalized_debt * rate


# ----------------------------------------------------------------------------- curves


@dataclass(frozen=True, slots=True)
class LinearCurve:
    """``LinearDecrease``: from ``top`` to zero over ``duration`` seconds."""

    duration: int

    def price(self, top: int, elapsed: int) -> int:
        if elapsed >= self.duration:
            return 0
        return rmul(top, (self.duration - elapsed) * RAY // self.duration)

    def next_change(self, elapsed: int, block_time: int) -> int:
        """Elapsed time at which the price next falls (every second; blocks come every
        ``block_time`` seconds)."""
        return elapsed + max(block_time, 1)


@dataclass(frozen=True, slots=True)
class StairstepCurve:
    """``StairstepExponentialDecrease``: times ``cut`` every ``step`` seconds."""

    step: int
    cut: int

    def price(self, top: int, elapsed: int) -> int:
        return rmul(top, rpow(self.cut, elapsed // self.step))

    def next_change(self, elapsed: int, block_time: int) -> int:
        """Elapsed time of the first block (every ``block_time`` seconds from now) at the
        next step's price: the keeper cannot act between blocks."""
        boundary = (elapsed // self.step + 1) * self.step
        bt = max(block_time, 1)
        return elapsed + ceil_div(boundary - elapsed, bt) * bt


Curve = LinearCurve | StairstepCurve


@dataclass(frozen=True, slots=True)
class DutchParams:
    """One Dutch auction contract's parameters (AUCTIONS.md, "Dutch auction")."""

    curve: Curve
    starting_price_factor: int
    max_duration: int
    min_price_ratio: int
    redo_tip: int
    redo_chip: int
    dust_tab: int
    stopped: int = 0


@dataclass(frozen=True, slots=True)
class Sale:
    """A running Dutch auction (``sales(id)``)."""

    id: int
    tab: int
    lot: int
    owner: str
    start_time: int
    start_price: int


@dataclass(frozen=True, slots=True)
class Status:
    needs_redo: bool
    price: int
    elapsed: int


def auction_status(sale: Sale, params: DutchParams, now: int) -> Status:
    """``getStatus``: the price at ``now`` and whether a restart is needed first."""
    elapsed = now - sale.start_time
    if elapsed < 0:
        raise ValueError(f"time {now} is before the auction's start {sale.start_time}")
    price = params.curve.price(sale.start_price, elapsed)
    needs_redo = (
        elapsed > params.max_duration
        or rdiv(price, sale.start_price) < params.min_price_ratio
        or price == 0
    )
    return Status(needs_redo, price, elapsed)


# ----------------------------------------------------------------------------- bark


@dataclass(frozen=True, slots=True)
class BarkQuote:
    """What ``Liquidator.bark`` would do to a vault: the part confiscated and the auction."""

    normalized_debt: int
    lot: int
    due: int
    """rad"""
    tab: int
    reward: int
    """Keeper reward (``tip + wmul(tab, chip)``), stablecoin units."""


def bark_quote(
    *,
    collateral: int,
    normalized_debt: int,
    rate: int,
    dust: int,
    room: int,
    penalty: int,
    tip: int,
    chip: int,
) -> BarkQuote:
    """AUCTIONS.md "Liquidation" steps 3-8, for a vault already known to be unsafe."""
    if normalized_debt == 0:
        raise AuctionRevert("NotUnsafe: the vault has no debt")
    if room == 0 or room < dust:
        raise AuctionRevert("LiquidationLimitHit")
    taken = min(normalized_debt, room * WAD * RAY // rate // penalty)
    if normalized_debt > taken:
        if (normalized_debt - taken) * rate < dust * RAY:
            taken = normalized_debt
        elif taken * rate < dust * RAY:
            raise AuctionRevert("DustyAuctionFromPartialLiquidation")
    lot = collateral * taken // normalized_debt
    if lot == 0:
        raise AuctionRevert("NullAuction")
    due = taken * rate
    tab = ceil_div(due * penalty, WAD * RAY)
    return BarkQuote(taken, lot, due, tab, keeper_reward(tab, tip, chip))


def keeper_reward(tab: int, tip: int, chip: int) -> int:
    return tip + wmul(tab, chip)


def room(global_limit: int, total_under_auction: int, limit: int, under_auction: int) -> int:
    """``Liquidator.room``: debt that may still be put under auction for an ilk."""
    global_room = global_limit - total_under_auction if global_limit > total_under_auction else 0
    ilk_room = limit - under_auction if limit > under_auction else 0
    return min(global_room, ilk_room)


# ----------------------------------------------------------------------------- take


@dataclass(frozen=True, slots=True)
class TakeQuote:
    """A take's outcome: collateral bought, stablecoin owed, and what is left."""

    slice: int
    owe: int
    tab: int
    lot: int

    @property
    def finishes(self) -> bool:
        return self.lot == 0 or self.tab == 0


def take_quote(*, tab: int, lot: int, price: int, amount: int, dust_tab: int) -> TakeQuote:
    """``DutchAuction.take`` steps 2-4 (``_quote``) at ``price``; ``amount`` is the most
    collateral wanted."""
    if price == 0:
        raise AuctionRevert("NeedsRedo: the price is zero")
    slice_ = min(lot, amount)
    owe = ceil_div(slice_ * price, RAY)
    if owe > tab:
        owe = tab
        slice_ = owe * RAY // price
    elif owe < tab and slice_ < lot and tab - owe < dust_tab:
        if tab <= dust_tab:
            raise AuctionRevert("NoPartialPurchase")
        owe = tab - dust_tab
        slice_ = owe * RAY // price
    return TakeQuote(slice_, owe, tab - owe, lot - slice_)


def flash_sale_proceeds(slice_: int, reserve_in: int, reserve_out: int) -> int:
    """What ``AuctionTaker`` gets for ``slice_`` collateral sold into the pair (0 for 0)."""
    if slice_ == 0:
        return 0
    return get_amount_out(slice_, reserve_in, reserve_out)


@dataclass(frozen=True, slots=True)
class TakePlan:
    """One take through the flash taker: ``amount`` asked, what the contract does, what the
    sale returns, and the profit in stablecoin before and after gas."""

    amount: int
    quote: TakeQuote
    proceeds: int
    profit: int
    """``proceeds - owe``: what ``takeWithFlashSale`` returns."""
    net: int
    """``profit`` minus the gas in stablecoin."""


def plan_flash_take(
    *,
    tab: int,
    lot: int,
    price: int,
    amount: int,
    dust_tab: int,
    reserve_in: int,
    reserve_out: int,
    gas_stable: int,
) -> TakePlan:
    """The exact outcome of taking ``amount`` and selling it into a pair with these reserves
    (collateral in, stablecoin out). Raises AuctionRevert where ``take`` would revert, and
    ``SaleBelowOwed`` where the taker would."""
    quote = take_quote(tab=tab, lot=lot, price=price, amount=amount, dust_tab=dust_tab)
    proceeds = flash_sale_proceeds(quote.slice, reserve_in, reserve_out)
    if proceeds < quote.owe:
        raise AuctionRevert(f"SaleBelowOwed({proceeds}, {quote.owe})")
    profit = proceeds - quote.owe
    return TakePlan(amount, quote, proceeds, profit, profit - gas_stable)


def best_flash_take(
    *,
    tab: int,
    lot: int,
    price: int,
    dust_tab: int,
    reserve_in: int,
    reserve_out: int,
    gas_stable: int,
) -> TakePlan | None:
    """The take size that maximises ``proceeds - owe`` (None when no size is profitable).

    ``proceeds(x) - price * x`` is concave; its continuous optimum is where the pair's
    marginal price equals the auction price: with ``out(x) = a x / (b + c x)`` (``a = 997 r_out``,
    ``b = 1000 r_in``, ``c = 997``), ``x* = (sqrt(a b RAY / price) - b) / c``. The exact
    integer outcome (dust rule, tab cap) is then evaluated at ``x*`` and its neighbours, the
    whole lot, and the largest size that leaves ``dust_tab`` to raise.
    """
    if price == 0 or lot == 0 or tab == 0 or reserve_in <= 0 or reserve_out <= 0:
        return None
    a, b, c = 997 * reserve_out, 1000 * reserve_in, 997
    candidates: set[int] = {lot}
    root = isqrt(a * b * RAY // price)
    if root > b:
        x = (root - b) // c
        candidates.update(x + d for d in (-2, -1, 0, 1, 2))
    # the largest purchase that still leaves dust_tab (a bigger partial take is cut to it)
    if tab > dust_tab:
        candidates.add((tab - dust_tab) * RAY // price)
    best: TakePlan | None = None
    for amount in sorted(candidates):
        if amount <= 0:
            continue
        try:
            plan = plan_flash_take(
                tab=tab,
                lot=lot,
                price=price,
                amount=amount,
                dust_tab=dust_tab,
                reserve_in=reserve_in,
                reserve_out=reserve_out,
                gas_stable=gas_stable,
            )
        except (AuctionRevert, ValueError):
            continue
        if plan.quote.slice == 0:
            continue
        if best is None or plan.profit > best.profit:
            best = plan
    if best is None or best.profit <= 0:
        return None
    return best


# ----------------------------------------------------------------------------- redo


def redo_reward(
    *, tab: int, lot: int, feed_price: int, dust_tab: int, redo_tip: int, redo_chip: int
) -> int:
    """``DutchAuction.redo``'s keeper reward (0 for a dusty auction or no reward set)."""
    if redo_tip == 0 and redo_chip == 0:
        return 0
    if tab >= dust_tab and lot * feed_price >= dust_tab * RAY:
        return redo_tip + wmul(tab, redo_chip)
    return 0


# ----------------------------------------------------------------------------- gas


def gas_in_stable(gas_wei: int, native_price: int) -> int:
    """Wei of the native token (18 decimals) in stablecoin units (18 decimals, $1), for a
    native USD price with 8 decimals; rounded up, so a cost is never understated."""
    return ceil_div(gas_wei * native_price, 10**8)


def stable_in_wei(amount: int, native_price: int) -> int:
    """Stablecoin units in wei of the native token (floor)."""
    return amount * 10**8 // native_price if native_price > 0 else 0


# ----------------------------------------------------------------------------- waiting


@dataclass(frozen=True, slots=True)
class CompetitorModel:
    """Rivals on a Dutch auction, kept deliberately simple.

    A rival takes the whole auction at some point in each price step once the auction price
    is at most ``threshold_bps`` of the market price (the pair's marginal price); it does so
    with probability ``take_probability_bps`` per step, after the keeper (which acts when the
    step starts) has made its choice. Above that price no rival takes.
    ``threshold_bps`` 10_000 means rivals buy as soon as the auction is at the market price;
    9_500, only at a 5% discount. An operator sets both; the backtest fits them from the
    ``Take`` events of others (:func:`fit_competitor_model`).
    """

    threshold_bps: int = 10_000
    take_probability_bps: int = 5_000

    def __post_init__(self) -> None:
        if not 0 <= self.take_probability_bps <= BPS:
            raise ValueError("take_probability_bps must be between 0 and 10000")
        if self.threshold_bps < 0:
            raise ValueError("threshold_bps must not be negative")

    def take_probability(self, auction_price: int, market_price: int) -> int:
        """Chance (bps) that a rival takes within the step at ``auction_price``."""
        if auction_price * BPS <= market_price * self.threshold_bps:
            return self.take_probability_bps
        return 0


def marginal_price(reserve_in: int, reserve_out: int) -> int:
    """The pair's price of the first unit of collateral sold, ray of stablecoin per unit,
    after its 0.3% fee."""
    if reserve_in <= 0:
        return 0
    return reserve_out * 997 * RAY // (reserve_in * 1000)


@dataclass(frozen=True, slots=True)
class WaitDecision:
    take_now: bool
    now_value: int
    """Net profit of the best take now (stablecoin, after gas; 0 when none pays)."""
    wait_value: int
    """Expected net profit of waiting for the next price step instead (same units)."""
    next_price: int
    reason: str


def wait_or_take(
    *,
    now_net: int,
    now_price: int,
    next_net: int,
    next_price: int,
    next_needs_redo: bool,
    market_price: int,
    competitors: CompetitorModel,
) -> WaitDecision:
    """Take now when the expected net profit of waiting one more price step is lower.

    The keeper acts first when a price step starts; if it waits, a rival may take the
    auction during this step, with the competitor model's chance ``p`` at the current price.
    Waiting is then worth ``(1 - p) * next_net``: ``next_net`` is the best take's net profit at
    the next step's price with today's pair. An auction that will need a restart by then is
    worth nothing to wait for. Ties go to taking now (a bird in the hand).
    """
    if next_needs_redo:
        wait = 0
    else:
        p = competitors.take_probability(now_price, market_price)
        wait = max(next_net, 0) * (BPS - p) // BPS
    if now_net <= 0:
        return WaitDecision(False, now_net, wait, next_price, "no take pays now")
    if now_net >= wait:
        return WaitDecision(True, now_net, wait, next_price, "taking now beats waiting")
    return WaitDecision(
        False,
        now_net,
        wait,
        next_price,
        f"waiting: expected {wait} at the next price beats {now_net} now",
    )


@dataclass(frozen=True, slots=True)
class FutureBlock:
    """A block in which the keeper may act on a Dutch auction, as the model foresees it."""

    price: int
    needs_redo: bool
    rival_bps: int
    """Chance (bps) that a rival takes what is left after the keeper has acted in this block."""
    time: int = 0
    reserves: tuple[int, int] | None = None
    """The pair (collateral, stablecoin) the keeper expects for this auction in this block;
    None: the decision's reserves (today's pair, back after arbitrage)."""


def future_blocks(
    sale: Sale,
    params: DutchParams,
    *,
    now: int,
    block_time: int,
    market_price: int,
    competitors: CompetitorModel,
    horizon_steps: int = 3,
    rival_pending: bool = True,
    max_blocks_per_step: int = 8,
) -> list[FutureBlock]:
    """The blocks from ``now`` (every ``block_time`` s) until ``horizon_steps`` price changes
    later or the auction needs a redo, with the rival's chance placed as the model puts it:
    once per price step, after the keeper's action in the step's first block.

    ``rival_pending`` False: the rival has already had its chance in the current step (a
    backtest knows; a live keeper does not and should leave it True, the cautious side).
    At most ``max_blocks_per_step`` blocks of one price are listed: the later ones only add
    more takes at the same price, and the cap keeps the decision's state space small on fast
    chains (values stay lower bounds of what the keeper can get).
    """
    bt = max(block_time, 1)
    out: list[FutureBlock] = []
    changes = 0
    in_step = 0
    last_price: int | None = None
    t = now
    while True:
        status = auction_status(sale, params, t)
        first_of_step = last_price is None or status.price != last_price
        if last_price is not None and first_of_step:
            changes += 1
            if changes > horizon_steps:
                break
        if status.needs_redo:
            out.append(FutureBlock(status.price, True, 0, t))
            break
        chance = competitors.take_probability(status.price, market_price)
        if (last_price is None and not rival_pending) or not first_of_step:
            chance = 0
        in_step = 1 if first_of_step else in_step + 1
        if in_step <= max_blocks_per_step:
            out.append(FutureBlock(status.price, False, chance, t))
        last_price = status.price
        t += bt
        if len(out) >= 10_000:  # a curve that never moves: nothing more to learn
            break
    return out


@dataclass(frozen=True, slots=True)
class TakeDecision:
    take_now: bool
    plan: TakePlan | None
    """The best take now (None when none pays the minimum profit)."""
    take_value: int
    """Expected net profit of taking ``plan`` now and then playing the rest of the lot well
    (stablecoin, after gas; 0 when no take pays now)."""
    wait_value: int
    """Expected net profit of not taking in this block and playing well from the next."""
    reason: str
    next_take: tuple[int, TakePlan] | None = None
    """When waiting: the block (index into ``blocks``) and take the best policy plans next,
    so a caller can reserve that block's pair for it."""


def decide_dutch_take(
    *,
    tab: int,
    lot: int,
    blocks: Sequence[FutureBlock],
    dust_tab: int,
    reserve_in: int,
    reserve_out: int,
    gas_stable: int,
    min_profit: int = 1,
) -> TakeDecision:
    """Take now or wait, by expected value over the known price curve.

    ``blocks[0]`` is this block. In each block the keeper either does nothing or makes the
    best take at that block's price (:func:`best_flash_take`, taken only when it nets at
    least ``min_profit``); then a rival takes whatever is left with the block's chance.
    The pair is assumed to be back at today's reserves in every later block (arbitrage), and
    an auction past the horizon or needing a redo is worth nothing more (the cautious side).
    So ``V(j, tab, lot) = max(wait, take)`` with
    ``wait = (1 - p_j) * V(j + 1, tab, lot)`` and
    ``take = net_j + (1 - p_j) * V(j + 1, tab', lot')``; taking now is chosen when
    ``take >= wait`` (ties go to the bird in the hand). Everything is exact integers, each
    survival factor floored in basis points.
    """
    takes: dict[tuple[int, int, int, int, int], TakePlan | None] = {}

    def best(block: FutureBlock, tab_: int, lot_: int) -> TakePlan | None:
        r_in, r_out = block.reserves or (reserve_in, reserve_out)
        key = (block.price, r_in, r_out, tab_, lot_)
        if key not in takes:
            plan = best_flash_take(
                tab=tab_,
                lot=lot_,
                price=block.price,
                dust_tab=dust_tab,
                reserve_in=r_in,
                reserve_out=r_out,
                gas_stable=gas_stable,
            )
            takes[key] = plan if plan is not None and plan.net >= min_profit else None
        return takes[key]

    memo: dict[tuple[int, int, int], int] = {}

    def branches(j: int, tab_: int, lot_: int) -> tuple[int, int, TakePlan | None]:
        block = blocks[j]
        keep = BPS - block.rival_bps
        wait = value(j + 1, tab_, lot_) * keep // BPS
        plan = best(block, tab_, lot_)
        if plan is None:
            return wait, 0, None
        q = plan.quote
        rest = 0 if q.finishes else value(j + 1, q.tab, q.lot) * keep // BPS
        return wait, plan.net + rest, plan

    def value(j: int, tab_: int, lot_: int) -> int:
        if j >= len(blocks) or blocks[j].needs_redo or tab_ == 0 or lot_ == 0:
            return 0
        key = (j, tab_, lot_)
        if key not in memo:
            wait, take, plan = branches(j, tab_, lot_)
            memo[key] = max(wait, take) if plan is not None else wait
        return memo[key]

    def _next_take(j: int, tab_: int, lot_: int) -> tuple[int, TakePlan] | None:
        """Follow the best policy's waits from block ``j`` to its first take."""
        while j < len(blocks) and not blocks[j].needs_redo:
            wait_j, take_j, plan_j = branches(j, tab_, lot_)
            if plan_j is not None and take_j >= wait_j:
                return j, plan_j
            j += 1
        return None

    if not blocks or blocks[0].needs_redo or tab == 0 or lot == 0:
        return TakeDecision(False, None, 0, 0, "no take: the auction needs a redo or is over")
    wait, take, plan = branches(0, tab, lot)
    if plan is None:
        return TakeDecision(False, None, 0, wait, "no take pays now")
    if take >= wait:
        return TakeDecision(True, plan, take, wait, f"taking now: expected {take} >= {wait}")
    return TakeDecision(
        False,
        plan,
        take,
        wait,
        f"waiting: expected {wait} from later blocks beats {take} from taking now",
        _next_take(1, tab, lot),
    )


def fit_competitor_model(
    observations: Sequence[tuple[int, int]], *, steps_seen: int | None = None
) -> CompetitorModel:
    """Fit the model from rivals' takes: ``(auction price, market price)`` per observed take.

    ``threshold_bps`` is the highest price/market ratio at which a rival took (the most
    eager rival sets when the danger starts); the probability per step is the number of
    takes over the number of price steps spent at or below that ratio (``steps_seen``, when
    the caller counted them), else 1. With no observations: no rivals.
    """
    ratios = [p * BPS // m for p, m in observations if m > 0]
    if not ratios:
        return CompetitorModel(threshold_bps=0, take_probability_bps=0)
    threshold = max(ratios)
    if steps_seen is None or steps_seen <= 0:
        probability = BPS
    else:
        probability = min(BPS, len(ratios) * BPS // steps_seen)
    return CompetitorModel(threshold_bps=threshold, take_probability_bps=probability)


# ----------------------------------------------------------------------------- English


@dataclass(frozen=True, slots=True)
class EnglishParams:
    min_bid_increase: int
    bid_duration: int
    auction_duration: int


@dataclass(frozen=True, slots=True)
class EnglishAuctionState:
    """``auctions(id)`` of the English auction."""

    id: int
    bid: int
    lot: int
    bidder: str
    bid_expiry: int
    end: int
    owner: str
    tab: int

    def open_for_bids(self, now: int) -> bool:
        return (self.bid_expiry == 0 or self.bid_expiry > now) and self.end > now

    def can_deal(self, now: int) -> bool:
        return self.bid_expiry != 0 and (self.bid_expiry < now or self.end < now)

    @property
    def in_dent_phase(self) -> bool:
        return self.bid == self.tab and self.bid > 0


def next_min_bid(bid: int, tab: int, min_bid_increase: int) -> int | None:
    """The smallest ``tend`` bid accepted after ``bid`` (None when the tab is reached)."""
    if bid >= tab:
        return None
    smallest = max(bid + 1, ceil_div(min_bid_increase * bid, WAD))
    return min(smallest, tab)


def next_max_lot(lot: int, min_bid_increase: int) -> int:
    """The largest ``dent`` lot accepted after ``lot`` (0 when no smaller lot is left)."""
    largest = lot * WAD // min_bid_increase
    if largest >= lot:
        largest = lot - 1
    return max(largest, 0)


def check_tend(state: EnglishAuctionState, bid: int, min_bid_increase: int, now: int) -> None:
    """Raise AuctionRevert where ``tend(id, lot, bid)`` would revert."""
    if not state.open_for_bids(now):
        raise AuctionRevert("BidExpired" if state.end > now else "AuctionEnded")
    if bid > state.tab:
        raise AuctionRevert("BidAboveTab")
    if bid <= state.bid:
        raise AuctionRevert("BidNotHigher")
    if bid * WAD < min_bid_increase * state.bid and bid != state.tab:
        raise AuctionRevert("InsufficientIncrease")


def check_dent(state: EnglishAuctionState, lot: int, min_bid_increase: int, now: int) -> None:
    if not state.open_for_bids(now):
        raise AuctionRevert("BidExpired" if state.end > now else "AuctionEnded")
    if state.bid != state.tab:
        raise AuctionRevert("TabNotReached")
    if lot >= state.lot:
        raise AuctionRevert("LotNotLower")
    if min_bid_increase * lot > state.lot * WAD:
        raise AuctionRevert("InsufficientDecrease")


@dataclass(frozen=True, slots=True)
class EnglishBid:
    kind: str
    """``"tend"`` or ``"dent"``."""
    lot: int
    bid: int
    value: int
    """What the lot fetches sold into the pair now (stablecoin)."""
    net: int
    """``value - bid - gas``: the profit if this bid wins and the lot is sold at today's
    pair."""


def plan_english_bid(
    state: EnglishAuctionState,
    *,
    min_bid_increase: int,
    reserve_in: int,
    reserve_out: int,
    gas_stable: int,
    min_profit: int,
    now: int,
) -> EnglishBid | None:
    """The bot's next bid, or None when none leaves ``min_profit``.

    Tend phase: the bid is the largest that still leaves ``min_profit`` (the lot's sale
    proceeds minus gas and that margin), capped at the tab; it is made only when the next
    minimum bid is at most that, so it is always a legal bid. Dent phase: the bid is the
    largest legal lot (``previous * WAD / beg``), made when that lot sold at the pair still
    pays back the tab with ``min_profit`` after gas.
    """
    if not state.open_for_bids(now):
        return None
    if not state.in_dent_phase:
        minimum = next_min_bid(state.bid, state.tab, min_bid_increase)
        if minimum is None:
            return None
        value = flash_sale_proceeds(state.lot, reserve_in, reserve_out)
        ceiling = value - gas_stable - min_profit
        if ceiling < minimum:
            return None
        bid = min(ceiling, state.tab)
        if bid != state.tab and bid * WAD < min_bid_increase * state.bid:
            return None
        return EnglishBid("tend", state.lot, bid, value, value - bid - gas_stable)
    lot = next_max_lot(state.lot, min_bid_increase)
    if lot == 0:
        return None
    value = flash_sale_proceeds(lot, reserve_in, reserve_out)
    net = value - state.tab - gas_stable
    if net < min_profit:
        return None
    return EnglishBid("dent", lot, state.tab, value, net)
