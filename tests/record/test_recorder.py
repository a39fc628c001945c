"""The recorder on anvil: a recording holds what the chain holds, resumes to the same file
after an interruption, and splits log ranges a provider refuses.

One node and one played market (borrowers, a crash, competing liquidations) serve the module.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from bot.chain.anvil import Anvil
from bot.chain.rpc import HttpEndpoint, JsonValue, RpcClient
from bot.record import SCHEMA_VERSION, RecordingError, record, schema
from bot.record.schema import LIQUIDATION_CALL
from tests.chain.rpc_proxy import RpcProxy
from tests.record.scenario import GWEI, Played, play

pytestmark = pytest.mark.anvil

VOLATILE_META = {"created_at"}


@pytest.fixture(scope="module")
def played() -> Iterator[Played]:
    with Anvil() as node:
        p = play(node, borrowers=14, seed=5)
        p.crash({"WETH": Decimal("2250"), "WBTC": Decimal("47000")})
        victims = p.liquidatable()
        assert len(victims) >= 3, "the crash should make several accounts liquidatable"
        p.compete([(victims[0], GWEI), (victims[1], 3 * GWEI)])
        p.mine()
        p.compete([(victims[2], 2 * GWEI)])
        for _ in range(3):
            p.mine()
        yield p


@pytest.fixture(scope="module")
def straight(played: Played, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    out = tmp_path_factory.mktemp("rec") / "straight.sqlite"
    summary = record(
        [played.anvil.url],
        played.market.deployment,
        played.first,
        played.head,
        out,
        checkpoint_every=7,
        progress=False,
        chunk=10,
    )
    return out, summary


def dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted; meta without its timestamps."""
    conn = sqlite3.connect(path)
    try:
        out: dict[str, list[tuple[Any, ...]]] = {}
        for table in schema.TABLES:
            rows = conn.execute(f"SELECT * FROM {table}").fetchall()
            if table == "meta":
                rows = [r for r in rows if r[0] not in VOLATILE_META]
            out[table] = sorted(rows, key=repr)
        return out
    finally:
        conn.close()


def test_the_recording_holds_what_the_chain_holds(
    played: Played, straight: tuple[Path, Any]
) -> None:
    path, summary = straight
    w3, market = played.w3, played.market
    first, last = played.first, played.head
    assert summary.blocks == last - first + 1
    conn = schema.connect(path)
    meta = schema.read_meta(conn)
    assert meta["schema_version"] == str(SCHEMA_VERSION)
    assert meta["complete"] == "1" and int(meta["recorded_through"]) == last
    # headers
    for number, block_hash, parent, ts, base_fee, used, limit in conn.execute(
        "SELECT * FROM blocks WHERE number IN (?, ?, ?)", (first - 1, played.crash_block, last)
    ):
        block = w3.eth.get_block(number)
        assert block_hash == "0x" + bytes(block["hash"]).hex()
        assert parent == "0x" + bytes(block["parentHash"]).hex()
        assert (ts, base_fee, used, limit) == (
            block["timestamp"],
            block["baseFeePerGas"],
            block["gasUsed"],
            block["gasLimit"],
        )
    # every log of the pool, the oracle, the feeds and the pairs
    d = market.deployment
    watched = [d.pool, d.oracle, *(a.feed for a in d.assets.values())]
    watched += [a.fallback_feed for a in d.assets.values()] + [p.address for p in d.pairs.values()]
    chain_logs = w3.eth.get_logs({"fromBlock": first, "toBlock": last, "address": watched})
    recorded = conn.execute("SELECT block_number, log_index, tx_hash FROM logs").fetchall()
    assert sorted(recorded) == sorted(
        (e["blockNumber"], e["logIndex"], "0x" + bytes(e["transactionHash"]).hex())
        for e in chain_logs
    )
    assert conn.execute("SELECT COUNT(*) FROM logs WHERE event IS NULL").fetchone()[0] == 0
    # liquidations, with their receipts
    events = w3.eth.get_logs(
        {"fromBlock": first, "toBlock": last, "address": d.pool,
         "topics": ["0x" + LIQUIDATION_CALL.topic0.hex()]}
    )  # fmt: skip
    rows = conn.execute(
        "SELECT l.block_number, l.user, l.liquidator, t.gas_used, t.effective_gas_price "
        "FROM liquidations l JOIN transactions t ON t.hash = l.tx_hash ORDER BY 1, l.log_index"
    ).fetchall()
    assert len(rows) == len(events) == len(played.competitor_txs) == 3
    for (block, user, liquidator, gas, price), (b, u, tx) in zip(
        rows, played.competitor_txs, strict=True
    ):
        receipt = w3.eth.get_transaction_receipt(tx)  # type: ignore[arg-type]
        assert (block, user, liquidator) == (b, u, played.competitor)
        assert (gas, price) == (receipt["gasUsed"], receipt["effectiveGasPrice"])
    # checkpoints: the base, every 7 blocks, the last; positions equal the chain's
    blocks = [r[0] for r in conn.execute("SELECT block_number FROM checkpoints ORDER BY 1")]
    base = first - 1
    assert blocks == sorted({base, *range(base + 7, last + 1, 7), last})
    for user in played.borrowers:
        row = conn.execute(
            "SELECT MAX(block_number) FROM account_data WHERE user = ?", (user,)
        ).fetchone()
        if row[0] is None:
            continue
        at = row[0]
        stored = conn.execute(
            "SELECT asset, scaled_supply, scaled_debt, using_as_collateral FROM positions "
            "WHERE block_number = ? AND user = ? ORDER BY asset",
            (at, user),
        ).fetchall()
        assets, supply, debt, flags = market.pool.functions.getUserPositions(user).call(
            block_identifier=at
        )
        chain = sorted(
            (Web3.to_checksum_address(a), str(s), str(x), int(f))
            for a, s, x, f in zip(assets, supply, debt, flags, strict=True)
            if s or x or f
        )
        assert stored == chain
        health = conn.execute(
            "SELECT health_factor FROM account_data WHERE block_number = ? AND user = ?",
            (at, user),
        ).fetchone()[0]
        assert (
            int(health)
            == market.pool.functions.getUserAccountData(user).call(block_identifier=at)[5]
        )
    # a price read at the crash block, tagged with why it was read
    reasons = {
        r[0]
        for r in conn.execute(
            "SELECT reason FROM prices WHERE block_number = ?", (played.crash_block,)
        )
    }
    assert reasons & {"event", "checkpoint"}
    conn.close()


class Interrupting:
    """An endpoint that stops the recorder (as Ctrl-C would) after ``after`` requests."""

    def __init__(self, url: str, after: int) -> None:
        self.inner = HttpEndpoint(url)
        self.name = "interrupting"
        self.left = after

    def request(self, method: str, params: Sequence[JsonValue], timeout: float) -> JsonValue:
        self.left -= 1
        if self.left < 0:
            raise KeyboardInterrupt
        return self.inner.request(method, params, timeout)


def test_an_interrupted_recording_resumes_to_the_same_file(
    played: Played, straight: tuple[Path, Any], tmp_path: Path
) -> None:
    path, summary = straight
    out = tmp_path / "resumed.sqlite"
    args = (played.market.deployment, played.first, played.head, out)
    options: dict[str, Any] = {"checkpoint_every": 7, "progress": False, "chunk": 10}
    halfway = RpcClient([Interrupting(played.anvil.url, after=summary.requests // 2)])
    with pytest.raises(KeyboardInterrupt):
        record(halfway, *args, **options)
    conn = schema.connect(out)
    through = int(schema.read_meta(conn)["recorded_through"])
    conn.close()
    assert played.first <= through < played.head - 10, "stopped halfway, after a whole chunk"
    resumed = record([played.anvil.url], *args, **options)
    assert resumed.resumed_from == through + 1
    assert dump(out) == dump(path)
    # a finished recording asked again changes nothing
    again = record([played.anvil.url], *args, **options)
    assert again.resumed_from is None
    assert dump(out) == dump(path)


def test_refused_log_ranges_are_split(
    played: Played, straight: tuple[Path, Any], tmp_path: Path
) -> None:
    path, _ = straight
    out = tmp_path / "split.sqlite"
    with RpcProxy(played.anvil.url) as proxy:
        proxy.faults.max_log_range = 4
        summary = record(
            [proxy.url],
            played.market.deployment,
            played.first,
            played.head,
            out,
            checkpoint_every=7,
            progress=False,
            chunk=50,
            log_chunk=50,
        )
    assert summary.log_refusals > 0
    assert dump(out) == dump(path)


def test_resuming_with_other_settings_is_refused(
    played: Played, straight: tuple[Path, Any], tmp_path: Path
) -> None:
    path, _ = straight
    copy = tmp_path / "copy.sqlite"
    copy.write_bytes(path.read_bytes())
    with pytest.raises(RecordingError, match="checkpoint_every"):
        record(
            [played.anvil.url],
            played.market.deployment,
            played.first,
            played.head,
            copy,
            checkpoint_every=9,
            progress=False,
        )


def test_a_file_that_is_not_a_recording_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    conn.execute("INSERT INTO meta VALUES ('schema_version', '999')")
    conn.commit()
    conn.close()
    with pytest.raises(RecordingError, match="schema version 999"):
        schema.connect(other)
