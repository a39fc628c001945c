"""Deploy and bind the bundled contracts by artifact name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eth_typing import ChecksumAddress
from hexbytes import HexBytes
from web3 import EthereumTesterProvider, Web3
from web3.contract import Contract
from web3.types import TxReceipt

from bot.chain.artifacts import load_artifact
from bot.chain.reverts import Reverted, as_reverted, is_revert

EMBEDDED_TX_GAS = 10_000_000
"""Gas limit for every transaction on the in-process chain: py-evm's eth_estimateGas
re-executes the call many times (seconds for a liquidation), and the embedded chain mines
each transaction on its own, so an estimate buys nothing there. Only gas used is charged."""
GAS_PAD_NUM, GAS_PAD_DEN = 13, 10
"""On a real node, 30% over the estimate: interest accrues and prices move between the
estimate and the block that includes the transaction."""


def gas_limit_for(w3: Web3, estimate: Callable[[], int]) -> int:
    if isinstance(w3.provider, EthereumTesterProvider):
        return EMBEDDED_TX_GAS
    return estimate() * GAS_PAD_NUM // GAS_PAD_DEN + 10_000


class TransactionFailed(Reverted):
    """A transaction was mined with status 0; ``reason`` is its decoded revert."""


def wait_ok(
    w3: Web3,
    tx_hash: HexBytes,
    what: str,
    timeout: float = 120,
    tx: Callable[[], dict[str, Any]] | None = None,
) -> TxReceipt:
    """The receipt of ``tx_hash``; a revert raises with its reason, found by replaying the
    transaction ``tx()`` builds on the state before its block."""
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout)
    if receipt["status"] != 1:
        reason, data = "reason unknown", b""
        if tx is not None:
            built = tx()
            replay = {k: built[k] for k in ("from", "to", "data", "value", "gas") if k in built}
            try:
                w3.eth.call(replay, block_identifier=receipt["blockNumber"] - 1)  # type: ignore[arg-type]
            except Exception as exc:
                if is_revert(exc):
                    reverted = as_reverted(exc)
                    reason, data = reverted.reason, reverted.data
        raise TransactionFailed(
            reason, data, f"{what} reverted in block {receipt['blockNumber']}: {reason}"
        )
    return receipt


def deploy_contract(
    w3: Web3, name: str, *args: Any, sender: ChecksumAddress, gas: int | None = None
) -> Contract:
    artifact = load_artifact(name)
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    constructor = factory.constructor(*args)
    tx: dict[str, Any] = {"from": sender}
    tx["gas"] = gas if gas is not None else gas_limit_for(w3, lambda: constructor.estimate_gas(tx))
    tx_hash = constructor.transact(tx)
    receipt = wait_ok(w3, tx_hash, f"deploying {name}")
    address = receipt["contractAddress"]
    assert address is not None
    return bind(w3, name, address)


def bind(w3: Web3, name: str, address: str) -> Contract:
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=load_artifact(name).abi)


def transact(w3: Web3, fn: Any, sender: ChecksumAddress, what: str = "", **tx: Any) -> TxReceipt:
    """Send a contract call from ``sender`` and fail loudly if it reverts."""
    params = {"from": sender, **tx}
    if "gas" not in params:
        params["gas"] = gas_limit_for(w3, lambda: fn.estimate_gas(params))
    tx_hash = fn.transact(params)
    return wait_ok(w3, tx_hash, what or fn.fn_name, tx=lambda: fn.build_transaction(params))


def send_signed(w3: Web3, fn: Any, account: Any, what: str = "", **tx: Any) -> TxReceipt:
    """Build, sign locally and send a contract call from a local (eth-account) key."""
    params = {
        "from": account.address,
        "nonce": w3.eth.get_transaction_count(account.address, "pending"),
        **tx,
    }
    if "gas" not in params:
        params["gas"] = gas_limit_for(w3, lambda: fn.estimate_gas(params))
    signed = account.sign_transaction(fn.build_transaction(params))
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    return wait_ok(w3, tx_hash, what or fn.fn_name, tx=lambda: fn.build_transaction(params))
