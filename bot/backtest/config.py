"""The backtest's assumptions, all explicit, all configurable (``liqbot backtest --config``).

A TOML file may hold a ``[backtest]`` table with any field of :class:`BacktestConfig` and a
``[backtest.price_path]`` table with any field of :class:`PricePathConfig`; every field has
a default, and an unknown field or a bad value is an error that names it.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from bot.model.gas import DEFAULT_GAS
from bot.model.ranking import ALL_PATHS
from bot.model.types import ExecutionPath

SAME_BLOCK_RULES = ("win", "lose", "priority")
AMM_RULES = ("auto", "recorded", "reactive")
GWEI = 10**9


class BacktestConfigError(ValueError):
    """A configuration value is invalid; the message names the field and what is allowed."""


@dataclass(frozen=True)
class PricePathConfig:
    """The synthetic market of ``--price-csv`` runs (see :mod:`bot.backtest.pricepath`)."""

    price_column: str = "ETH Price (OSM)"
    block_column: str = "block_number"
    time_column: str = "block_timestamp"
    from_block: int | None = None
    """First CSV row (by block) of the window; the book is built at its price."""
    to_block: int | None = None
    borrowers: int = 2_000
    seed: int = 2021
    health_min: Decimal = Decimal("1.05")
    health_max: Decimal = Decimal("3.0")
    """Health factors at the window's first price are log-uniform in [health_min, health_max]."""
    collateral_min_usd: Decimal = Decimal(2_000)
    collateral_max_usd: Decimal = Decimal(2_000_000)
    """Collateral values are log-uniform in this range (USD at the first price)."""
    usdc_share: Decimal = Decimal("0.7")
    """Share of borrowers who owe USDC; the others owe DAI."""
    weth_usdc_depth_usd: Decimal = Decimal(150_000_000)
    weth_dai_depth_usd: Decimal = Decimal(50_000_000)
    """Value of each side of the WETH/USDC and WETH/DAI AMM pairs at the first price."""
    base_fee_gwei: Decimal = Decimal(100)
    """Gas price of every block (the path predates EIP-1559; see the docs)."""
    block_time: int = 13
    blocks_per_row: int = 50
    """Blocks recorded after each CSV row (the price holds in them), at most up to the next
    row: room for the bot's transactions to land and for it to keep liquidating."""


@dataclass(frozen=True)
class BacktestConfig:
    """Everything the backtest assumes about the bot and its competition."""

    latency_blocks: int = 1
    """Blocks between the state the bot decides on and the block its transaction lands in
    (1: the next block, the best a bot that does not build blocks can do)."""
    same_block: str = "priority"
    """When a competitor liquidates the same account in the block the bot's transaction lands
    in: ``win`` (the bot is first), ``lose`` (the competitor is first) or ``priority`` (the
    higher priority fee per gas is first; ties go to the competitor)."""
    gas: Mapping[ExecutionPath, int] = field(default_factory=lambda: dict(DEFAULT_GAS))
    """Gas units each execution path uses."""
    min_profit_usd: Decimal = Decimal(0)
    profit_share_bps: int = 2_000
    """Priority fee per gas = this share of the expected surplus over the base fee."""
    max_fee_gwei: Decimal = Decimal(500)
    min_priority_fee_gwei: Decimal = Decimal(0)
    paths: tuple[ExecutionPath, ...] = ALL_PATHS
    inventory: Mapping[str, int] = field(default_factory=dict)
    """Tokens (symbol -> token units) the bot's liquidator holds for the inventory paths."""
    native_symbol: str = "WETH"
    """The market asset whose oracle price values the chain's native token (gas)."""
    native_price_usd: Decimal | None = None
    """A fixed native token price instead (when no market asset tracks it)."""
    max_per_block: int | None = 20
    """Liquidations the bot sends per block (None: no limit, as the live loop's default; a
    block's gas limit holds 40-75 of them). Planning considers the 1.5 x this (at least this
    + 5) most profitable accounts, each sized alone, so that a crash with hundreds of
    accounts stays fast."""
    reverted_gas: int = 0
    """Gas a transaction that reverts on landing costs (0: a private relay drops reverts)."""
    rescreen_blocks: int = 10
    """An account whose positions and prices did not change is re-sized at most this often;
    in between, its last sizing is re-priced at each block's base fee."""
    at_risk_margin_bps: int = 500
    """Accounts below a health factor of 1 + this are counted as at risk."""
    from_block: int | None = None
    to_block: int | None = None
    base_fee_gwei: Decimal | None = None
    """A fixed base fee instead of the headers' (recordings of pre-London blocks)."""
    amm: str = "auto"
    """Where the AMM pairs the bot trades through come from, block after block: ``recorded``
    (the recording's ``Sync`` events; the bot's own swaps count only inside their block),
    ``reactive`` (the engine's own pairs: the bot's swaps stay in them, and every block ends
    with the model's arbitrage to the oracle price, :func:`bot.model.amm.arbitrage_swap`;
    only for recordings whose pairs follow that rule: price-path and synthetic runs) or
    ``auto`` (reactive for a price path, recorded otherwise)."""
    price_path: PricePathConfig = field(default_factory=PricePathConfig)

    def __post_init__(self) -> None:
        problems: list[str] = []
        if self.latency_blocks < 1:
            problems.append("latency_blocks must be at least 1")
        if self.same_block not in SAME_BLOCK_RULES:
            problems.append(f"same_block must be one of {', '.join(SAME_BLOCK_RULES)}")
        if self.amm not in AMM_RULES:
            problems.append(f"amm must be one of {', '.join(AMM_RULES)}")
        if not 0 <= self.profit_share_bps <= 10_000:
            problems.append("profit_share_bps must be between 0 and 10000")
        if self.max_fee_gwei <= 0:
            problems.append("max_fee_gwei must be positive")
        if self.rescreen_blocks < 1:
            problems.append("rescreen_blocks must be at least 1")
        if self.at_risk_margin_bps < 0:
            problems.append("at_risk_margin_bps must not be negative")
        missing = [p for p in self.paths if p not in self.gas]
        if missing:
            problems.append(f"gas has no entry for {', '.join(str(p) for p in missing)}")
        if not self.paths:
            problems.append("paths must not be empty")
        if problems:
            raise BacktestConfigError("; ".join(problems))

    @property
    def max_fee_per_gas(self) -> int:
        return int(self.max_fee_gwei * GWEI)

    @property
    def min_priority_fee_per_gas(self) -> int:
        return int(self.min_priority_fee_gwei * GWEI)

    def with_values(self, **values: Any) -> BacktestConfig:
        """A copy with some fields replaced, values coerced as from TOML (for sweeps)."""
        return replace(self, **_coerce_all(BacktestConfig, values, "backtest"))


# ----------------------------------------------------------------------------- loading

_DECIMALS = {
    "min_profit_usd",
    "max_fee_gwei",
    "min_priority_fee_gwei",
    "native_price_usd",
    "base_fee_gwei",
    "health_min",
    "health_max",
    "collateral_min_usd",
    "collateral_max_usd",
    "usdc_share",
    "weth_usdc_depth_usd",
    "weth_dai_depth_usd",
}
_OPTIONAL_INTS = {"from_block", "to_block", "max_per_block"}


def _coerce(name: str, value: Any, where: str) -> Any:
    try:
        if name in _DECIMALS:
            return None if value is None else Decimal(str(value))
        if name in _OPTIONAL_INTS:
            return None if value is None else int(value)
        if name == "gas":
            return {ExecutionPath(str(k)): int(v) for k, v in dict(value).items()}
        if name == "paths":
            return tuple(ExecutionPath(str(p)) for p in value)
        if name == "inventory":
            return {str(k): int(v) for k, v in dict(value).items()}
        if name in (
            "same_block",
            "amm",
            "native_symbol",
            "price_column",
            "block_column",
            "time_column",
        ):
            return str(value)
        return int(value)
    except (ValueError, TypeError, InvalidOperation) as exc:
        raise BacktestConfigError(f"{where}.{name}: invalid value {value!r} ({exc})") from None


def _coerce_all(cls: type[Any], values: Mapping[str, Any], where: str) -> dict[str, Any]:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise BacktestConfigError(
            f"{where}: unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name == "price_path":
            if isinstance(value, PricePathConfig):
                out[name] = value
            else:
                out[name] = PricePathConfig(
                    **_coerce_all(PricePathConfig, dict(value), f"{where}.price_path")
                )
        else:
            out[name] = _coerce(name, value, where)
    return out


def config_from_mapping(data: Mapping[str, Any]) -> BacktestConfig:
    """A config from a mapping shaped like the TOML file (``{"backtest": {...}}``) or like its
    ``[backtest]`` table."""
    if "backtest" in data:
        table = data["backtest"]
    elif set(data) <= {f.name for f in fields(BacktestConfig)}:
        table = data
    else:  # a whole liqbot configuration without a [backtest] table: the defaults
        table = {}
    if not isinstance(table, Mapping):
        raise BacktestConfigError("[backtest] must be a table")
    return BacktestConfig(**_coerce_all(BacktestConfig, table, "backtest"))


def load_config(path: Path | None) -> BacktestConfig:
    """The ``[backtest]`` table of a TOML file (defaults for everything it omits)."""
    if path is None:
        return BacktestConfig()
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BacktestConfigError(f"{path}: {exc}") from None
    return config_from_mapping(data)
