"""RELIABILITY.md row 22: bad input stops `liqbot run` before anything is signed: a clear
error naming the problem, a non-zero exit, no nonce used, nothing sent through the node (the
fault proxy counts every send), and no secret in the output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.execute.keys import KEY_ENV
from tests.execute.scenario import BOT_ADDRESS, BOT_KEY
from tests.reliability.harness import Env, no_secret_in
from tests.reliability.invariants import Check

pytestmark = pytest.mark.anvil


def _config(env: Env, deployment: Path, *, chain_id: int = 31337, body: str | None = None) -> Path:
    path = env.tmp / "liqbot.toml"
    path.write_text(
        body
        if body is not None
        else f"""
journal = "{env.journal_path}"
[chain]
chain_id = {chain_id}
rpc_urls = ["{env.proxy.url}"]
deployment = "{deployment}"
"""
    )
    return path


def _deployment(env: Env, **override: str) -> Path:
    path = env.tmp / "deployment.json"
    data = json.loads(env.sc.market.deployment.to_json())
    data.update(override)
    path.write_text(json.dumps(data))
    return path


CASES: dict[str, tuple[str, list[str]]] = {
    "malformed_config": ("toml", ["liqbot.toml"]),
    "bad_address": ("address", ["0x1234"]),
    "eoa_where_a_contract_is_expected": ("eoa", ["code"]),
    "wrong_chain_id": ("chain", ["chain"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_row_22_bad_input_stops_before_anything_is_signed(
    env: Env, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    kind, words = CASES[case]
    stranger = list(env.w3.eth.accounts)[5]
    if kind == "toml":
        config = _config(env, _deployment(env), body='journal = "x"\n[chain\nchain_id = 1\n')
    elif kind == "address":
        config = _config(env, _deployment(env, pool="0x1234"))
    elif kind == "eoa":
        config = _config(env, _deployment(env, pool=stranger))
    else:
        config = _config(env, _deployment(env), chain_id=1)
    monkeypatch.setenv(KEY_ENV, BOT_KEY)
    result = CliRunner().invoke(cli, ["run", "--config", str(config)])
    output = result.output + (str(result.exception) if result.exception else "")
    assert result.exit_code != 0, output
    assert not isinstance(result.exception, AssertionError | TypeError | KeyError), output
    assert any(w.lower() in output.lower() for w in words), output
    assert env.proxy.counts["eth_sendRawTransaction"] == 0 and env.proxy.sends == []
    assert env.w3.eth.get_transaction_count(BOT_ADDRESS, "pending") == 0
    no_secret_in([output])
    env.checks.append(Check(8, "bad input: non-zero exit, nothing signed, no secret", True))
