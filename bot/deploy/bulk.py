"""Seed many borrowers fast, and drive random activity on them, with BulkBorrowers.sol.

TEST AND BENCHMARK ONLY. One transaction opens ~70 positions (~260k gas each, budgeted at
400k, at a 30M block gas limit; more with a bigger one): each borrower is a minimal proxy
that the pool sees as an ordinary account, so the protocol's accounting and events are the
real ones. The factory holds the tokens: it supplies and repays for the borrowers and can
liquidate them, and the borrowers borrow and withdraw for themselves into it.
``run_steps`` executes a batch of actions where each failing action is skipped, which lets
random activity be generated without predicting what the pool will accept.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_typing import ChecksumAddress
from eth_utils.abi import event_signature_to_log_topic, function_signature_to_4byte_selector
from web3 import Web3
from web3.contract import Contract
from web3.types import TxReceipt

from bot.chain.contracts import TransactionFailed, bind, deploy_contract, transact
from bot.deploy.borrowers import BorrowerPlan
from bot.deploy.market import MAX_UINT, Market

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
OPEN_GAS_PER_POSITION = 400_000
"""A gas budget per opened position (clone, up to two supplies, a borrow that prices every
held asset through the oracle: 260k-320k measured) that sizes the batches."""
BATCH_GAS = 1_000_000
"""Gas on top of the per-item budgets: the first items of a batch pay for cold storage and
code (a batch of two positions measured 0.94M)."""
STEP_GAS = 300_000
"""A gas budget per step of ``run`` (a liquidation is the dearest) that sizes the batches."""

# Calldata is encoded with eth_abi directly: web3's encoder takes seconds for big batches.
_POSITION = "(address,uint256,address,uint256,address,uint256)[]"
_STEP = "(uint8,uint32,address,address,uint256)[]"
_OPEN = function_signature_to_4byte_selector(f"open({_POSITION})")
_RUN = function_signature_to_4byte_selector(f"run({_STEP})")
_RAN = event_signature_to_log_topic("Ran(uint256,uint256)")
_MINT = function_signature_to_4byte_selector("mint(address,uint256)")


class Action(IntEnum):
    SUPPLY = 0
    BORROW = 1
    REPAY = 2
    WITHDRAW = 3
    LIQUIDATE = 4
    SET_COLLATERAL = 5


@dataclass(frozen=True)
class Step:
    """One action of ``run``; ``borrower`` is an index into the factory's borrowers."""

    action: Action
    borrower: int
    asset: str
    amount: int
    other: str = ZERO_ADDRESS

    def as_tuple(self) -> tuple[int, int, str, str, int]:
        return (int(self.action), self.borrower, self.asset, self.other, self.amount)


@dataclass
class BulkBorrowers:
    """A deployed factory and the market it seeds."""

    market: Market
    contract: Contract
    owner: ChecksumAddress

    @property
    def address(self) -> ChecksumAddress:
        return self.contract.address

    def count(self) -> int:
        return int(self.contract.functions.count().call())

    def borrowers(self, page: int = 2_000) -> list[str]:
        """Every borrower's address, in creation order."""
        total = self.count()
        out: list[str] = []
        for start in range(0, total, page):
            chunk = self.contract.functions.slice(start, start + page).call()
            out.extend(Web3.to_checksum_address(a) for a in chunk)
        return out

    def fund(self, symbol: str, amount: int) -> None:
        """Mint ``amount`` of a market token to the factory (the deployer owns the tokens)."""
        w3 = self.market.w3
        data = _MINT + abi_encode(["address", "uint256"], [self.address, amount])
        token = self.market.deployment.token(symbol)
        tx_hash = w3.eth.send_transaction({"from": self.owner, "to": token, "data": data})
        _receipt(w3, tx_hash, f"minting {symbol}")


def deploy_bulk(market: Market, owner: ChecksumAddress | None = None) -> BulkBorrowers:
    """Deploy a factory for ``market`` and let the pool pull every market token from it.

    ``owner`` must also own the test tokens (the market's deployer) so that it can fund it.
    """
    sender = owner or market.deployment.deployer
    contract = deploy_contract(market.w3, "BulkBorrowers", market.deployment.pool, sender=sender)
    tokens = [market.deployment.token(symbol) for symbol in market.specs]
    transact(market.w3, contract.functions.approve(tokens), sender)
    return BulkBorrowers(market, bind(market.w3, "BulkBorrowers", contract.address), sender)


def open_bulk(
    bulk: BulkBorrowers,
    plans: Sequence[BorrowerPlan],
    *,
    per_tx: int | None = None,
    gas_limit: int | None = None,
) -> list[str]:
    """Open one borrower per plan (up to two collaterals, one debt); returns their addresses.

    The collateral is minted to the factory first, the pool's cash topped up to cover what
    they borrow (which ends up in the factory). Batches hold ``per_tx`` positions, at most as
    many as fit ``gas_limit`` (default: the latest block's gas limit; start anvil with a
    bigger one to open 100k positions in fewer transactions). All batches are sent, then
    their receipts checked: one failing position reverts its batch (``OpenFailed(index)``).
    """
    market = bulk.market
    w3 = market.w3
    needed: dict[str, int] = {}
    for plan in plans:
        if len(plan.collateral) > 2 or len(plan.debt) > 1:
            raise ValueError(f"plan {plan.index}: at most two collaterals and one debt")
        for symbol, amount in plan.collateral.items():
            needed[symbol] = needed.get(symbol, 0) + amount
    for symbol, amount in needed.items():
        bulk.fund(symbol, amount)
    borrowed: dict[str, int] = {}
    for plan in plans:
        for symbol, amount in plan.debt.items():
            borrowed[symbol] = borrowed.get(symbol, 0) + amount
    ensure_liquidity(bulk, borrowed)
    block_gas = gas_limit or int(w3.eth.get_block("latest")["gasLimit"])
    fits = (block_gas - BATCH_GAS) // OPEN_GAS_PER_POSITION
    per_tx = max(1, min(per_tx or fits, fits))
    first = bulk.count()
    sent = []
    for start in range(0, len(plans), per_tx):
        chunk = plans[start : start + per_tx]
        data = _OPEN + abi_encode([_POSITION], [[_position(market, plan) for plan in chunk]])
        # Explicit gas (an estimate would run each batch twice); send all, then check.
        gas = min(block_gas, BATCH_GAS + OPEN_GAS_PER_POSITION * len(chunk))
        sent.append(_send(bulk, data, gas))
    for tx_hash in sent:
        _receipt(w3, tx_hash, "opening bulk borrowers")
    return bulk.borrowers()[first:]


def _send(bulk: BulkBorrowers, data: bytes, gas: int) -> bytes:
    tx_hash: bytes = bulk.market.w3.eth.send_transaction(
        {"from": bulk.owner, "to": bulk.address, "data": data, "gas": gas}
    )
    return tx_hash


def _receipt(w3: Web3, tx_hash: bytes, what: str, timeout: float = 120.0) -> TxReceipt:
    """Wait for a receipt polling every 10 ms (web3's wait sleeps 100 ms between polls,
    which dominates on a local node)."""
    receipt = w3.eth.wait_for_transaction_receipt(
        tx_hash,  # type: ignore[arg-type]
        timeout=timeout,
        poll_latency=0.01,
    )
    if receipt["status"] != 1:
        raise TransactionFailed(f"{what} reverted in block {receipt['blockNumber']}")
    return receipt


def ensure_liquidity(bulk: BulkBorrowers, borrowed: dict[str, int], headroom: float = 1.5) -> None:
    """Make each reserve's cash cover ``borrowed`` with ``headroom`` to spare (keeping rates
    sane), supplying the shortfall from the owner: thousands of borrowers outgrow the
    liquidity ``deploy_market`` seeds."""
    market = bulk.market
    pool = market.pool
    for symbol, amount in borrowed.items():
        token = market.deployment.token(symbol)
        cash = int(pool.functions.getReserveData(token).call()[-1])
        shortfall = int(amount * headroom) - cash
        if shortfall <= 0:
            continue
        erc20 = market.token(symbol)
        transact(market.w3, erc20.functions.mint(bulk.owner, shortfall), bulk.owner)
        transact(market.w3, erc20.functions.approve(pool.address, MAX_UINT), bulk.owner)
        transact(market.w3, pool.functions.supply(token, shortfall, bulk.owner, 0), bulk.owner)


def _position(market: Market, plan: BorrowerPlan) -> tuple[str, int, str, int, str, int]:
    collateral: list[tuple[str, int]] = [
        (market.deployment.token(s), a) for s, a in plan.collateral.items()
    ]
    collateral += [(ZERO_ADDRESS, 0)] * (2 - len(collateral))
    debt: list[tuple[str, int]] = [(market.deployment.token(s), a) for s, a in plan.debt.items()]
    debt = debt or [(ZERO_ADDRESS, 0)]
    (c1, a1), (c2, a2) = collateral
    d, da = debt[0]
    return (c1, a1, c2, a2, d, da)


def run_steps(
    bulk: BulkBorrowers,
    steps: Sequence[Step],
    *,
    per_tx: int | None = None,
    gas_limit: int | None = None,
) -> tuple[int, int]:
    """Run ``steps`` in as few transactions as the gas limit allows; (succeeded, failed)."""
    w3 = bulk.market.w3
    block_gas = gas_limit or int(w3.eth.get_block("latest")["gasLimit"])
    fits = (block_gas - BATCH_GAS) // STEP_GAS
    per_tx = max(1, min(per_tx or fits, fits))
    sent = []
    for start in range(0, len(steps), per_tx):
        chunk = steps[start : start + per_tx]
        data = _RUN + abi_encode([_STEP], [[step.as_tuple() for step in chunk]])
        # Explicit gas: a step that runs out of gas is skipped, not reverted, so an
        # estimate would happily starve the later steps.
        sent.append(_send(bulk, data, min(block_gas, BATCH_GAS + STEP_GAS * len(chunk))))
    ok = failed = 0
    for tx_hash in sent:
        receipt = _receipt(w3, tx_hash, "running bulk steps")
        for entry in receipt["logs"]:
            if entry["address"] == bulk.address and bytes(entry["topics"][0]) == _RAN:
                succeeded, skipped = abi_decode(["uint256", "uint256"], bytes(entry["data"]))
                ok += succeeded
                failed += skipped
    return ok, failed


def random_steps(market: Market, rng: random.Random, borrowers: int, count: int) -> list[Step]:
    """``count`` random supplies, borrows, repayments, withdrawals and collateral toggles on
    random borrowers, worth a hundred to a few thousand USD each; many will be refused by
    the pool (and skipped), as in real life."""
    symbols = list(market.specs)
    weights = (
        (Action.SUPPLY, 3),
        (Action.BORROW, 3),
        (Action.REPAY, 3),
        (Action.WITHDRAW, 2),
        (Action.SET_COLLATERAL, 1),
    )
    actions = [a for a, _ in weights]
    steps: list[Step] = []
    for _ in range(count):
        action = rng.choices(actions, weights=[w for _, w in weights])[0]
        symbol = rng.choice(symbols)
        spec = market.specs[symbol]
        usd = Decimal(str(round(rng.uniform(100, 5_000), 2)))
        amount = int(usd / spec.price_usd * 10**spec.decimals)
        if action is Action.REPAY and rng.random() < 0.25:
            amount = MAX_UINT
        if action is Action.SET_COLLATERAL:
            amount = int(rng.random() < 0.5)
        token = market.deployment.token(symbol)
        steps.append(Step(action, rng.randrange(borrowers), token, amount))
    return steps


def liquidation_step(borrower: int, collateral: str, debt: str, amount: int = MAX_UINT) -> Step:
    """Liquidate borrower ``borrower`` (an index) as far as the close factor allows."""
    return Step(Action.LIQUIDATE, borrower, collateral, amount, other=debt)
