"""An independent ledger of the bot's account, computed from the chain alone.

Blocks (every transaction the account sent, and every one that paid it ETH), their receipts
(status, gas, effective price), ERC-20 ``Transfer`` logs touching the account or its
liquidator contract, and the pool's ``LiquidationCall`` logs. Nothing here reads the bot's
journal: :mod:`tests.reliability.invariants` compares the two.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from eth_utils.abi import event_signature_to_log_topic
from web3 import Web3

TRANSFER_TOPIC = (
    "0x" + bytes(event_signature_to_log_topic("Transfer(address,address,uint256)")).hex()
)
LIQUIDATION_CALL_TOPIC = (
    "0x"
    + bytes(
        event_signature_to_log_topic(
            "LiquidationCall(address,address,address,uint256,uint256,address,bool)"
        )
    ).hex()
)


def _hex(value: Any) -> str:
    return value.lower() if isinstance(value, str) else "0x" + bytes(value).hex()


def _addr(topic: Any) -> str:
    return Web3.to_checksum_address("0x" + _hex(topic)[-40:])


@dataclass(frozen=True)
class ChainTx:
    tx_hash: str
    block: int
    block_hash: str
    nonce: int
    to: str | None
    value: int
    status: int
    gas_used: int
    effective_gas_price: int
    max_fee_per_gas: int
    max_priority_fee_per_gas: int

    @property
    def gas_paid(self) -> int:
        return self.gas_used * self.effective_gas_price


@dataclass(frozen=True)
class Transfer:
    token: str
    sender: str
    recipient: str
    amount: int
    tx_hash: str


@dataclass(frozen=True)
class Liquidation:
    tx_hash: str
    block: int
    user: str
    liquidator: str


@dataclass
class ChainLedger:
    account: str
    start_block: int
    head: int
    balance_before: int
    balance_after: int
    txs: list[ChainTx] = field(default_factory=list)
    eth_in: int = 0
    transfers: list[Transfer] = field(default_factory=list)
    liquidations: list[Liquidation] = field(default_factory=list)
    latest_nonce: int = 0
    pending_nonce: int = 0

    @property
    def gas_paid(self) -> int:
        return sum(t.gas_paid for t in self.txs)

    @property
    def value_out(self) -> int:
        return sum(t.value for t in self.txs)

    @property
    def nonces(self) -> list[int]:
        return [t.nonce for t in self.txs]

    def hashes(self) -> set[str]:
        return {t.tx_hash for t in self.txs}

    def liquidations_per_user(self, by: set[str]) -> dict[str, int]:
        """Successful liquidations per user by any of ``by`` (the account, its contract)."""
        lowered = {b.lower() for b in by}
        counts: Counter[str] = Counter(
            liq.user for liq in self.liquidations if liq.liquidator.lower() in lowered
        )
        return dict(counts)

    def profit_to_account(self, tx_hash: str, token: str | None = None) -> int:
        """Tokens paid to the account in one transaction (the liquidator's payout)."""
        return sum(
            t.amount
            for t in self.transfers
            if t.tx_hash == tx_hash
            and t.recipient == self.account
            and (token is None or t.token.lower() == token.lower())
        )


def chain_ledger(
    w3: Web3,
    account: str,
    start_block: int,
    *,
    contracts: tuple[str, ...] = (),
    pool: str | None = None,
) -> ChainLedger:
    """Read blocks ``start_block + 1`` .. head: the account's transactions and receipts, ETH
    paid to it, Transfers from or to the account and ``contracts``, the pool's liquidations."""
    account = Web3.to_checksum_address(account)
    head = int(w3.eth.block_number)
    ledger = ChainLedger(
        account=account,
        start_block=start_block,
        head=head,
        balance_before=int(w3.eth.get_balance(account, start_block)),
        balance_after=int(w3.eth.get_balance(account, head)),
        latest_nonce=int(w3.eth.get_transaction_count(account, "latest")),
        pending_nonce=int(w3.eth.get_transaction_count(account, "pending")),
    )
    for number in range(start_block + 1, head + 1):
        block = w3.eth.get_block(number, full_transactions=True)
        for tx in block["transactions"]:
            assert not isinstance(tx, bytes)
            if tx.get("to") == account and tx["from"] != account:
                receipt = w3.eth.get_transaction_receipt(tx["hash"])
                if receipt["status"] == 1:
                    ledger.eth_in += int(tx["value"])
            if tx["from"] != account:
                continue
            receipt = w3.eth.get_transaction_receipt(tx["hash"])
            ledger.txs.append(
                ChainTx(
                    tx_hash=_hex(tx["hash"]),
                    block=number,
                    block_hash=_hex(block["hash"]),
                    nonce=int(tx["nonce"]),
                    to=tx.get("to"),
                    value=int(tx["value"]) if receipt["status"] == 1 else 0,
                    status=int(receipt["status"]),
                    gas_used=int(receipt["gasUsed"]),
                    effective_gas_price=int(receipt["effectiveGasPrice"]),
                    max_fee_per_gas=int(tx.get("maxFeePerGas", tx.get("gasPrice", 0))),
                    max_priority_fee_per_gas=int(
                        tx.get("maxPriorityFeePerGas", tx.get("gasPrice", 0))
                    ),
                )
            )
    if head > start_block:
        watched = {account.lower(), *(c.lower() for c in contracts)}
        for entry in w3.eth.get_logs(
            {"fromBlock": start_block + 1, "toBlock": head, "topics": [TRANSFER_TOPIC]}
        ):
            if len(entry["topics"]) != 3:
                continue
            sender, recipient = _addr(entry["topics"][1]), _addr(entry["topics"][2])
            if sender.lower() not in watched and recipient.lower() not in watched:
                continue
            ledger.transfers.append(
                Transfer(
                    token=Web3.to_checksum_address(entry["address"]),
                    sender=sender,
                    recipient=recipient,
                    amount=int.from_bytes(bytes(entry["data"])[:32], "big"),
                    tx_hash=_hex(entry["transactionHash"]),
                )
            )
        if pool is not None:
            for entry in w3.eth.get_logs(
                {
                    "address": Web3.to_checksum_address(pool),
                    "fromBlock": start_block + 1,
                    "toBlock": head,
                    "topics": [LIQUIDATION_CALL_TOPIC],
                }
            ):
                data = bytes(entry["data"])
                ledger.liquidations.append(
                    Liquidation(
                        tx_hash=_hex(entry["transactionHash"]),
                        block=int(entry["blockNumber"]),
                        user=_addr(entry["topics"][3]),
                        liquidator=Web3.to_checksum_address("0x" + data[64 + 12 : 96].hex()),
                    )
                )
    return ledger
