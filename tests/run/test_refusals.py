"""`liqbot run` refuses bad input with one clear message, a non-zero exit, nothing signed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from eth_account import Account
from eth_utils.crypto import keccak
from web3 import Web3

from bot.chain.anvil import Anvil, free_port
from bot.cli import cli

BOT_KEY = "0x" + keccak(b"liqbot-refusal-test-bot").hex()


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Anvil, Path]]:
    with Anvil() as node:
        out = tmp_path_factory.mktemp("dep") / "deployment.json"
        result = CliRunner().invoke(cli, ["deploy", "--rpc", node.url, "--out", str(out)])
        assert result.exit_code == 0, result.output
        yield node, out


def config(
    tmp_path: Path, url: str, deployment: Path, chain_id: int = 31337, extra: str = ""
) -> Path:
    path = tmp_path / "liqbot.toml"
    path.write_text(
        f"""
journal = "{tmp_path / "journal.sqlite"}"
[chain]
chain_id = {chain_id}
rpc_urls = ["{url}"]
deployment = "{deployment}"
{extra}
"""
    )
    return path


def run(path: Path, monkeypatch: pytest.MonkeyPatch, key: str | None = BOT_KEY) -> tuple[int, str]:
    if key is None:
        monkeypatch.delenv("LIQBOT_PRIVATE_KEY", raising=False)
    else:
        monkeypatch.setenv("LIQBOT_PRIVATE_KEY", key)
    result = CliRunner().invoke(cli, ["run", "--config", str(path)])
    return result.exit_code, result.output


def nonce_of_bot(url: str) -> int:
    w3 = Web3(Web3.HTTPProvider(url))
    return w3.eth.get_transaction_count(Account.from_key(BOT_KEY).address)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "[execution]\nmin_profit = 'lots'",
            "execution.min_profit: Input should be a valid decimal",
        ),
        ("[execution]\nbogus = true", "execution.bogus: unknown setting"),
        ("[observe]\nmetrics_port = 70000", "observe.metrics_port: Input should be less than"),
    ],
)
def test_malformed_config(
    deployed: tuple[Anvil, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    extra: str,
    message: str,
) -> None:
    node, deployment = deployed
    code, output = run(config(tmp_path, node.url, deployment, extra=extra), monkeypatch)
    assert code != 0
    assert message in output
    assert nonce_of_bot(node.url) == 0


def test_wrong_chain_id(
    deployed: tuple[Anvil, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node, deployment = deployed
    code, output = run(config(tmp_path, node.url, deployment, chain_id=1), monkeypatch)
    assert code != 0
    assert "is for chain 31337, but chain.chain_id is 1" in output
    assert nonce_of_bot(node.url) == 0


def test_missing_key(
    deployed: tuple[Anvil, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node, deployment = deployed
    code, output = run(config(tmp_path, node.url, deployment), monkeypatch, key=None)
    assert code != 0
    assert "no signing key: set LIQBOT_PRIVATE_KEY" in output


def test_liquidator_not_owned_by_the_bot(
    deployed: tuple[Anvil, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node, deployment = deployed
    Web3(Web3.HTTPProvider(node.url)).provider.make_request(  # type: ignore[arg-type]
        "anvil_setBalance", [Account.from_key(BOT_KEY).address, hex(10**19)]
    )
    code, output = run(config(tmp_path, node.url, deployment), monkeypatch)
    assert code != 0
    assert "not started" in output and "owner" in output.lower()
    assert BOT_KEY[2:] not in output
    assert nonce_of_bot(node.url) == 0


def test_unreachable_rpc(
    deployed: tuple[Anvil, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _node, deployment = deployed
    url = f"http://127.0.0.1:{free_port()}/v2/SECRETKEY"
    code, output = run(config(tmp_path, url, deployment), monkeypatch)
    assert code != 0
    assert "cannot reach the RPC at http://127.0.0.1" in output
    assert "SECRETKEY" not in output


def test_missing_deployment(
    deployed: tuple[Anvil, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node, _deployment = deployed
    code, output = run(config(tmp_path, node.url, tmp_path / "nope.json"), monkeypatch)
    assert code != 0
    assert "does not exist: run `liqbot deploy" in output
