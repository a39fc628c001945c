"""What the executor is asked to do: one liquidation, fully decided, ready to simulate and send.

The model decides *what* (user, assets, size, guard, bid); the protocol adapter encodes the
calldata; the executor only checks, signs, sends and tracks. :func:`request_from_opportunity`
is the one adapter from ``bot.model``'s ``Opportunity``; nothing else here depends on the model.

The opportunity key names the liquidation independently of the block: one (user, collateral,
debt) triple. The journal refuses a second intent for a key while one is in flight, and
refuses a decision made on a state older than the last success for that key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_utils.abi import function_signature_to_4byte_selector

from bot.execute.simulate import LIQUIDATION_CALL_TOPIC
from bot.frozen import quick_init
from bot.model.ranking import Opportunity
from bot.model.types import ExecutionPath
from bot.protocols.base import LendingProtocol, LiquidationRequest
from bot.protocols.base import checksum as _checksum_uncached

checksum = lru_cache(maxsize=8192)(_checksum_uncached)
"""EIP-55 spelling, cached: each request names the same pool, tokens and liquidator, and a
checksum is a keccak (five a request, a thousand requests a crash block)."""


class Route(StrEnum):
    """How the liquidation is paid for (the model's paths, plus a plain EOA call)."""

    FLASH = "flash"
    INVENTORY = "inventory"
    INVENTORY_SWAP = "inventory_swap"
    DIRECT = "direct"
    """``liquidationCall`` from the bot's own account, paying from its own token balance
    (approved once to the pool)."""
    AUCTION_BARK = "auction_bark"
    """Collateral auctions (bot.run.keeper): start one for the keeper reward."""
    AUCTION_TAKE = "auction_take"
    """Buy from a Dutch auction through the bot's AuctionTaker (flash sale, no inventory; the
    taker's ``minProfit`` guard makes a late or undercut take revert)."""
    AUCTION_REDO = "auction_redo"
    AUCTION_TEND = "auction_tend"
    AUCTION_DENT = "auction_dent"
    AUCTION_DEAL = "auction_deal"


def opportunity_key(user: str, collateral: str, debt: str) -> str:
    return f"liquidation:{user.lower()}:{collateral.lower()}:{debt.lower()}"


@dataclass(frozen=True, slots=True)
class ExpectedLog:
    """A log that proves the transaction did what it was for: emitted by ``address`` with
    these topics (None matches anything) and these 32-byte data words at these indexes."""

    address: str
    topics: tuple[bytes | None, ...]
    data_words: tuple[tuple[int, bytes], ...] = ()

    def matches(self, address: str, topics: tuple[bytes, ...], data: bytes) -> bool:
        if address.lower() != self.address.lower() or len(topics) < len(self.topics):
            return False
        if any(
            want is not None and want != got for want, got in zip(self.topics, topics, strict=False)
        ):
            return False
        return all(data[32 * i : 32 * i + 32] == word for i, word in self.data_words)

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "topics": [t.hex() if t is not None else None for t in self.topics],
            "data_words": [[i, w.hex()] for i, w in self.data_words],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExpectedLog:
        return cls(
            address=data["address"],
            topics=tuple(bytes.fromhex(t) if t is not None else None for t in data["topics"]),
            data_words=tuple((int(i), bytes.fromhex(w)) for i, w in data["data_words"]),
        )


@dataclass(frozen=True, slots=True)
class Approval:
    """An ERC-20 allowance the transaction needs first (DIRECT route): approved once, to max."""

    token: str
    spender: str
    amount: int


def _word(address: str) -> bytes:
    return bytes(12) + bytes.fromhex(address[2:])


def liquidation_log(
    pool: str, collateral: str, debt: str, user: str, liquidator: str
) -> ExpectedLog:
    """Aave's ``LiquidationCall`` for this user and pair, with ``liquidator`` as liquidator."""
    return ExpectedLog(
        address=checksum(pool),
        topics=(LIQUIDATION_CALL_TOPIC, _word(collateral), _word(debt), _word(user)),
        data_words=((2, _word(liquidator)),),
    )


@quick_init
@dataclass(frozen=True, slots=True)
class ExecutionRequest:
    """One liquidation to simulate, sign and send. Amounts in token units, fees in wei."""

    key: str
    route: Route
    to: str
    data: bytes
    user: str
    collateral: str
    debt: str
    debt_to_cover: int
    profit_asset: str
    expected_profit: int
    """What the simulation should return as profit (the contract's ``profit``; collateral
    seized for INVENTORY and DIRECT), in ``profit_asset`` units."""
    min_profit: int
    """The guard in the calldata; a simulation returning less means no send."""
    gas_limit: int
    """The model's gas estimate (the executor uses the larger of it and the node's estimate)."""
    priority_fee_per_gas: int
    observed_block: int
    """The block whose state the decision was made on."""
    expected_log: ExpectedLog | None = None
    value: int = 0
    expected_profit_wei: int | None = None
    """Value of the expected gross profit in wei: no send (and no fee bump) whose gas would
    cost more. None skips that check."""
    expected_net_value: int = 0
    """The model's net profit in its numeraire, for the ledger."""
    max_fee_per_gas: int | None = None
    """The model's own cap for this opportunity (the executor's caps still apply)."""
    approval: Approval | None = None
    extra: dict[str, str] = field(default_factory=dict)
    rival_log: ExpectedLog | None = None
    """A log that, emitted for someone else, means a rival did this first (address and
    topics are matched; a log naming one of our addresses in a topic or data word is ours).
    None: the lending protocol's ``LiquidationCall`` scan."""
    profit_log: ExpectedLog | None = None
    """The log whose data word ``profit_word`` is the realised profit (e.g. the auction
    taker's ``Taken``); None: the liquidator's ``Liquidated`` event."""
    profit_word: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "route": str(self.route),
            "to": self.to,
            "data": self.data.hex(),
            "user": self.user,
            "collateral": self.collateral,
            "debt": self.debt,
            "debt_to_cover": str(self.debt_to_cover),
            "profit_asset": self.profit_asset,
            "expected_profit": str(self.expected_profit),
            "min_profit": str(self.min_profit),
            "gas_limit": self.gas_limit,
            "priority_fee_per_gas": str(self.priority_fee_per_gas),
            "observed_block": self.observed_block,
            "expected_log": self.expected_log.to_json() if self.expected_log else None,
            "value": str(self.value),
            "expected_profit_wei": (
                str(self.expected_profit_wei) if self.expected_profit_wei is not None else None
            ),
            "expected_net_value": str(self.expected_net_value),
            "max_fee_per_gas": (
                str(self.max_fee_per_gas) if self.max_fee_per_gas is not None else None
            ),
            "approval": (
                {
                    "token": self.approval.token,
                    "spender": self.approval.spender,
                    "amount": str(self.approval.amount),
                }
                if self.approval
                else None
            ),
            "extra": dict(self.extra),
            "rival_log": self.rival_log.to_json() if self.rival_log else None,
            "profit_log": self.profit_log.to_json() if self.profit_log else None,
            "profit_word": self.profit_word,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ExecutionRequest:
        def opt_int(v: Any) -> int | None:
            return int(v) if v is not None else None

        approval = d.get("approval")
        return cls(
            key=d["key"],
            route=Route(d["route"]),
            to=d["to"],
            data=bytes.fromhex(d["data"]),
            user=d["user"],
            collateral=d["collateral"],
            debt=d["debt"],
            debt_to_cover=int(d["debt_to_cover"]),
            profit_asset=d["profit_asset"],
            expected_profit=int(d["expected_profit"]),
            min_profit=int(d["min_profit"]),
            gas_limit=int(d["gas_limit"]),
            priority_fee_per_gas=int(d["priority_fee_per_gas"]),
            observed_block=int(d["observed_block"]),
            expected_log=ExpectedLog.from_json(d["expected_log"])
            if d.get("expected_log")
            else None,
            value=int(d.get("value", 0)),
            expected_profit_wei=opt_int(d.get("expected_profit_wei")),
            expected_net_value=int(d.get("expected_net_value", 0)),
            max_fee_per_gas=opt_int(d.get("max_fee_per_gas")),
            approval=(
                Approval(approval["token"], approval["spender"], int(approval["amount"]))
                if approval
                else None
            ),
            extra=dict(d.get("extra", {})),
            rival_log=ExpectedLog.from_json(d["rival_log"]) if d.get("rival_log") else None,
            profit_log=ExpectedLog.from_json(d["profit_log"]) if d.get("profit_log") else None,
            profit_word=int(d.get("profit_word", 0)),
        )

    def dumps(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True)


_ROUTE_OF_PATH = {
    ExecutionPath.FLASH: Route.FLASH,
    ExecutionPath.INVENTORY: Route.INVENTORY,
    ExecutionPath.INVENTORY_SWAP: Route.INVENTORY_SWAP,
}


def request_from_opportunity(
    opportunity: Opportunity,
    protocol: LendingProtocol,
    *,
    pool: str,
    liquidator: str,
    observed_block: int,
    expected_profit_wei: int | None = None,
    pair: str | None = None,
) -> ExecutionRequest:
    """The executor's request for a model ``Opportunity`` (through the bot's liquidator).

    ``minProfit`` is the model's break-even guard, so a front-run or a price move makes the
    transaction revert cheaply instead of liquidating at a loss.
    """
    sized = opportunity.sized
    call = protocol.encode_liquidation(
        LiquidationRequest(
            collateral=sized.collateral,
            debt=sized.debt,
            user=opportunity.user,
            debt_to_cover=sized.debt_to_cover,
            path=sized.path,
            pair=pair,
            min_out=opportunity.min_profit_guard,
        )
    )
    return ExecutionRequest(
        key=opportunity_key(opportunity.user, sized.collateral, sized.debt),
        route=_ROUTE_OF_PATH[sized.path],
        to=checksum(call.to),
        data=call.data,
        value=call.value,
        user=checksum(opportunity.user),
        collateral=checksum(sized.collateral),
        debt=checksum(sized.debt),
        debt_to_cover=sized.debt_to_cover,
        profit_asset=checksum(sized.profit_asset),
        expected_profit=sized.contract_profit,
        min_profit=opportunity.min_profit_guard,
        gas_limit=opportunity.gas_units,
        priority_fee_per_gas=opportunity.priority_fee_per_gas,
        observed_block=observed_block,
        expected_log=liquidation_log(
            pool, sized.collateral, sized.debt, opportunity.user, liquidator
        ),
        expected_profit_wei=expected_profit_wei,
        expected_net_value=opportunity.net_profit,
        max_fee_per_gas=opportunity.max_fee_per_gas,
    )


_LIQUIDATION_CALL_SELECTOR = function_signature_to_4byte_selector(
    "liquidationCall(address,address,address,uint256,bool)"
)


def direct_request(
    *,
    pool: str,
    account: str,
    user: str,
    collateral: str,
    debt: str,
    debt_to_cover: int,
    expected_collateral: int,
    min_collateral: int,
    gas_limit: int,
    priority_fee_per_gas: int,
    observed_block: int,
    expected_profit_wei: int | None = None,
    expected_net_value: int = 0,
) -> ExecutionRequest:
    """``liquidationCall`` straight from the bot's account (Aave's signature), paying from
    the account's own ``debt`` balance; needs an allowance to the pool, approved once."""
    data = _LIQUIDATION_CALL_SELECTOR + abi_encode(
        ["address", "address", "address", "uint256", "bool"],
        [collateral, debt, user, debt_to_cover, False],
    )
    return ExecutionRequest(
        key=opportunity_key(user, collateral, debt),
        route=Route.DIRECT,
        to=checksum(pool),
        data=data,
        user=checksum(user),
        collateral=checksum(collateral),
        debt=checksum(debt),
        debt_to_cover=debt_to_cover,
        profit_asset=checksum(collateral),
        expected_profit=expected_collateral,
        min_profit=min_collateral,
        gas_limit=gas_limit,
        priority_fee_per_gas=priority_fee_per_gas,
        observed_block=observed_block,
        expected_log=liquidation_log(pool, collateral, debt, user, account),
        expected_profit_wei=expected_profit_wei,
        expected_net_value=expected_net_value,
        approval=Approval(checksum(debt), checksum(pool), debt_to_cover),
    )
