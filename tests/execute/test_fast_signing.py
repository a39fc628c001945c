"""The Signer's hand-written EIP-1559 path gives the very bytes eth-account gives, and nodes
take them; whatever it does not cover still goes through eth-account."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st
from web3 import Web3

from bot.execute.keys import Signer, signer_from_key
from bot.execute.node import Node, _receipt_from_json
from tests.execute.scenario import BOT_ADDRESS, BOT_KEY, fund_bot

REFERENCE = Account.from_key(BOT_KEY)
SIGNER = signer_from_key(BOT_KEY, source="the test key")
UINT256 = st.one_of(
    st.integers(0, 2**8),
    st.integers(0, 2**64),
    st.integers(0, 2**256 - 1),
    st.sampled_from([0, 1, 127, 128, 255, 256, 2**255, 2**256 - 1]),
)
ADDRESS = st.binary(min_size=20, max_size=20).map(lambda b: Web3.to_checksum_address(b))
DATA = st.one_of(st.just(b""), st.binary(max_size=80), st.binary(min_size=54, max_size=1200))


def _reference(tx: dict[str, Any]) -> tuple[bytes, str]:
    signed = REFERENCE.sign_transaction(tx)
    return bytes(signed.raw_transaction), "0x" + bytes(signed.hash).hex()


@settings(max_examples=300, deadline=None)
@given(
    chain_id=UINT256,
    nonce=UINT256,
    tip=UINT256,
    max_fee=UINT256,
    gas=UINT256,
    to=ADDRESS,
    value=UINT256,
    data=DATA,
    lower=st.booleans(),
    hex_data=st.booleans(),
)
def test_fast_path_bytes_and_hash_equal_eth_account(
    chain_id: int,
    nonce: int,
    tip: int,
    max_fee: int,
    gas: int,
    to: str,
    value: int,
    data: bytes,
    lower: bool,
    hex_data: bool,
) -> None:
    tx: dict[str, Any] = {
        "type": 2,
        "chainId": chain_id,
        "nonce": nonce,
        "to": to.lower() if lower else to,
        "value": value,
        "data": "0x" + data.hex() if hex_data else data,
        "gas": gas,
        "maxFeePerGas": max_fee,
        "maxPriorityFeePerGas": tip,
    }
    try:
        expected = _reference(tx)
    except Exception:
        # eth-account refuses it (e.g. a nonce or gas beyond its limits): so must we.
        with pytest.raises(ValueError):
            SIGNER.sign_transaction(tx)
        return
    signed = SIGNER.sign_transaction(tx)
    assert (signed.raw, signed.tx_hash) == expected


def test_the_executor_s_transactions_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The exact dict the transaction manager builds never reaches eth-account (whose
    per-call overhead this path removes); a tx outside the fast path still does."""
    tx = {
        "type": 2,
        "chainId": 31337,
        "nonce": 3,
        "to": BOT_ADDRESS,
        "value": 0,
        "data": b"\x01\x02",
        "gas": 21_000,
        "maxFeePerGas": 10**10,
        "maxPriorityFeePerGas": 10**9,
    }
    expected = _reference(tx)
    calls: list[object] = []
    original = type(REFERENCE).sign_transaction

    def counting(self: Any, tx: Any, *a: Any, **kw: Any) -> Any:
        calls.append(tx)
        return original(self, tx, *a, **kw)

    monkeypatch.setattr(type(REFERENCE), "sign_transaction", counting)
    signer = signer_from_key(BOT_KEY, source="the test key")
    signed = signer.sign_transaction(tx)
    assert (signed.raw, signed.tx_hash) == expected
    assert calls == []
    # Outside the fast path: an access list, a legacy transaction; refused as eth-account
    # refuses them: a recipient not in its checksummed form, a negative nonce, a bool.
    access = {**tx, "accessList": [{"address": BOT_ADDRESS, "storageKeys": []}]}
    legacy = {k: v for k, v in tx.items() if not k.startswith("max") and k != "type"}
    legacy["gasPrice"] = 10**9
    for other in (access, legacy):
        signed = signer.sign_transaction(other)
        assert Account.recover_transaction(signed.raw) == BOT_ADDRESS
    assert len(calls) == 2
    for bad in (BOT_ADDRESS.lower(), BOT_ADDRESS[:2] + BOT_ADDRESS[2:].swapcase()):
        with pytest.raises(ValueError):
            signer.sign_transaction({**tx, "to": bad})
    with pytest.raises(ValueError):
        signer.sign_transaction({**tx, "nonce": -1})
    with pytest.raises(ValueError):
        signer.sign_transaction({**tx, "value": True, "bogus": 1})


def _send_and_check(w3: Web3, signer: Signer) -> str:
    nonce = w3.eth.get_transaction_count(BOT_ADDRESS)
    block = w3.eth.get_block("latest")
    recipient = Web3.to_checksum_address("0x" + "42" * 20)
    tx = {
        "type": 2,
        "chainId": w3.eth.chain_id,
        "nonce": nonce,
        "to": recipient,
        "value": 12_345,
        "data": b"",
        "gas": 21_000,
        "maxFeePerGas": 2 * int(block["baseFeePerGas"]) + 10**9,
        "maxPriorityFeePerGas": 10**9,
    }
    signed = signer.sign_transaction(tx)
    sent = w3.eth.send_raw_transaction(signed.raw)
    assert "0x" + bytes(sent).hex() == signed.tx_hash
    receipt = w3.eth.wait_for_transaction_receipt(sent, timeout=30)
    assert receipt["status"] == 1
    assert receipt["from"] == BOT_ADDRESS
    assert w3.eth.get_transaction_count(BOT_ADDRESS) == nonce + 1
    assert w3.eth.get_balance(recipient) == 12_345
    return signed.tx_hash


def test_eth_tester_accepts_a_fast_signed_transaction(w3: Web3, signer: Signer) -> None:
    fund_bot(w3, 10**18)
    _send_and_check(w3, signer)


def test_anvil_accepts_a_fast_signed_transaction(anvil_w3: Web3, signer: Signer) -> None:
    fund_bot(anvil_w3, 10**18)
    tx_hash = _send_and_check(anvil_w3, signer)
    # The batched-receipt reader (cached checksums) reads what web3's reader reads.
    raw = Node(anvil_w3).request("eth_getTransactionReceipt", [tx_hash])
    assert raw["from"] == BOT_ADDRESS.lower()  # the node's lower case, checksummed by both
    assert _receipt_from_json(raw) == Node(anvil_w3).receipt(tx_hash)
