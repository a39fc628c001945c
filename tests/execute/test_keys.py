"""Keys come from the environment or a keystore, and never show anywhere."""

from __future__ import annotations

import copy
import json
import logging
import pickle
from pathlib import Path

import pytest
from eth_account import Account

from bot.execute.keys import (
    KEY_ENV,
    KEYSTORE_ENV,
    PASSWORD_ENV,
    PASSWORD_FILE_ENV,
    KeyLoadFailed,
    Signer,
    load_signer,
    signer_from_key,
)
from tests.execute.scenario import BOT_ADDRESS, BOT_KEY, KEYSTORE_PASSWORD


@pytest.fixture
def keystore(tmp_path: Path) -> Path:
    path = tmp_path / "bot.keystore.json"
    path.write_text(
        json.dumps(Account.encrypt(bytes.fromhex(BOT_KEY[2:]), KEYSTORE_PASSWORD, iterations=2))
    )
    return path


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (KEY_ENV, KEYSTORE_ENV, PASSWORD_ENV, PASSWORD_FILE_ENV):
        monkeypatch.delenv(name, raising=False)


def _no_secret(text: str) -> None:
    for secret in (BOT_KEY, BOT_KEY[2:], KEYSTORE_PASSWORD):
        assert secret not in text


def test_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, BOT_KEY)
    signer = load_signer()
    assert signer is not None and signer.address == BOT_ADDRESS
    _no_secret(repr(signer) + str(signer) + f"{signer}")
    assert BOT_ADDRESS in repr(signer)


def test_key_from_a_keystore_with_password_file_or_env(
    keystore: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    password_file = tmp_path / "password"
    password_file.write_text(KEYSTORE_PASSWORD + "\n")
    signer = load_signer(keystore=keystore, password_file=password_file)
    assert signer is not None and signer.address == BOT_ADDRESS
    monkeypatch.setenv(KEYSTORE_ENV, str(keystore))
    monkeypatch.setenv(PASSWORD_ENV, KEYSTORE_PASSWORD)
    signer = load_signer(consume_env=True)
    assert signer is not None and signer.address == BOT_ADDRESS
    assert PASSWORD_ENV not in __import__("os").environ  # consumed: children do not inherit it
    _no_secret(repr(signer))


def test_read_only_mode_has_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, BOT_KEY)
    assert load_signer(read_only=True) is None


@pytest.mark.parametrize(
    "bad",
    [
        BOT_KEY[:-2],  # too short
        BOT_KEY[:-1] + "g",  # not hex
        "0x" + "00" * 32,  # not a valid secp256k1 key
    ],
    ids=["short", "not-hex", "zero"],  # never a key in a test id
)
def test_bad_keys_fail_without_quoting_them(
    bad: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(KEY_ENV, bad)
    with pytest.raises(KeyLoadFailed) as info:
        load_signer()
    text = str(info.value) + repr(info.value) + caplog.text
    assert bad not in text and bad[2:] not in text and bad[2:20] not in text
    assert info.value.__cause__ is None
    assert info.value.__context__ is None or info.value.__suppress_context__


def test_wrong_password_and_missing_password(
    keystore: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "not the password")
    with pytest.raises(KeyLoadFailed, match="wrong password") as info:
        load_signer(keystore=keystore)
    _no_secret(str(info.value))
    assert "not the password" not in str(info.value)
    monkeypatch.delenv(PASSWORD_ENV)
    with pytest.raises(KeyLoadFailed, match=PASSWORD_ENV):
        load_signer(keystore=keystore)
    with pytest.raises(KeyLoadFailed, match="cannot read keystore"):
        load_signer(keystore=tmp_path / "missing.json", password_file=keystore)


def test_no_key_configured_says_how_to_fix_it() -> None:
    with pytest.raises(KeyLoadFailed, match=KEY_ENV):
        load_signer()


def test_a_signer_cannot_be_pickled_or_copied_and_hides_its_key(
    signer: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    for attempt in (pickle.dumps, copy.copy, copy.deepcopy):
        with pytest.raises(TypeError):
            attempt(signer)
    assert not hasattr(signer, "key") and not hasattr(signer, "_account")
    assert not hasattr(signer, "__dict__")
    logging.getLogger("test").info("signer %s %r", signer, signer)
    _no_secret(caplog.text + repr(vars(type(signer))))


def test_signing_errors_do_not_carry_the_key(signer: Signer) -> None:
    with pytest.raises(ValueError) as info:
        signer.sign_transaction({"nonce": "not a number", "chainId": 1})
    assert info.value.__cause__ is None
    _no_secret(str(info.value))


def test_signatures_verify(signer: Signer) -> None:
    signed = signer.sign_transaction(
        {
            "type": 2,
            "chainId": 1,
            "nonce": 0,
            "to": BOT_ADDRESS,
            "value": 0,
            "gas": 21_000,
            "maxFeePerGas": 10**9,
            "maxPriorityFeePerGas": 10**9,
        }
    )
    assert Account.recover_transaction(signed.raw) == BOT_ADDRESS
    header = signer.relay_auth_header(b'{"x":1}')
    assert header.startswith(BOT_ADDRESS + ":0x")
    assert signer_from_key(BOT_KEY[2:]).address == BOT_ADDRESS


def test_native_and_pure_python_signing_agree() -> None:
    """coincurve (pinned) makes eth-keys sign natively; without it the pure-Python backend
    signs. Both are deterministic (RFC 6979): the same key and hash give the same bytes."""
    from eth_keys.backends.coincurve import CoinCurveECCBackend
    from eth_keys.backends.native.main import NativeECCBackend
    from eth_keys.main import KeyAPI
    from eth_utils.crypto import keccak

    digest = keccak(b"liqbot: one transaction hash")
    native = KeyAPI(CoinCurveECCBackend()).PrivateKey(bytes.fromhex(BOT_KEY[2:]))
    pure = KeyAPI(NativeECCBackend()).PrivateKey(bytes.fromhex(BOT_KEY[2:]))
    signed = native.sign_msg_hash(digest)
    assert signed.to_bytes() == pure.sign_msg_hash(digest).to_bytes()
    assert signed.recover_public_key_from_msg_hash(digest) == pure.public_key
