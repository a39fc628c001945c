"""Configuration: one TOML file plus LIQBOT_* variables, every error clear, no secrets."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings

GOOD = """
journal = "journal.sqlite"
[chain]
chain_id = 31337
rpc_urls = ["http://127.0.0.1:8545"]
deployment = "deployment.json"
[execution]
min_profit = "0.01"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "liqbot.toml"
    path.write_text(text)
    return path


def test_a_good_file_loads(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, GOOD))
    assert settings.chain.chain_id == 31337
    assert settings.execution.min_profit == Decimal("0.01")
    assert settings.execution.mode == "auto"
    assert (settings.execution.bundle_size, settings.execution.estimate_gas) == (1, True)


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIQBOT_EXECUTION__DRY_RUN", "true")
    monkeypatch.setenv("LIQBOT_CHAIN__CHAIN_ID", "11155111")
    settings = load_settings(write(tmp_path, GOOD))
    assert settings.execution.dry_run is True
    assert settings.chain.chain_id == 11155111


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("[execution]\nbogus = 1", "execution.bogus: unknown setting"),
        ("[watch]\npoll_interval = 'fast'", "watch.poll_interval: Input should be a valid number"),
        (
            "[execution]\nmode = 'yolo'",
            "execution.mode: Input should be 'flash', 'inventory' or 'auto'",
        ),
        (
            "[execution]\nmax_fee_gwei = -1",
            "execution.max_fee_gwei: Input should be greater than 0",
        ),
        ("[keys]\nsource = 'keystore'", "keys: Value error, source = 'keystore' needs keystore"),
        (
            "[watch]\nconfirm = 'sometimes'",
            "watch.confirm: Input should be 'after_send', 'before_send' or 'off'",
        ),
        (
            "[execution]\nbundle_size = 16",
            "execution: Value error, bundle_size > 1 needs estimate_gas = false",
        ),
        ("[execution]\nbundle_size = 0", "execution.bundle_size: Input should be greater than"),
    ],
)
def test_each_bad_value_names_the_field_and_the_fix(
    tmp_path: Path, extra: str, expected: str
) -> None:
    text = GOOD.replace('[execution]\nmin_profit = "0.01"\n', "") + extra + "\n"
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text))
    assert expected in str(caught.value)


def test_missing_required_fields_are_listed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, "[chain]\nchain_id = 1\n"))
    message = str(caught.value)
    assert "chain.rpc_urls: required but missing" in message
    assert "chain.deployment: required but missing" in message


def test_a_key_in_the_file_is_refused_and_not_echoed(tmp_path: Path) -> None:
    secret = "0x" + "ab" * 32
    text = GOOD + f'[keys]\nprivate_key = "{secret}"\n'
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text))
    assert "keys.private_key: secrets are not read from the config file" in str(caught.value)
    assert secret not in str(caught.value)


def test_the_private_key_variable_is_not_a_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "0x" + "cd" * 32
    monkeypatch.setenv("LIQBOT_PRIVATE_KEY", secret)
    settings = load_settings(write(tmp_path, GOOD))
    assert secret not in repr(settings)


def test_rpc_url_secrets_stay_out_of_repr_and_errors(tmp_path: Path) -> None:
    text = GOOD.replace("http://127.0.0.1:8545", "https://node.example.org/v3/APIKEY123")
    settings = load_settings(write(tmp_path, text))
    assert "APIKEY123" not in repr(settings)
    assert settings.chain.rpc_urls[0] == "https://node.example.org/v3/APIKEY123"
    bad = GOOD.replace("http://127.0.0.1:8545", "ftp://node.example.org/v3/APIKEY123")
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, bad))
    assert "not an http(s) URL" in str(caught.value)
    assert "APIKEY123" not in str(caught.value)


def test_unreadable_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(write(tmp_path, "[chain\n"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")
