"""Deploy the vault engine and its auctions on top of a market, and open vaults on it.

The auction market (contracts/AUCTIONS.md) reuses the market's tokens and oracle: WETH and
WBTC become collateral types (``ilks``) of a Maker-style vault engine whose stablecoin (LUSD,
18 decimals, worth $1) is minted against them. Each ilk gets a Dutch auction (with both price
curves deployed, one configured) and an English auction; the liquidator uses one of them per
ilk. Stablecoin/collateral AMM pairs are filled from a deliberately over-collateralised
vault of the deployer, so that every LUSD in existence is engine debt. The AuctionTaker is
owned by the bot.

Transactions are sent with ``transact({"from": deployer})`` as in ``market.py``.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from decimal import Decimal, localcontext
from math import isqrt
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract
from web3.types import Wei

from bot.chain.contracts import bind, deploy_contract, send_signed, transact, wait_ok
from bot.deploy.borrowers import GAS_MONEY_WEI, borrower_account
from bot.deploy.market import MAX_UINT, Market, deploy_market

WAD = 10**18
RAY = 10**27
SECONDS_PER_YEAR = 365 * 24 * 3600
STABLECOIN_DECIMALS = 18
ORACLE_DECIMALS = 8
DUTCH = "dutch"
ENGLISH = "english"
LINEAR = "linear"
STAIRSTEP = "stairstep"
VAULT_TX_GAS = 400_000
"""Explicit gas for vault transactions (no estimate): a first draw with a drip and an oracle
read measured about 190k."""


def per_second_rate(annual_percent: Decimal | str | int) -> int:
    """The per-second stability fee (ray) that compounds to ``annual_percent`` in a year."""
    with localcontext() as ctx:
        ctx.prec = 60
        factor = (1 + Decimal(annual_percent) / 100) ** (Decimal(1) / SECONDS_PER_YEAR)
        return int(factor * RAY)


def ray(value: Decimal | str | int) -> int:
    return int(Decimal(value) * RAY)


def wad(value: Decimal | str | int) -> int:
    return int(Decimal(value) * WAD)


def ilk_id(name: str) -> bytes:
    """The bytes32 id of a collateral type: its name, UTF-8, right-padded with zeros."""
    raw = name.encode()
    if len(raw) > 32:
        raise ValueError(f"ilk name {name!r} is longer than 32 bytes")
    return raw.ljust(32, b"\0")


@dataclass(frozen=True)
class IlkSpec:
    """One collateral type: engine, liquidator, auction and curve parameters.

    Amounts of stablecoin are in its smallest unit (18 decimals); ratios and factors are
    rays or wads as their contract takes them.
    """

    name: str
    symbol: str  # the market asset used as collateral
    liquidation_ratio: int = field(default_factory=lambda: ray("1.5"))
    stability_fee: int = field(default_factory=lambda: per_second_rate("5"))
    debt_ceiling: int = 100_000_000 * WAD
    dust: int = 500 * WAD
    penalty: int = field(default_factory=lambda: wad("1.13"))
    limit: int = 20_000_000 * WAD
    tip: int = 50 * WAD
    chip: int = field(default_factory=lambda: wad("0.001"))
    auction: str = DUTCH
    curve: str = STAIRSTEP
    starting_price_factor: int = field(default_factory=lambda: ray("1.2"))
    max_duration: int = 7200
    min_price_ratio: int = field(default_factory=lambda: ray("0.4"))
    redo_tip: int = 50 * WAD
    redo_chip: int = field(default_factory=lambda: wad("0.001"))
    linear_duration: int = 9000
    stairstep_step: int = 90
    stairstep_cut: int = field(default_factory=lambda: ray("0.99"))
    min_bid_increase: int = field(default_factory=lambda: wad("1.05"))
    bid_duration: int = 600
    auction_duration: int = 6 * 3600
    pair_liquidity_usd: int = 2_000_000
    seed_collateral_ratio: int = 10
    """The deployer's vault that mints the pair's stablecoin holds this many times its debt."""


DEFAULT_ILKS: tuple[IlkSpec, ...] = (
    IlkSpec("WETH-A", "WETH", curve=STAIRSTEP, pair_liquidity_usd=4_000_000),
    IlkSpec(
        "WBTC-A",
        "WBTC",
        liquidation_ratio=ray("1.6"),
        stability_fee=per_second_rate("8"),
        penalty=wad("1.1"),
        curve=LINEAR,
        starting_price_factor=ray("1.1"),
    ),
)
DEFAULT_GLOBAL_LIMIT = 30_000_000 * WAD


@dataclass
class AuctionIlkDeployment:
    name: str
    symbol: str
    collateral: ChecksumAddress
    decimals: int
    dutch_auction: ChecksumAddress
    english_auction: ChecksumAddress
    linear_curve: ChecksumAddress
    stairstep_curve: ChecksumAddress
    auction: str  # "dutch" or "english": the module the liquidator starts auctions on
    curve: str  # "linear" or "stairstep": the curve the Dutch auction uses
    pair: ChecksumAddress  # the (collateral, stablecoin) AMM pair
    pair_token0: ChecksumAddress
    pair_token1: ChecksumAddress

    @property
    def auction_address(self) -> ChecksumAddress:
        return self.dutch_auction if self.auction == DUTCH else self.english_auction

    @property
    def curve_address(self) -> ChecksumAddress:
        return self.linear_curve if self.curve == LINEAR else self.stairstep_curve


@dataclass
class AuctionDeployment:
    """Where the auction market is; serialises to JSON like ``market.Deployment``."""

    chain_id: int
    deployment_block: int
    deployer: ChecksumAddress
    stablecoin: ChecksumAddress
    engine: ChecksumAddress
    liquidator: ChecksumAddress
    oracle: ChecksumAddress
    amm_factory: ChecksumAddress
    amm_router: ChecksumAddress
    taker: ChecksumAddress
    taker_owner: ChecksumAddress
    ilks: dict[str, AuctionIlkDeployment]
    version: int = 1
    multicall3: str = ""
    """The market's Multicall3 (the keeper's watcher batches reads through it); "" in files
    written before it was recorded."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    def save(self, path: Path) -> None:
        path.write_text(self.to_json())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuctionDeployment:
        cs = Web3.to_checksum_address
        return cls(
            chain_id=int(data["chain_id"]),
            deployment_block=int(data["deployment_block"]),
            deployer=cs(data["deployer"]),
            stablecoin=cs(data["stablecoin"]),
            engine=cs(data["engine"]),
            liquidator=cs(data["liquidator"]),
            oracle=cs(data["oracle"]),
            amm_factory=cs(data["amm_factory"]),
            amm_router=cs(data["amm_router"]),
            taker=cs(data["taker"]),
            taker_owner=cs(data["taker_owner"]),
            ilks={
                name: AuctionIlkDeployment(
                    name=str(i["name"]),
                    symbol=str(i["symbol"]),
                    collateral=cs(i["collateral"]),
                    decimals=int(i["decimals"]),
                    dutch_auction=cs(i["dutch_auction"]),
                    english_auction=cs(i["english_auction"]),
                    linear_curve=cs(i["linear_curve"]),
                    stairstep_curve=cs(i["stairstep_curve"]),
                    auction=str(i["auction"]),
                    curve=str(i["curve"]),
                    pair=cs(i["pair"]),
                    pair_token0=cs(i["pair_token0"]),
                    pair_token1=cs(i["pair_token1"]),
                )
                for name, i in data["ilks"].items()
            },
            version=int(data.get("version", 1)),
            multicall3=cs(data["multicall3"]) if data.get("multicall3") else "",
        )

    @classmethod
    def load(cls, path: Path) -> AuctionDeployment:
        return cls.from_dict(json.loads(path.read_text()))


@dataclass
class AuctionMarket:
    """An auction deployment with bound web3 contracts, over the market it uses."""

    w3: Web3
    deployment: AuctionDeployment
    market: Market
    specs: dict[str, IlkSpec]

    @property
    def engine(self) -> Contract:
        return bind(self.w3, "VaultEngine", self.deployment.engine)

    @property
    def liquidator(self) -> Contract:
        return bind(self.w3, "Liquidator", self.deployment.liquidator)

    @property
    def stablecoin(self) -> Contract:
        return bind(self.w3, "Stablecoin", self.deployment.stablecoin)

    @property
    def taker(self) -> Contract:
        return bind(self.w3, "AuctionTaker", self.deployment.taker)

    @property
    def router(self) -> Contract:
        return bind(self.w3, "AmmRouter", self.deployment.amm_router)

    def dutch(self, ilk: str) -> Contract:
        return bind(self.w3, "DutchAuction", self.deployment.ilks[ilk].dutch_auction)

    def english(self, ilk: str) -> Contract:
        return bind(self.w3, "EnglishAuction", self.deployment.ilks[ilk].english_auction)

    def linear_curve(self, ilk: str) -> Contract:
        return bind(self.w3, "LinearDecrease", self.deployment.ilks[ilk].linear_curve)

    def stairstep_curve(self, ilk: str) -> Contract:
        return bind(
            self.w3, "StairstepExponentialDecrease", self.deployment.ilks[ilk].stairstep_curve
        )

    def collateral(self, ilk: str) -> Contract:
        return bind(self.w3, "TestToken", self.deployment.ilks[ilk].collateral)

    def pair(self, ilk: str) -> Contract:
        return bind(self.w3, "AmmPair", self.deployment.ilks[ilk].pair)

    def oracle_price(self, ilk: str) -> int:
        """The collateral's oracle price (USD, 8 decimals)."""
        price: int = self.market.oracle.functions.getAssetPrice(
            self.deployment.ilks[ilk].collateral
        ).call()
        return price

    def units(self, ilk: str, amount: Decimal | int | str) -> int:
        """``amount`` whole collateral tokens in the token's smallest unit."""
        return int(Decimal(amount) * 10 ** self.deployment.ilks[ilk].decimals)


def deploy_auction_market(
    w3: Web3,
    deployer: ChecksumAddress,
    market: Market | None = None,
    *,
    ilks: tuple[IlkSpec, ...] = DEFAULT_ILKS,
    global_limit: int = DEFAULT_GLOBAL_LIMIT,
    taker_owner: ChecksumAddress | None = None,
    seed_liquidity: bool = True,
    gas: int | None = None,
) -> AuctionMarket:
    """Deploy the stablecoin, engine, liquidator, auctions, curves, pairs and taker.

    Without ``market`` the default market is deployed first. The deployer must own the
    market's tokens (to mint the seed collateral) and becomes the owner of everything here;
    ``taker_owner`` (default: the deployer) owns the AuctionTaker. ``gas``, when given, is
    sent with every transaction instead of estimating it (faster on eth-tester).
    """
    if market is None:
        market = deploy_market(w3, deployer)
    start_block = w3.eth.block_number
    oracle = market.deployment.oracle

    def deploy(name: str, *args: Any) -> Contract:
        return deploy_contract(w3, name, *args, sender=deployer, gas=gas)

    def send(fn: Any) -> None:
        _send(w3, fn, deployer, gas)

    stablecoin = deploy("Stablecoin", "Liqbot USD", "LUSD")
    engine = deploy("VaultEngine", stablecoin.address, oracle)
    send(stablecoin.functions.setMinter(engine.address, True))
    liquidator = deploy("Liquidator", engine.address)
    send(engine.functions.setModule(liquidator.address, True))
    send(liquidator.functions.setGlobalLimit(global_limit))

    factory = bind(w3, "AmmFactory", market.deployment.amm_factory)
    ilk_deployments: dict[str, AuctionIlkDeployment] = {}
    for spec in ilks:
        ilk = ilk_id(spec.name)
        token = market.deployment.token(spec.symbol)
        decimals = market.deployment.assets[spec.symbol].decimals
        send(
            engine.functions.addIlk(
                ilk, token, spec.liquidation_ratio, spec.stability_fee, spec.debt_ceiling, spec.dust
            )
        )
        dutch = deploy("DutchAuction", engine.address, liquidator.address, ilk)
        english = deploy("EnglishAuction", engine.address, liquidator.address, ilk)
        linear = deploy("LinearDecrease", spec.linear_duration)
        stairstep = deploy("StairstepExponentialDecrease", spec.stairstep_step, spec.stairstep_cut)
        for module in (dutch, english):
            send(engine.functions.setModule(module.address, True))
        curve = linear if spec.curve == LINEAR else stairstep
        for call in (
            dutch.functions.setCurve(curve.address),
            dutch.functions.setStartingPriceFactor(spec.starting_price_factor),
            dutch.functions.setMaxDuration(spec.max_duration),
            dutch.functions.setMinPriceRatio(spec.min_price_ratio),
            dutch.functions.setRedoReward(spec.redo_tip, spec.redo_chip),
            english.functions.setMinBidIncrease(spec.min_bid_increase),
            english.functions.setBidDuration(spec.bid_duration),
            english.functions.setAuctionDuration(spec.auction_duration),
            liquidator.functions.setAuction(
                ilk, dutch.address if spec.auction == DUTCH else english.address
            ),
            liquidator.functions.setPenalty(ilk, spec.penalty),
            liquidator.functions.setLimit(ilk, spec.limit),
            liquidator.functions.setKeeperReward(ilk, spec.tip, spec.chip),
            dutch.functions.updateDustTab(),
        ):
            send(call)

        send(factory.functions.createPair(stablecoin.address, token))
        pair = bind(w3, "AmmPair", factory.functions.getPair(stablecoin.address, token).call())
        ilk_deployments[spec.name] = AuctionIlkDeployment(
            name=spec.name,
            symbol=spec.symbol,
            collateral=token,
            decimals=decimals,
            dutch_auction=dutch.address,
            english_auction=english.address,
            linear_curve=linear.address,
            stairstep_curve=stairstep.address,
            auction=spec.auction,
            curve=spec.curve,
            pair=pair.address,
            pair_token0=Web3.to_checksum_address(pair.functions.token0().call()),
            pair_token1=Web3.to_checksum_address(pair.functions.token1().call()),
        )

    taker = deploy("AuctionTaker", stablecoin.address)
    owner = taker_owner or deployer
    if owner != deployer:
        send(taker.functions.transferOwnership(owner))

    deployment = AuctionDeployment(
        chain_id=w3.eth.chain_id,
        deployment_block=start_block + 1,
        deployer=deployer,
        stablecoin=stablecoin.address,
        engine=engine.address,
        liquidator=liquidator.address,
        oracle=oracle,
        amm_factory=market.deployment.amm_factory,
        amm_router=market.deployment.amm_router,
        taker=taker.address,
        taker_owner=owner,
        ilks=ilk_deployments,
        multicall3=market.deployment.multicall3,
    )
    auction_market = AuctionMarket(
        w3=w3, deployment=deployment, market=market, specs={s.name: s for s in ilks}
    )
    if seed_liquidity:
        seed_pairs(auction_market, deployer, gas=gas)
    return auction_market


def _send(w3: Web3, fn: Any, sender: ChecksumAddress, gas: int | None) -> None:
    if gas is None:
        transact(w3, fn, sender)
    else:
        transact(w3, fn, sender, gas=gas)


def seed_pairs(am: AuctionMarket, provider: ChecksumAddress, *, gas: int | None = None) -> None:
    """Fill each (collateral, stablecoin) pair with ``pair_liquidity_usd`` on each side at the
    oracle price. The stablecoin is drawn from a vault of ``provider`` holding
    ``seed_collateral_ratio`` times the debt; ``provider`` must be able to mint the
    collateral (it owns the market's test tokens)."""
    w3 = am.w3
    engine = am.engine
    stablecoin = am.stablecoin
    router = am.router
    _send(w3, stablecoin.functions.approve(router.address, MAX_UINT), provider, gas)
    for name, spec in am.specs.items():
        deployed = am.deployment.ilks[name]
        token = am.collateral(name)
        price = am.oracle_price(name)
        unit = 10**deployed.decimals
        debt = spec.pair_liquidity_usd * WAD
        pair_collateral = spec.pair_liquidity_usd * 10**ORACLE_DECIMALS * unit // price
        vault_collateral = spec.seed_collateral_ratio * pair_collateral
        for fn in (
            token.functions.mint(provider, vault_collateral + pair_collateral),
            token.functions.approve(engine.address, MAX_UINT),
            token.functions.approve(router.address, MAX_UINT),
            engine.functions.deposit(ilk_id(name), vault_collateral),
            engine.functions.draw(ilk_id(name), debt),
            router.functions.addLiquidity(
                stablecoin.address, token.address, debt, pair_collateral, 0, 0, provider, 2**40
            ),
        ):
            _send(w3, fn, provider, gas)


def bind_auction_market(
    w3: Web3, deployment: AuctionDeployment, market: Market, ilks: tuple[IlkSpec, ...] = ()
) -> AuctionMarket:
    """Bind a saved deployment; ``ilks`` only matter to ``seed_pairs``/``open_vaults`` sizing."""
    specs = {s.name: s for s in (ilks or DEFAULT_ILKS) if s.name in deployment.ilks}
    return AuctionMarket(w3=w3, deployment=deployment, market=market, specs=specs)


# --------------------------------------------------------------------------- vaults


@dataclass(frozen=True)
class VaultPlan:
    index: int
    ilk: str
    collateral: int  # collateral token units
    debt: int  # stablecoin units drawn
    collateral_ratio: Decimal  # collateral value / debt at the oracle price when planned


@dataclass(frozen=True)
class OpenedVault:
    plan: VaultPlan
    account: LocalAccount

    @property
    def owner(self) -> ChecksumAddress:
        return Web3.to_checksum_address(self.account.address)


def plan_vaults(
    am: AuctionMarket,
    count: int,
    seed: int = 1,
    *,
    ratio_range: tuple[float, float] = (1.05, 1.8),
    size_usd: tuple[float, float] = (2_000, 150_000),
    ilks: tuple[str, ...] | None = None,
) -> list[VaultPlan]:
    """Varied vaults: a random ilk, a log-uniform collateral value, and a collateral ratio
    drawn from ``ratio_range`` *times the ilk's liquidation ratio* (so 1.05 is 5% above the
    liquidation line), priced at the current oracle prices. Debts are at least the dust."""
    rng = random.Random(seed)
    names = ilks or tuple(am.specs)
    prices = {name: am.oracle_price(name) for name in names}
    plans = []
    for index in range(count):
        name = rng.choice(names)
        spec = am.specs[name]
        unit = 10 ** am.deployment.ilks[name].decimals
        value_usd = Decimal(
            str(round(size_usd[0] * (size_usd[1] / size_usd[0]) ** rng.random(), 2))
        )
        collateral = int(value_usd * 10**ORACLE_DECIMALS * unit / prices[name])
        ratio = Decimal(str(round(rng.uniform(*ratio_range), 4))) * spec.liquidation_ratio / RAY
        value_wad = collateral * prices[name] * WAD // (unit * 10**ORACLE_DECIMALS)
        debt = max(int(value_wad / ratio), spec.dust)
        plans.append(VaultPlan(index, name, collateral, debt, Decimal(value_wad) / debt))
    return plans


def open_vaults(
    am: AuctionMarket,
    count: int,
    seed: int = 1,
    *,
    provider: ChecksumAddress | None = None,
    ratio_range: tuple[float, float] = (1.05, 1.8),
    size_usd: tuple[float, float] = (2_000, 150_000),
    ilks: tuple[str, ...] | None = None,
) -> list[OpenedVault]:
    """Open ``count`` vaults from reproducible local keys (``borrower_account(seed, i)``).

    The provider (default: the deployer) mints the collateral, funds every owner with gas
    money in one Multicall3 transaction and deposits each vault's collateral for its owner;
    each owner signs its own ``draw``. Raises ``TransactionFailed`` if a draw is refused (a
    ratio below the liquidation ratio, or a debt ceiling hit).
    """
    w3 = am.w3
    sender = provider or am.deployment.deployer
    plans = plan_vaults(am, count, seed=seed, ratio_range=ratio_range, size_usd=size_usd, ilks=ilks)
    engine = am.engine
    for name in sorted({plan.ilk for plan in plans}):
        token = am.collateral(name)
        needed = sum(plan.collateral for plan in plans if plan.ilk == name)
        transact(w3, token.functions.mint(sender, needed), sender)
        transact(w3, token.functions.approve(engine.address, MAX_UINT), sender)
    accounts = [borrower_account(seed, plan.index) for plan in plans]
    _fund(am, sender, [a.address for a in accounts])
    opened = []
    for plan, account in zip(plans, accounts, strict=True):
        ilk = ilk_id(plan.ilk)
        transact(
            w3,
            engine.functions.depositFor(ilk, account.address, plan.collateral),
            sender,
            gas=VAULT_TX_GAS,
        )
        send_signed(w3, engine.functions.draw(ilk, plan.debt), account, gas=VAULT_TX_GAS)
        opened.append(OpenedVault(plan, account))
    return opened


def _fund(am: AuctionMarket, sender: ChecksumAddress, owners: list[str]) -> None:
    """Send ``GAS_MONEY_WEI`` to each owner, batched through the market's Multicall3."""
    w3 = am.w3
    multicall = am.market.multicall
    batch = 200
    for start in range(0, len(owners), batch):
        chunk = owners[start : start + batch]
        calls = [(owner, False, GAS_MONEY_WEI, b"") for owner in chunk]
        wait_ok(
            w3,
            multicall.functions.aggregate3Value(calls).transact(
                {
                    "from": sender,
                    "value": Wei(GAS_MONEY_WEI * len(chunk)),
                    "gas": 100_000 + 40_000 * len(chunk),
                }
            ),
            "funding vault owners",
        )


def arbitrage_pairs(am: AuctionMarket, arbitrageur: ChecksumAddress, *, gas: int = 400_000) -> int:
    """Pull every stablecoin/collateral pair back to the oracle price, as arbitrageurs would
    between blocks (the pair fee is ignored; a move under 0.1% is left alone). The arbitrageur
    mints the collateral it sells (it owns the test tokens) and draws the stablecoin it sells
    from a fat vault of its own; it must have approved the router for both. Returns the
    number of swaps."""
    w3 = am.w3
    router = am.router
    stable = am.deployment.stablecoin
    swaps = 0
    for name, deployed in am.deployment.ilks.items():
        pair = am.pair(name)
        r0, r1, _ = pair.functions.getReserves().call()
        stable_first = deployed.pair_token0 == stable
        r_stable, r_coll = (r0, r1) if stable_first else (r1, r0)
        price = am.oracle_price(name)
        k = r_stable * r_coll
        target = isqrt(k * 10**ORACLE_DECIMALS * 10**deployed.decimals // (price * WAD))
        token = am.collateral(name)
        if target > r_coll * 1_001 // 1_000:
            amount = target - r_coll
            transact(w3, token.functions.mint(arbitrageur, amount), arbitrageur, gas=gas)
            path = [deployed.collateral, stable]
        elif target < r_coll * 999 // 1_000:
            amount = k // target - r_stable
            balance = int(am.stablecoin.functions.balanceOf(arbitrageur).call())
            if balance < amount:
                _draw_stable(am, arbitrageur, 2 * amount - balance, gas)
            path = [stable, deployed.collateral]
        else:
            continue
        transact(
            w3,
            router.functions.swapExactTokensForTokens(amount, 0, path, arbitrageur, 2**40),
            arbitrageur,
            gas=gas,
        )
        swaps += 1
    return swaps


def _draw_stable(am: AuctionMarket, who: ChecksumAddress, amount: int, gas: int) -> None:
    """Draw ``amount`` stablecoin from a vault of ``who`` holding ten times its value in the
    first ilk's collateral (minted: ``who`` owns the test tokens)."""
    name = next(iter(am.deployment.ilks))
    deployed = am.deployment.ilks[name]
    price = am.oracle_price(name)
    collateral = 10 * amount * 10**ORACLE_DECIMALS * 10**deployed.decimals // (price * WAD) + 1
    token = am.collateral(name)
    engine = am.engine
    for fn in (
        token.functions.mint(who, collateral),
        token.functions.approve(engine.address, MAX_UINT),
        engine.functions.deposit(ilk_id(name), collateral),
        engine.functions.draw(ilk_id(name), amount),
    ):
        transact(am.w3, fn, who, gas=gas)
