"""`liqbot reenact` on anvil: the real ETH/USD path through the crash of 2021-05-19, a small
book, the live bot, and the backtest's predictions held against what the chain holds.

One re-enactment (module fixture) on an anvil the test starts itself (so ``--rpc`` is the
path exercised, with the chain's clock shifted from the CSV's), then the CLI on a tiny slice,
and on the price path of a recording.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from eth_typing import HexStr
from web3 import Web3

from bot.backtest import BacktestConfig, PricePathConfig
from bot.backtest.pricepath import load_price_path, price_path_blocks
from bot.chain.anvil import Anvil
from bot.cli import cli
from bot.record.schema import LIQUIDATION_CALL
from bot.run.reenact import KINDS, ReenactResult, reenact, same_size

pytestmark = pytest.mark.anvil

CSV = Path(__file__).resolve().parents[3] / "shared/data/real/oracle/rai_fsm_eth_usd/states.csv"
if not CSV.exists():  # the repository's data directory, wherever the checkout sits
    CSV = Path("/work/shared/data/real/oracle/rai_fsm_eth_usd/states.csv")
# 13:16 (2,676.59 USD), 14:12 (2,090.79: -22%), 15:08 (2,428.92), 16:05 (2,584.72)
WINDOW = PricePathConfig(from_block=12_465_034, to_block=12_465_813, borrowers=40, blocks_per_row=5)
TOLERANCE_USD = 1.0


@dataclass
class World:
    node: Anvil
    w3: Web3
    result: ReenactResult
    config: BacktestConfig
    out: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    out = tmp_path_factory.mktemp("reenact")
    # three a block: the crash's eight liquidations spread over three blocks, so that the
    # bot's swaps through a pair are carried into the next block's (and the arbitrage's)
    config = BacktestConfig(price_path=WINDOW, max_per_block=3)
    with Anvil(extra_args=["--order", "fifo"]) as node:
        result = reenact(CSV, config, out, rpc_url=node.url, profit_tolerance_usd=TOLERANCE_USD)
        w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 30}))
        yield World(node, w3, result, config, out)


def _chain_liquidations(world: World) -> list[tuple[int, str, str, int]]:
    r = world.result
    pool = json.loads((world.out / "deployment.json").read_text())["pool"]
    logs = world.w3.eth.get_logs(
        {
            "fromBlock": r.first_chain_block,
            "toBlock": r.last_chain_block,
            "address": pool,
            "topics": ["0x" + LIQUIDATION_CALL.topic0.hex()],
        }
    )
    out: list[tuple[int, str, str, int]] = []
    for log in logs:
        user = Web3.to_checksum_address("0x" + bytes(log["topics"][3])[-20:].hex())
        debt_covered = int.from_bytes(bytes(log["data"])[:32], "big")
        out.append(
            (
                int(log["blockNumber"]),
                "0x" + bytes(log["transactionHash"]).hex(),
                user,
                debt_covered,
            )
        )
    return out


def test_every_liquidation_call_on_chain_is_in_the_bots_list(world: World) -> None:
    chain = _chain_liquidations(world)
    live = [(x.chain_block, x.tx_hash, x.user, x.debt_covered) for x in world.result.live]
    assert sorted(chain) == sorted(live)
    assert len(chain) >= 3, "the crash must make the bot liquidate"
    # nobody else liquidates on this chain: every one is the bot's
    assert all(x.by_bot for x in world.result.live)
    # and each is placed at the backtest's block the replay mined it for
    for x in world.result.live:
        assert world.result.block_map[x.chain_block] == x.block


def test_the_chain_carried_the_price_path(world: World) -> None:
    r = world.result
    points = load_price_path(CSV, WINDOW)
    schedule = {b.number: b for b in price_path_blocks(points, world.config)}
    assert len(r.block_map) == len(schedule) == r.blocks
    oracle_abi = [
        {
            "name": "getAssetPrice",
            "type": "function",
            "stateMutability": "view",
            "inputs": [{"name": "asset", "type": "address"}],
            "outputs": [{"name": "", "type": "uint256"}],
        }
    ]
    deployment = json.loads((world.out / "deployment.json").read_text())
    oracle = world.w3.eth.contract(address=deployment["oracle"], abi=oracle_abi)
    weth = deployment["assets"]["WETH"]["token"]
    for chain_block, number in sorted(r.block_map.items())[::3]:
        price = oracle.functions.getAssetPrice(weth).call(block_identifier=chain_block)
        assert price == schedule[number].price, (chain_block, number)


def test_the_bot_agrees_with_the_backtest_or_says_why_not(world: World) -> None:
    r = world.result
    predicted = r.prediction.bot_liquidations
    assert len(r.agreements) >= 3, r.as_json()["disagreements"]
    assert [d for d in r.disagreements if not d.reason] == []
    assert {d.kind for d in r.disagreements} <= set(KINDS)
    kinds = [d.kind for d in r.disagreements]
    paired = len(r.agreements) + sum(kinds.count(k) for k in ("size", "profit", "timing"))
    # every prediction and every liquidation of the bot is accounted for exactly once
    assert paired + kinds.count("not_sent") + kinds.count("reverted") == len(predicted)
    assert paired + kinds.count("unpredicted") == len(r.bot_live)
    live = {(x.user, x.block): x for x in r.bot_live}
    for a in r.agreements:
        x = live[(a.user, a.block)]
        p = next(b for b in predicted if b.user == a.user and b.block == a.block)
        assert same_size(x.debt_covered, p.debt_covered)
        assert abs(x.profit_usd - p.profit_usd) <= abs(x.gas_usd - p.gas_usd) + TOLERANCE_USD
        assert x.profit_usd > 0


def test_no_disagreement_is_about_pair_depth(world: World) -> None:
    """The backtest's pairs carry the bot's own flash swaps and the arbitrage after each (the
    price path's reactive AMM), as the chain's do: no profit or size disagreement is left
    whose reason is the pair the swap met."""
    r = world.result
    about_depth = [
        d
        for d in r.disagreements
        if d.kind in ("profit", "size") and ("deeper" in d.reason or "AMM state" in d.reason)
    ]
    assert about_depth == []
    assert [d for d in r.disagreements if d.kind in ("profit", "size")] == [], [
        (d.kind, d.reason) for d in r.disagreements
    ]


def _reserves(world: World, pair: str, block: int) -> tuple[int, int]:
    """getReserves() of ``pair`` at ``block``."""
    raw = bytes(world.w3.eth.call({"to": pair, "data": HexStr("0x0902f1ac")}, block))
    return int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big")


def test_the_backtests_pairs_are_the_chains_after_the_bots_trades(world: World) -> None:
    """Before each block in which the bot swaps through a pair, the backtest's pair (as its
    first swap there met it) is the chain's: to the wei until sizes drift apart by interest
    (the backtest's reserves do not feel its liquidations, a few ppm of debt), then within
    1e-9 of the product, where leaving the bot's trades out made it 7e-5 to 3.4e-4 shallower."""
    r = world.result
    pairs = json.loads((world.out / "deployment.json").read_text())["pairs"]
    live = {(x.user, x.block): x for x in r.bot_live}
    seen: set[tuple[int, str]] = set()
    carried = exact = 0
    for b in r.prediction.bot_liquidations:
        name = next(n for n in pairs if set(n.split("/")) == {b.collateral, b.debt})
        if b.pair_reserves is None or (b.block, name) in seen:
            continue
        seen.add((b.block, name))
        x = live[(b.user, b.block)]
        r0, r1 = _reserves(world, pairs[name]["address"], x.chain_block - 1)
        p0, p1 = b.pair_reserves
        assert abs(r0 * r1 - p0 * p1) * 10**9 <= p0 * p1, (b.block, name, (r0, r1), (p0, p1))
        exact += (r0, r1) == (p0, p1)
        pair = set(name.split("/"))
        carried += any(y.block < b.block and {y.collateral, y.debt} == pair for y in r.bot_live)
    assert carried >= 1, "the window must have the bot trade a pair twice"
    assert exact >= 1


def test_the_report_lists_what_the_terminal_summarises(world: World) -> None:
    data = json.loads((world.out / "reenact.json").read_text())
    s = data["summary"]
    assert s["bot_liquidations"] == len(world.result.bot_live) == len(data["live"])
    assert s["disagreements"] == len(data["disagreements"])
    assert s["unexplained"] == 0
    assert sum(s["disagreements_by_kind"].values()) == s["disagreements"]
    assert (world.out / "chain.sqlite").exists() and (world.out / "backtest.sqlite").exists()


def test_cli_reenacts_a_tiny_slice_and_a_recordings_path(world: World, tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["reenact", "--price-csv", str(CSV), "--from", "12465034", "--to", "12465292"]
    args += ["--accounts", "15", "--blocks-per-row", "3", "--out", str(tmp_path / "a"), "--json"]
    done = runner.invoke(cli, args)
    assert done.exit_code == 0, done.output
    data = json.loads(done.output)
    assert data["borrowers"] == 15
    assert data["summary"]["unexplained"] == 0
    assert data["summary"]["bot_liquidations"] >= 1
    assert (tmp_path / "a" / "backtest.html").exists()

    # the price path of a recording (the module's backtest recording, a real ETH/USD slice)
    args = ["reenact", "--recording", str(world.out / "backtest.sqlite"), "--rows", "3"]
    args += ["--accounts", "10", "--blocks-per-row", "2", "--out", str(tmp_path / "b"), "--json"]
    done = runner.invoke(cli, args)
    assert done.exit_code == 0, done.output
    data = json.loads(done.output)
    assert data["blocks"] >= 3
    rows = (tmp_path / "b" / "price-path.csv").read_text().splitlines()
    assert rows[0] == "block_number,block_timestamp,ETH Price (OSM)" and len(rows) == 4
    assert rows[2].split(",")[2] == "2090.79435153"


def test_cli_refuses_ambiguous_or_empty_input(tmp_path: Path) -> None:
    runner = CliRunner()
    done = runner.invoke(cli, ["reenact", "--out", str(tmp_path)])
    assert done.exit_code != 0 and "--price-csv" in done.output
    done = runner.invoke(
        cli,
        ["reenact", "--price-csv", str(CSV), "--from", "1", "--to", "2", "--out", str(tmp_path)],
    )
    assert done.exit_code != 0
    assert "fewer than two usable price rows" in done.output


def _syncs(path: Path) -> dict[int, list[tuple[int, int]]]:
    """Each block's ``Sync`` reserves in a recording, in log order."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT block_number, data FROM logs WHERE event = 'Sync' "
            "ORDER BY block_number, log_index"
        ).fetchall()
    finally:
        conn.close()
    out: dict[int, list[tuple[int, int]]] = {}
    for block, data in rows:
        raw = bytes.fromhex(str(data).removeprefix("0x"))
        out.setdefault(block, []).append(
            (int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big"))
        )
    return out


def test_both_runs_arbitrage_alike_and_price_gas_alike(world: World) -> None:
    """Until the bot's first trade the chain's pairs are the backtest's to the wei (one
    arbitrage, fee paid, in both); every block sits at its gas target, so the bot's
    next-base-fee prediction is the fee the backtest charges, and no disagreement is about
    the base fee or a liquidation held back as in flight."""
    r = world.result
    first_trade = min(x.chain_block for x in r.bot_live)
    backtest = _syncs(world.out / "backtest.sqlite")
    chain = _syncs(world.out / "chain.sqlite")
    compared = 0
    for chain_block, number in sorted(r.block_map.items()):
        if chain_block >= first_trade or number not in backtest:
            continue
        assert sorted(chain.get(chain_block, [])) == sorted(backtest[number])
        compared += 1
    assert compared >= 1, "the window must move the price before the bot's first trade"
    fee = int(world.config.price_path.base_fee_gwei * 10**9)
    for chain_block in list(r.block_map)[::7]:
        block = world.w3.eth.get_block(chain_block)
        assert block["baseFeePerGas"] == fee
        assert block["gasUsed"] == block["gasLimit"] // 2
    for d in r.disagreements:
        assert "in flight" not in d.reason and "the backtest predicts" not in d.reason, d.reason
