"""Deploy the bundled market on any chain: tokens, feeds, oracle, pool, AMM, liquidator.

Used by the tests, `liqbot deploy` and the demo. Transactions are sent with
``transact({"from": deployer})``: on eth-tester and anvil the account is unlocked; on a
testnet the caller injects web3's signing middleware for the deployer's key first.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract

from bot.chain.contracts import bind, deploy_contract, transact

RAY = 10**27
BASE_UNIT = 10**8  # the oracle's USD prices have 8 decimals
MAX_UINT = 2**256 - 1


def pct_ray(percent: str) -> int:
    """A yearly rate given in percent, as a ray."""
    return int(Decimal(percent) * RAY / 100)


@dataclass(frozen=True)
class AssetSpec:
    """One reserve of the market: its token, its price and its risk parameters (bps)."""

    symbol: str
    decimals: int
    price_usd: Decimal
    ltv: int
    liquidation_threshold: int
    liquidation_bonus: int
    protocol_fee: int = 1000
    reserve_factor: int = 1000
    base_rate: int = 0
    slope1: int = field(default_factory=lambda: pct_ray("4"))
    slope2: int = field(default_factory=lambda: pct_ray("75"))
    optimal_utilization: int = field(default_factory=lambda: pct_ray("80"))
    feed_decimals: int = 8
    heartbeat: int = 86_400
    max_deviation_bps: int = 500
    pool_liquidity_usd: int = 5_000_000

    def price_answer(self, price_usd: Decimal | None = None) -> int:
        return int(
            (price_usd if price_usd is not None else self.price_usd) * 10**self.feed_decimals
        )


@dataclass(frozen=True)
class PairSpec:
    base: str
    quote: str
    liquidity_usd: int  # value of each side


DEFAULT_ASSETS: tuple[AssetSpec, ...] = (
    AssetSpec(
        "WETH", 18, Decimal("3000"), 8000, 8250, 10500, slope1=pct_ray("3.3"), slope2=pct_ray("80")
    ),
    AssetSpec(
        "WBTC", 8, Decimal("60000"), 7300, 7800, 10650, slope1=pct_ray("4"), slope2=pct_ray("300")
    ),
    AssetSpec(
        "USDC",
        6,
        Decimal("1"),
        7700,
        8000,
        10450,
        slope1=pct_ray("4"),
        slope2=pct_ray("60"),
        optimal_utilization=pct_ray("90"),
    ),
    AssetSpec(
        "DAI",
        18,
        Decimal("1"),
        6300,
        7700,
        10500,
        slope1=pct_ray("4"),
        slope2=pct_ray("75"),
        optimal_utilization=pct_ray("90"),
    ),
)

DEFAULT_PAIRS: tuple[PairSpec, ...] = (
    PairSpec("WETH", "USDC", 4_000_000),
    PairSpec("WBTC", "USDC", 2_000_000),
    PairSpec("WETH", "DAI", 2_000_000),
    PairSpec("WBTC", "WETH", 2_000_000),
    PairSpec("DAI", "USDC", 2_000_000),
)


@dataclass
class AssetDeployment:
    token: ChecksumAddress
    decimals: int
    feed: ChecksumAddress
    fallback_feed: ChecksumAddress


@dataclass
class PairDeployment:
    address: ChecksumAddress
    token0: ChecksumAddress
    token1: ChecksumAddress


@dataclass
class Deployment:
    """Where everything is: what `liqbot deploy` writes and `liqbot run` reads."""

    chain_id: int
    deployment_block: int
    deployer: ChecksumAddress
    pool: ChecksumAddress
    oracle: ChecksumAddress
    guardian: ChecksumAddress
    treasury: ChecksumAddress
    amm_factory: ChecksumAddress
    amm_router: ChecksumAddress
    flash_liquidator: ChecksumAddress
    multicall3: ChecksumAddress
    assets: dict[str, AssetDeployment]
    pairs: dict[str, PairDeployment]
    version: int = 1

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    def save(self, path: Path) -> None:
        path.write_text(self.to_json())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Deployment:
        cs = Web3.to_checksum_address
        return cls(
            chain_id=int(data["chain_id"]),
            deployment_block=int(data["deployment_block"]),
            deployer=cs(data["deployer"]),
            pool=cs(data["pool"]),
            oracle=cs(data["oracle"]),
            guardian=cs(data["guardian"]),
            treasury=cs(data["treasury"]),
            amm_factory=cs(data["amm_factory"]),
            amm_router=cs(data["amm_router"]),
            flash_liquidator=cs(data["flash_liquidator"]),
            multicall3=cs(data["multicall3"]),
            assets={
                symbol: AssetDeployment(
                    token=cs(a["token"]),
                    decimals=int(a["decimals"]),
                    feed=cs(a["feed"]),
                    fallback_feed=cs(a["fallback_feed"]),
                )
                for symbol, a in data["assets"].items()
            },
            pairs={
                name: PairDeployment(
                    address=cs(p["address"]), token0=cs(p["token0"]), token1=cs(p["token1"])
                )
                for name, p in data["pairs"].items()
            },
            version=int(data.get("version", 1)),
        )

    @classmethod
    def load(cls, path: Path) -> Deployment:
        return cls.from_dict(json.loads(path.read_text()))

    def token(self, symbol: str) -> ChecksumAddress:
        return self.assets[symbol].token

    def symbol_of(self, token: str) -> str:
        wanted = Web3.to_checksum_address(token)
        for symbol, asset in self.assets.items():
            if asset.token == wanted:
                return symbol
        raise KeyError(f"{token} is not an asset of this deployment")

    def pair_for(self, a: str, b: str) -> PairDeployment | None:
        return self.pairs.get(f"{a}/{b}") or self.pairs.get(f"{b}/{a}")


@dataclass
class Market:
    """A deployment with bound web3 contracts, for code that drives the market."""

    w3: Web3
    deployment: Deployment
    specs: dict[str, AssetSpec]

    @property
    def pool(self) -> Contract:
        return bind(self.w3, "LendingPool", self.deployment.pool)

    @property
    def oracle(self) -> Contract:
        return bind(self.w3, "PriceOracle", self.deployment.oracle)

    @property
    def router(self) -> Contract:
        return bind(self.w3, "AmmRouter", self.deployment.amm_router)

    @property
    def liquidator(self) -> Contract:
        return bind(self.w3, "FlashLiquidator", self.deployment.flash_liquidator)

    @property
    def multicall(self) -> Contract:
        return bind(self.w3, "Multicall3", self.deployment.multicall3)

    @property
    def guardian(self) -> Contract:
        return bind(self.w3, "GuardianMultisig", self.deployment.guardian)

    def token(self, symbol: str) -> Contract:
        return bind(self.w3, "TestToken", self.deployment.token(symbol))

    def feed(self, symbol: str) -> Contract:
        return bind(self.w3, "PriceFeed", self.deployment.assets[symbol].feed)

    def fallback_feed(self, symbol: str) -> Contract:
        return bind(self.w3, "PriceFeed", self.deployment.assets[symbol].fallback_feed)

    def pair(self, a: str, b: str) -> Contract:
        pair = self.deployment.pair_for(a, b)
        if pair is None:
            raise KeyError(f"no AMM pair for {a}/{b}")
        return bind(self.w3, "AmmPair", pair.address)

    def units(self, symbol: str, amount: Decimal | int | str) -> int:
        """``amount`` whole tokens in the token's smallest unit."""
        return int(Decimal(amount) * 10 ** self.specs[symbol].decimals)

    def set_price(self, symbol: str, price_usd: Decimal | str, sender: ChecksumAddress) -> None:
        """Push a new answer to both feeds of an asset (primary and fallback agree)."""
        spec = self.specs[symbol]
        answer = spec.price_answer(Decimal(price_usd))
        transact(self.w3, self.feed(symbol).functions.updateAnswer(answer), sender)
        transact(self.w3, self.fallback_feed(symbol).functions.updateAnswer(answer), sender)


def _token_amount(spec: AssetSpec, usd: int | Decimal) -> int:
    return int(Decimal(usd) / spec.price_usd * 10**spec.decimals)


def deploy_market(
    w3: Web3,
    deployer: ChecksumAddress,
    *,
    assets: tuple[AssetSpec, ...] = DEFAULT_ASSETS,
    pairs: tuple[PairSpec, ...] = DEFAULT_PAIRS,
    guardian_owners: list[ChecksumAddress] | None = None,
    guardian_threshold: int = 1,
    liquidator_owner: ChecksumAddress | None = None,
    seed_liquidity: bool = True,
) -> Market:
    """Deploy and configure a whole market; the deployer owns every admin role.

    With ``seed_liquidity`` the deployer mints tokens, supplies each reserve and fills each
    AMM pair, so that borrowers can borrow and liquidators can swap.
    """
    start_block = w3.eth.block_number
    specs = {spec.symbol: spec for spec in assets}

    multicall = deploy_contract(w3, "Multicall3", sender=deployer)
    oracle = deploy_contract(w3, "PriceOracle", sender=deployer)
    treasury = deployer
    pool = deploy_contract(w3, "LendingPool", oracle.address, treasury, sender=deployer)
    owners = guardian_owners or [deployer]
    guardian = deploy_contract(w3, "GuardianMultisig", owners, guardian_threshold, sender=deployer)
    transact(w3, pool.functions.setGuardian(guardian.address), deployer)

    asset_deployments: dict[str, AssetDeployment] = {}
    for spec in assets:
        token = deploy_contract(
            w3, "TestToken", f"Test {spec.symbol}", spec.symbol, spec.decimals, sender=deployer
        )
        answer = spec.price_answer()
        feeds = [
            deploy_contract(
                w3,
                "PriceFeed",
                spec.feed_decimals,
                f"{spec.symbol} / USD{suffix}",
                answer,
                1,
                answer * 1000,
                sender=deployer,
            )
            for suffix in ("", " (fallback)")
        ]
        transact(
            w3,
            oracle.functions.setAssetSource(
                token.address,
                feeds[0].address,
                spec.heartbeat,
                feeds[1].address,
                spec.heartbeat,
                spec.max_deviation_bps,
            ),
            deployer,
        )
        transact(
            w3,
            pool.functions.initReserve(
                token.address,
                spec.ltv,
                spec.liquidation_threshold,
                spec.liquidation_bonus,
                spec.protocol_fee,
                spec.reserve_factor,
                spec.base_rate,
                spec.slope1,
                spec.slope2,
                spec.optimal_utilization,
            ),
            deployer,
        )
        asset_deployments[spec.symbol] = AssetDeployment(
            token=token.address,
            decimals=spec.decimals,
            feed=feeds[0].address,
            fallback_feed=feeds[1].address,
        )

    factory = deploy_contract(w3, "AmmFactory", sender=deployer)
    router = deploy_contract(w3, "AmmRouter", factory.address, sender=deployer)
    pair_deployments: dict[str, PairDeployment] = {}
    for pair_spec in pairs:
        a = asset_deployments[pair_spec.base].token
        b = asset_deployments[pair_spec.quote].token
        transact(w3, factory.functions.createPair(a, b), deployer)
        address = factory.functions.getPair(a, b).call()
        pair = bind(w3, "AmmPair", address)
        pair_deployments[f"{pair_spec.base}/{pair_spec.quote}"] = PairDeployment(
            address=pair.address,
            token0=Web3.to_checksum_address(pair.functions.token0().call()),
            token1=Web3.to_checksum_address(pair.functions.token1().call()),
        )

    liquidator = deploy_contract(w3, "FlashLiquidator", pool.address, sender=deployer)
    if liquidator_owner is not None and liquidator_owner != deployer:
        transact(w3, liquidator.functions.transferOwnership(liquidator_owner), deployer)

    deployment = Deployment(
        chain_id=w3.eth.chain_id,
        deployment_block=start_block + 1,
        deployer=deployer,
        pool=pool.address,
        oracle=oracle.address,
        guardian=guardian.address,
        treasury=treasury,
        amm_factory=factory.address,
        amm_router=router.address,
        flash_liquidator=liquidator.address,
        multicall3=multicall.address,
        assets=asset_deployments,
        pairs=pair_deployments,
    )
    market = Market(w3=w3, deployment=deployment, specs=specs)
    if seed_liquidity:
        add_liquidity(market, deployer, pairs)
    return market


def add_liquidity(
    market: Market, provider: ChecksumAddress, pairs: tuple[PairSpec, ...] = DEFAULT_PAIRS
) -> None:
    """Mint tokens to ``provider``, supply every reserve and fill every AMM pair."""
    w3 = market.w3
    pool = market.pool
    router = market.router
    for symbol, spec in market.specs.items():
        token = market.token(symbol)
        amm_usd = sum(p.liquidity_usd for p in pairs if symbol in (p.base, p.quote))
        total = _token_amount(spec, spec.pool_liquidity_usd + amm_usd)
        transact(w3, token.functions.mint(provider, total), provider)
        transact(w3, token.functions.approve(pool.address, MAX_UINT), provider)
        transact(w3, token.functions.approve(router.address, MAX_UINT), provider)
        transact(
            w3,
            pool.functions.supply(
                token.address, _token_amount(spec, spec.pool_liquidity_usd), provider, 0
            ),
            provider,
        )
    deadline = 2**40
    for pair_spec in pairs:
        base, quote = market.specs[pair_spec.base], market.specs[pair_spec.quote]
        transact(
            w3,
            router.functions.addLiquidity(
                market.deployment.token(pair_spec.base),
                market.deployment.token(pair_spec.quote),
                _token_amount(base, pair_spec.liquidity_usd),
                _token_amount(quote, pair_spec.liquidity_usd),
                0,
                0,
                provider,
                deadline,
            ),
            provider,
        )


def bind_market(
    w3: Web3, deployment: Deployment, assets: tuple[AssetSpec, ...] = DEFAULT_ASSETS
) -> Market:
    specs = {spec.symbol: spec for spec in assets if spec.symbol in deployment.assets}
    return Market(w3=w3, deployment=deployment, specs=specs)
