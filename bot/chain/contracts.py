"""Deploy and bind the bundled contracts by artifact name."""

from __future__ import annotations

from typing import Any

from eth_typing import ChecksumAddress
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.types import TxReceipt

from bot.chain.artifacts import load_artifact


class TransactionFailed(RuntimeError):
    """A transaction was mined with status 0."""


def wait_ok(w3: Web3, tx_hash: HexBytes, what: str, timeout: float = 120) -> TxReceipt:
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout)
    if receipt["status"] != 1:
        raise TransactionFailed(f"{what} reverted in block {receipt['blockNumber']}")
    return receipt


def deploy_contract(
    w3: Web3, name: str, *args: Any, sender: ChecksumAddress, gas: int | None = None
) -> Contract:
    artifact = load_artifact(name)
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    tx: dict[str, Any] = {"from": sender}
    if gas is not None:
        tx["gas"] = gas
    tx_hash = factory.constructor(*args).transact(tx)
    receipt = wait_ok(w3, tx_hash, f"deploying {name}")
    address = receipt["contractAddress"]
    assert address is not None
    return bind(w3, name, address)


def bind(w3: Web3, name: str, address: str) -> Contract:
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=load_artifact(name).abi)


def transact(w3: Web3, fn: Any, sender: ChecksumAddress, what: str = "", **tx: Any) -> TxReceipt:
    """Send a contract call from ``sender`` and fail loudly if it reverts."""
    tx_hash = fn.transact({"from": sender, **tx})
    return wait_ok(w3, tx_hash, what or fn.fn_name)


def send_signed(w3: Web3, fn: Any, account: Any, what: str = "", **tx: Any) -> TxReceipt:
    """Build, sign locally and send a contract call from a local (eth-account) key."""
    params = {
        "from": account.address,
        "nonce": w3.eth.get_transaction_count(account.address, "pending"),
        **tx,
    }
    signed = account.sign_transaction(fn.build_transaction(params))
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    return wait_ok(w3, tx_hash, what or fn.fn_name)
