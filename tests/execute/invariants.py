""" "Nothing lost", checked from the chain, not from the bot's own view (RELIABILITY.md).

The figures are returned so that each test can assert them explicitly:

- every transaction the bot's account mined since ``start_block`` is in the journal;
- the account's balance change equals minus the gas of those transactions (the bot sends no
  value: cancellations and heals are zero-value self-sends);
- the ledger's gas adds up to the same figure once every intent is final;
- nonces: the chain's latest = pending = the journal's next; the mined nonces contiguous;
- at most one successful liquidation (status 1 with the LiquidationCall event) per opportunity.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from web3 import Web3

from bot.execute.journal import IntentState, Journal


@dataclass(frozen=True)
class Figures:
    bot_txs: list[str]
    """Hashes of the bot account's mined transactions, in block order."""
    journaled: set[str]
    balance_before: int
    balance_after: int
    gas_paid_on_chain: int
    gas_in_ledger: int
    chain_latest_nonce: int
    chain_pending_nonce: int
    journal_next_nonce: int | None
    mined_nonces: list[int]
    liquidations_per_key: dict[str, int]

    @property
    def balance_change(self) -> int:
        return self.balance_after - self.balance_before


def figures(
    w3: Web3, journal: Journal, account: str, start_block: int, balance_before: int
) -> Figures:
    head = w3.eth.block_number
    bot_txs: list[str] = []
    nonces: list[int] = []
    gas = 0
    for number in range(start_block + 1, head + 1):
        block = w3.eth.get_block(number, full_transactions=True)
        for tx in block["transactions"]:
            assert not isinstance(tx, bytes)
            if tx["from"] != account:
                continue
            receipt = w3.eth.get_transaction_receipt(tx["hash"])
            bot_txs.append("0x" + bytes(tx["hash"]).hex())
            nonces.append(int(tx["nonce"]))
            gas += int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])
    journaled = {a.tx_hash for a in journal.attempts()}
    per_key: Counter[str] = Counter()
    for intent in journal.intents():
        if intent.state is IntentState.CONFIRMED and intent.kind == "liquidation":
            per_key[intent.opportunity_key] += 1
    return Figures(
        bot_txs=bot_txs,
        journaled=journaled,
        balance_before=balance_before,
        balance_after=w3.eth.get_balance(account),  # type: ignore[arg-type]
        gas_paid_on_chain=gas,
        gas_in_ledger=sum(e.gas_paid_wei for e in journal.ledger()),
        chain_latest_nonce=w3.eth.get_transaction_count(account, "latest"),  # type: ignore[arg-type]
        chain_pending_nonce=w3.eth.get_transaction_count(account, "pending"),  # type: ignore[arg-type]
        journal_next_nonce=journal.next_nonce(),
        mined_nonces=nonces,
        liquidations_per_key=dict(per_key),
    )


def assert_nothing_lost(f: Figures, *, first_nonce: int = 0, foreign: int = 0) -> None:
    """The invariants that hold once everything is final. ``foreign``: how many of the
    account's mined transactions were sent by another process on purpose (tests)."""
    unknown = [h for h in f.bot_txs if h not in f.journaled]
    assert len(unknown) == foreign, f"mined but not journaled: {unknown}"
    assert f.balance_change == -f.gas_paid_on_chain, (f.balance_change, f.gas_paid_on_chain)
    if not foreign:
        assert f.gas_in_ledger == f.gas_paid_on_chain, (f.gas_in_ledger, f.gas_paid_on_chain)
    assert f.chain_latest_nonce == f.chain_pending_nonce == f.journal_next_nonce
    assert sorted(f.mined_nonces) == list(range(first_nonce, first_nonce + len(f.mined_nonces)))
    assert len(set(f.mined_nonces)) == len(f.mined_nonces), "two transactions at one nonce"
    assert all(n == 1 for n in f.liquidations_per_key.values()), f.liquidations_per_key
