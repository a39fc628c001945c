"""One typed configuration: a TOML file plus ``LIQBOT_*`` environment variables.

Validated once, at start. Every error names the field, the bad value and what is allowed.
Secrets (the private key, a keystore password) are never read from the TOML file: only from
the environment or from files the TOML points at.
"""

from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from bot.chain.urls import redact_url

ENV_PREFIX = "LIQBOT_"
SECRET_NAMES = ("private_key", "password", "keystore_password", "secret", "mnemonic")


class ConfigError(ValueError):
    """The configuration is invalid; the message lists every problem and its fix."""


class RpcUrl(str):
    """A URL that may carry an API key: its repr (and so any logged settings) is redacted."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(redact_url(self))


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChainSettings(_Section):
    chain_id: int = Field(gt=0, description="the chain id the bot refuses to run without")
    rpc_urls: list[str] = Field(min_length=1, description="JSON-RPC URLs, preferred first")
    ws_url: str | None = Field(default=None, description="websocket URL for new heads")
    deployment: Path = Field(description="deployment JSON written by `liqbot deploy`")

    @field_validator("rpc_urls")
    @classmethod
    def _urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(
                    f"{redact_url(url)} is not an http(s) URL; use ws_url for websockets"
                )
        return [RpcUrl(url) for url in urls]

    @field_validator("ws_url")
    @classmethod
    def _ws(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("ws://", "wss://")):
            raise ValueError("ws_url must start with ws:// or wss://")
        return None if url is None else RpcUrl(url)


class KeySettings(_Section):
    """Where the key comes from. The key itself is never in the TOML."""

    source: Literal["env", "keystore", "none"] = Field(
        default="env",
        description="env: LIQBOT_PRIVATE_KEY; keystore: eth-account keystore; none: read-only",
    )
    keystore: Path | None = None
    password_file: Path | None = Field(
        default=None,
        description="file holding the keystore password (else LIQBOT_KEYSTORE_PASSWORD)",
    )

    @model_validator(mode="after")
    def _keystore_needs_a_file(self) -> KeySettings:
        if self.source == "keystore" and self.keystore is None:
            raise ValueError("source = 'keystore' needs keystore = 'path/to/keystore.json'")
        return self


class ExecutionSettings(_Section):
    mode: Literal["flash", "inventory", "auto"] = Field(
        default="auto", description="flash liquidator, inventory, or the better of the two"
    )
    dry_run: bool = False
    numeraire: str = Field(default="native", description="'native' or an asset symbol")
    min_profit: Decimal = Field(default=Decimal("0"), ge=0, description="in the numeraire")
    priority_fee_share_bps: int = Field(default=2000, ge=0, le=10_000)
    max_priority_fee_gwei: Decimal = Field(default=Decimal("50"), gt=0)
    max_fee_gwei: Decimal = Field(default=Decimal("500"), gt=0)
    base_fee_headroom_bps: int = Field(default=12_500, ge=10_000, le=40_000)
    replace_after_blocks: int = Field(default=3, ge=1)
    confirmations: int = Field(default=2, ge=0)
    max_gas_burn_wei: int = Field(
        default=10**17, ge=0, description="budget for fees burnt on reverts"
    )
    relay_url: str | None = Field(
        default=None, description="private relay; never falls back to public"
    )
    relay_method: Literal["eth_sendBundle", "eth_sendPrivateRawTransaction"] = "eth_sendBundle"
    estimate_gas: bool = Field(
        default=True,
        description="ask the node's eth_estimateGas; false: the model's gas plus a margin",
    )
    bundle_size: int = Field(
        default=1,
        ge=1,
        le=256,
        description="liquidations per transaction (the liquidator's tryEach); needs "
        "estimate_gas = false",
    )
    plan_process_from: int = Field(
        default=256,
        ge=0,
        description="plans of this many accounts or more are made in a process of their "
        "own, beside the one that signs and sends; 0: never",
    )

    @field_validator("relay_url")
    @classmethod
    def _relay(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError("relay_url must be an http(s) URL")
        return None if url is None else RpcUrl(url)

    @model_validator(mode="after")
    def _fee_caps(self) -> ExecutionSettings:
        if self.max_priority_fee_gwei > self.max_fee_gwei:
            raise ValueError("max_priority_fee_gwei cannot exceed max_fee_gwei")
        if self.bundle_size > 1 and self.estimate_gas:
            raise ValueError(
                "bundle_size > 1 needs estimate_gas = false: a bundle is simulated in one "
                "tryEach call, which returns no gas per item"
            )
        return self


class WatchSettings(_Section):
    margin_bps: int = Field(
        default=500, ge=0, le=10_000, description="watch health below 1 + margin"
    )
    poll_interval: float = Field(default=1.0, gt=0, le=60)
    reconcile_every: int = Field(
        default=1000, ge=1, description="blocks between full reconciliations"
    )
    log_chunk: int = Field(default=2000, ge=1)
    confirm: Literal["after_send", "before_send", "off"] = Field(
        default="after_send",
        description=(
            "when the pool's own health factor of each liquidatable account is read: after "
            "the block's sends (every send is still simulated on chain first), before them, "
            "or never"
        ),
    )


class ObserveSettings(_Section):
    metrics_port: int | None = Field(default=None, ge=1, le=65_535)
    log_format: Literal["rich", "json"] = "rich"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class AuctionSettings(_Section):
    """The auction keeper (`liqbot keeper`): its model of rivals and its margins."""

    min_profit: Decimal = Field(
        default=Decimal("1"), ge=0, description="stablecoin an action must leave after gas"
    )
    rival_threshold_bps: int = Field(
        default=10_000, ge=0, description="rivals take at or below this share of the market"
    )
    rival_take_probability_bps: int = Field(
        default=5_000, ge=0, le=10_000, description="chance a rival takes, per price step"
    )
    lookahead_steps: int = Field(default=3, ge=1, le=10, description="wait-vs-take horizon")
    block_time: int = Field(default=12, ge=1, le=600, description="seconds between blocks")
    english: bool = Field(default=True, description="bid in English auctions")


class Settings(BaseSettings):
    """Everything the live bot needs. Load it with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    chain: ChainSettings
    keys: KeySettings = KeySettings()
    execution: ExecutionSettings = ExecutionSettings()
    watch: WatchSettings = WatchSettings()
    observe: ObserveSettings = ObserveSettings()
    auctions: AuctionSettings = AuctionSettings()
    journal: Path = Path("liqbot-journal.sqlite")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment variables override the file, which arrives as init arguments.
        return (env_settings, init_settings)


def _find_secrets(data: Any, path: str = "") -> list[str]:
    found = []
    if isinstance(data, dict):
        for key, value in data.items():
            here = f"{path}.{key}" if path else str(key)
            if any(name in str(key).lower() for name in SECRET_NAMES) and key != "password_file":
                found.append(here)
            found.extend(_find_secrets(value, here))
    return found


def _describe(error: dict[str, Any]) -> str:
    field = ".".join(str(part) for part in error["loc"]) or "(top level)"
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{field}: unknown setting; remove it or check its spelling"
    if kind == "missing":
        return f"{field}: required but missing"
    value = error.get("input")
    shown = "<hidden>" if any(s in field.lower() for s in SECRET_NAMES) else repr(_redacted(value))
    return f"{field}: {error['msg']} (got {shown})"


def _redacted(value: Any) -> Any:
    """The value with every URL in it cut to scheme, host and port."""
    if isinstance(value, str) and "://" in value:
        return redact_url(value)
    if isinstance(value, list | tuple):
        return [_redacted(v) for v in value]
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    return value


def load_settings(path: Path | None) -> Settings:
    """Read the TOML file (if any), overlay LIQBOT_* variables, validate everything once.

    LIQBOT_PRIVATE_KEY and LIQBOT_KEYSTORE_PASSWORD are not settings (no field matches them),
    so they never enter this object, its repr or its errors.
    """
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        secrets = _find_secrets(data)
        if secrets:
            raise ConfigError(
                f"{path}: {', '.join(secrets)}: secrets are not read from the config file; "
                "set LIQBOT_PRIVATE_KEY, or point keys.keystore and keys.password_file at files"
            )
    try:
        return Settings(**data)
    except ValidationError as exc:
        problems = "\n".join(f"  - {_describe(dict(e))}" for e in exc.errors())
        where = f" in {path}" if path else ""
        raise ConfigError(f"invalid configuration{where}:\n{problems}") from None
