from __future__ import annotations

import csv
import gzip
import itertools
import json
from pathlib import Path

import pytest

from bot.chain.embedded import embedded_chain
from bot.model.gas import (
    FeeTooLow,
    GasSample,
    GasTable,
    base_fee_after,
    effective_gas_price,
    next_base_fee,
    next_block_fee,
    transaction_fee,
)
from bot.model.types import ExecutionPath, GasParams

GWEI = 10**9
REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "real" / "liquidations"


def test_known_sequence_by_hand() -> None:
    # A 30M-gas chain (target 15M) starting at 100 gwei; each step worked out from the rule.
    steps = [
        (30_000_000, 112_500_000_000),  # full: +1/8
        (15_000_000, 112_500_000_000),  # at target: unchanged
        (0, 98_437_500_000),  # empty: -1/8
        (22_500_000, 104_589_843_750),  # half over target: +1/16
        (7_500_000, 98_052_978_516),  # half under: -(104589843750 * 7.5M // 15M // 8)
        (15_000_001, 98_052_979_333),  # one gas over: 98052978516 // 15M = 6536, // 8 = 817
        (14_999_999, 98_052_978_516),  # one under: the same 817 down
    ]
    fee = 100 * GWEI
    for used, expected in steps:
        fee = next_base_fee(fee, used, 30_000_000)
        assert fee == expected, (used, fee)
    assert base_fee_after(100 * GWEI, [(u, 30_000_000) for u, _ in steps]) == steps[-1][1]


def test_london_like_first_block() -> None:
    # gas limit 30,029,122 (target 15,014,561), 30,025,257 used, base fee 1 gwei:
    # 1e9 * 15,010,696 // 15,014,561 // 8 = 124,967,822
    assert next_base_fee(GWEI, 30_025_257, 30_029_122) == GWEI + 124_967_822


def test_tiny_base_fee_always_moves_up_by_at_least_one() -> None:
    assert next_base_fee(0, 30_000_000, 30_000_000) == 1
    assert next_base_fee(1, 30_000_000, 30_000_000) == 2
    assert next_base_fee(7, 0, 30_000_000) == 7  # 7 // 8 == 0
    assert next_base_fee(8, 0, 30_000_000) == 7


def test_eth_tester_headers_follow_the_rule() -> None:
    """A header sequence from py-evm: blocks under, at and over target, and empty ones."""
    chain = embedded_chain(gas_limit=60_000)  # target 30,000: one transfer under, two over
    w3 = chain.w3
    senders, receiver = w3.eth.accounts[1:3], w3.eth.accounts[0]
    chain.tester.disable_auto_mine_transactions()
    plan = [0, 1, 2, 2, 0, 1, 2, 0, 0, 2]
    for transfers in plan:
        for sender in senders[:transfers]:  # one sender per transaction in a block
            w3.eth.send_transaction({"from": sender, "to": receiver, "value": 1, "gas": 21_000})
        chain.mine()
    latest = w3.eth.block_number
    blocks = [w3.eth.get_block(n) for n in range(1, latest + 1)]
    used = {b["gasUsed"] for b in blocks}
    assert {0, 21_000, 42_000} <= used
    for parent, child in itertools.pairwise(blocks):
        expected = next_base_fee(parent["baseFeePerGas"], parent["gasUsed"], parent["gasLimit"])
        assert child["baseFeePerGas"] == expected


def test_effective_price_and_fee() -> None:
    assert effective_gas_price(30 * GWEI, 50 * GWEI, 2 * GWEI) == 32 * GWEI
    assert effective_gas_price(49 * GWEI, 50 * GWEI, 2 * GWEI) == 50 * GWEI  # tip squeezed
    assert transaction_fee(100_000, 30 * GWEI, 50 * GWEI, 2 * GWEI) == 100_000 * 32 * GWEI
    with pytest.raises(FeeTooLow):
        effective_gas_price(51 * GWEI, 50 * GWEI, 2 * GWEI)


def _real_rows() -> list[dict[str, str]]:
    path = REAL / "mev_inspect_liquidation_tx_gas.DERIVED.csv"
    if not path.exists():
        pytest.skip("recorded liquidation data not present")
    with path.open() as fh:
        return [r for r in csv.DictReader(fh) if r["gas_used"] and r["base_fee_per_gas_wei"]]


def test_fees_of_recorded_liquidations() -> None:
    """Real post-London liquidation receipts: fee = gas_used * (base fee + priority fee)."""
    rows = _real_rows()
    assert len(rows) >= 8
    for row in rows:
        gas, base = int(row["gas_used"]), int(row["base_fee_per_gas_wei"])
        priority, paid = int(row["priority_fee_per_gas_wei"]), int(row["effective_gas_price_wei"])
        # the sender's max fee was at least what it paid; any cap >= paid gives the same price
        assert effective_gas_price(base, paid, priority) == paid
        fee = transaction_fee(gas, base, paid, priority)
        assert fee == gas * paid
        assert abs(fee / 10**18 - float(row["gas_cost_eth"])) < 1e-12


def test_recorded_blocks_receipts_are_consistent() -> None:
    """Each post-London receipt paid at least the block's base fee."""
    folder = REAL / "mev_inspect_blocks"
    files = sorted(folder.glob("*.json.gz")) if folder.exists() else []
    if not files:
        pytest.skip("recorded blocks not present")
    checked = 0
    for path in files:
        block = json.loads(gzip.decompress(path.read_bytes()))
        base = int(block["base_fee_per_gas"])
        if base == 0:  # pre-London fixture
            continue
        for receipt in block["receipts"]:
            price = int(receipt["effective_gas_price"])
            assert effective_gas_price(base, price, price - base) == price
            checked += 1
    assert checked > 1000


def test_gas_table_from_receipts() -> None:
    samples = [
        GasSample(ExecutionPath.FLASH, 250_000),
        GasSample(ExecutionPath.FLASH, 262_000),
        GasSample(ExecutionPath.INVENTORY, 180_000),
        GasSample(ExecutionPath.INVENTORY, 0),  # a placeholder, ignored
    ]
    table = GasTable.from_samples(samples, margin_bps=500)
    assert table.gas_for(ExecutionPath.FLASH) == 262_000 + 13_100
    assert table.gas_for(ExecutionPath.INVENTORY) == 189_000
    assert table.samples == {ExecutionPath.FLASH: 2, ExecutionPath.INVENTORY: 1}
    assert table.gas_for(ExecutionPath.INVENTORY_SWAP) == GasTable().gas_for(
        ExecutionPath.INVENTORY_SWAP
    )


def test_gas_table_from_real_liquidations() -> None:
    """Mainnet liquidation receipts calibrate a table the same way (Aave rows)."""
    rows = [r for r in _real_rows() if r["protocol"] == "aave"]
    table = GasTable.from_samples(
        (GasSample(ExecutionPath.INVENTORY, int(r["gas_used"])) for r in rows), margin_bps=0
    )
    assert table.gas_for(ExecutionPath.INVENTORY) == max(int(r["gas_used"]) for r in rows)


def test_next_block_fee_from_the_parent_header() -> None:
    params = GasParams(
        parent_base_fee=100 * GWEI,
        parent_gas_used=30_000_000,
        parent_gas_limit=30_000_000,
        max_fee_per_gas=200 * GWEI,
        max_priority_fee_per_gas=3 * GWEI,
    )
    base_fee, fee = next_block_fee(params, 400_000)
    assert base_fee == 112_500_000_000
    assert fee == 400_000 * (112_500_000_000 + 3 * GWEI)
