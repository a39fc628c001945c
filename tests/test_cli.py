"""The `liqbot` command as a user meets it (the demo and deploy as far as they exist)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from web3 import Web3

from bot.chain.anvil import Anvil, free_port
from bot.cli import cli


def test_demo_prints_liquidations_and_a_summary() -> None:
    result = CliRunner().invoke(cli, ["demo", "--borrowers", "4"])
    assert result.exit_code == 0, result.output
    assert "Liquidations (gas and profit in ETH)" in result.output
    assert "liquidations of 6 borrowers" in result.output


def test_deploy_to_anvil_writes_the_deployment(anvil: Anvil, tmp_path: Path) -> None:
    out = tmp_path / "deployment.json"
    result = CliRunner().invoke(
        cli, ["deploy", "--rpc", anvil.url, "--out", str(out), "--chain-id", "31337"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["chain_id"] == 31337
    assert set(data["assets"]) == {"WETH", "WBTC", "USDC", "DAI"}


def test_deploy_auctions_writes_both_deployments_and_hands_the_taker_over(
    anvil: Anvil, tmp_path: Path
) -> None:
    from bot.chain.contracts import bind
    from bot.deploy.auctions import AuctionDeployment

    keeper = "0x" + "ab" * 20
    out = tmp_path / "auctions.json"
    result = CliRunner().invoke(
        cli,
        ["deploy", "--rpc", anvil.url, "--out", str(out), "--auctions", "--taker-owner", keeper],
    )
    assert result.exit_code == 0, result.output
    dep = AuctionDeployment.load(out)
    assert dep.chain_id == 31337
    assert dep.taker_owner.lower() == keeper
    market = json.loads(out.with_suffix(".market.json").read_text())
    assert dep.multicall3 == market["multicall3"]
    # The addresses are live contracts on the chain, and the taker really belongs to the keeper.
    w3 = Web3(Web3.HTTPProvider(anvil.url))
    for address in (dep.liquidator, dep.multicall3, dep.taker):
        assert len(w3.eth.get_code(address)) > 0, address
    taker = bind(w3, "AuctionTaker", dep.taker)
    assert taker.functions.owner().call().lower() == keeper


def test_deploy_refuses_a_taker_owner_without_auctions_or_address(
    anvil: Anvil, tmp_path: Path
) -> None:
    out = tmp_path / "auctions.json"
    for args in (["--taker-owner", "0x" + "ab" * 20], ["--auctions", "--taker-owner", "keeper"]):
        result = CliRunner().invoke(cli, ["deploy", "--rpc", anvil.url, "--out", str(out), *args])
        assert result.exit_code != 0
        assert "--taker-owner" in result.output
        assert not out.exists()


def test_deploy_refuses_a_wrong_chain_id(anvil: Anvil, tmp_path: Path) -> None:
    out = tmp_path / "deployment.json"
    result = CliRunner().invoke(
        cli, ["deploy", "--rpc", anvil.url, "--out", str(out), "--chain-id", "1"]
    )
    assert result.exit_code != 0
    assert "chain id is 31337, not 1" in result.output
    assert not out.exists()


def test_deploy_names_an_unreachable_rpc_without_its_secret(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v2/SECRETKEY123"
    result = CliRunner().invoke(cli, ["deploy", "--rpc", url, "--out", str(tmp_path / "d.json")])
    assert result.exit_code != 0
    assert "cannot reach the RPC" in result.output
    assert "SECRETKEY123" not in result.output


@pytest.mark.parametrize("key", ["not-a-key", "0x1234"])
def test_deploy_rejects_a_malformed_key_without_echoing_it(
    anvil: Anvil, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    monkeypatch.setenv("LIQBOT_DEPLOYER_KEY", key)
    result = CliRunner().invoke(
        cli, ["deploy", "--rpc", anvil.url, "--out", str(tmp_path / "d.json")]
    )
    assert result.exit_code != 0
    assert "LIQBOT_DEPLOYER_KEY is not a valid private key" in result.output
    assert key not in result.output


REAL_PRICES = (
    Path(__file__).resolve().parents[2] / "shared/data/real/oracle/rai_fsm_eth_usd/states.csv"
)


@pytest.mark.skipif(not REAL_PRICES.exists(), reason="shared/ real data not beside the repo")
def test_backtest_on_the_real_eth_crash_writes_reports(tmp_path: Path) -> None:
    config = tmp_path / "backtest.toml"
    config.write_text(
        "[backtest.price_path]\nfrom_block = 12461000\nto_block = 12466000\nborrowers = 300\n"
    )
    html, report = tmp_path / "report.html", tmp_path / "report.json"
    result = CliRunner().invoke(
        cli,
        [
            "backtest", "--price-csv", str(REAL_PRICES), "--config", str(config), "--json",
            "--report-html", str(html), "--report-json", str(report),
            "--sweep", "latency_blocks=1,3",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert json.loads(report.read_text()).keys() == data.keys()
    assert "<svg" in html.read_text()
    assert len(data["sweep"]) == 2


def test_backtest_needs_a_source() -> None:
    result = CliRunner().invoke(cli, ["backtest"])
    assert result.exit_code != 0
    assert "give a recording" in result.output
