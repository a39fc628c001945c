"""The bot's signing key: loaded from the environment or an encrypted keystore, never shown.

The key lives only inside a :class:`Signer`, whose ``repr``/``str`` show the address, which
refuses to be pickled or copied, and whose errors never quote the key or the password. A
configuration with no key gives read-only mode (``None``): the executor then simulates and
reports but cannot sign.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak

KEY_ENV = "LIQBOT_PRIVATE_KEY"
KEYSTORE_ENV = "LIQBOT_KEYSTORE"
PASSWORD_ENV = "LIQBOT_KEYSTORE_PASSWORD"
PASSWORD_FILE_ENV = "LIQBOT_KEYSTORE_PASSWORD_FILE"


class KeyLoadFailed(Exception):
    """The key could not be loaded. The message names the source and the fix, never a secret."""


@dataclass(frozen=True, slots=True)
class SignedTx:
    """A signed raw transaction and its hash (``0x``-prefixed lower-case hex)."""

    raw: bytes
    tx_hash: str


class Signer:
    """Holds the account; signs transactions and relay payloads. Shows only its address."""

    __slots__ = ("__account", "address", "source")

    def __init__(self, account: LocalAccount, source: str) -> None:
        self.__account = account
        self.address: str = account.address
        self.source = source

    def sign_transaction(self, tx: dict[str, Any]) -> SignedTx:
        try:
            signed = self.__account.sign_transaction(tx)
        except Exception as exc:
            # eth-account's messages quote the transaction, never the key; still, do not chain
            # an exception whose frames hold the key object.
            raise ValueError(f"could not sign transaction: {type(exc).__name__}: {exc}") from None
        return SignedTx(bytes(signed.raw_transaction), "0x" + bytes(signed.hash).hex())

    def sign_text(self, text: str) -> str:
        """EIP-191 signature of ``text`` (relay authentication headers)."""
        signed = self.__account.sign_message(encode_defunct(text=text))
        return "0x" + bytes(signed.signature).hex()

    def relay_auth_header(self, body: bytes) -> str:
        """``address:signature`` of keccak(body), as Flashbots-style relays expect."""
        return f"{self.address}:{self.sign_text('0x' + keccak(body).hex())}"

    def __repr__(self) -> str:
        return f"Signer({self.address}, from {self.source})"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Signer cannot be pickled or copied")

    def __copy__(self) -> NoReturn:
        raise TypeError("a Signer cannot be copied")

    def __deepcopy__(self, memo: object) -> NoReturn:
        raise TypeError("a Signer cannot be copied")


def signer_from_key(key: str, source: str = "a key") -> Signer:
    """A signer from a hex private key (with or without ``0x``)."""
    text = key.strip()
    body = text[2:] if text[:2].lower() == "0x" else text
    if len(body) != 64 or any(c not in "0123456789abcdefABCDEF" for c in body):
        raise KeyLoadFailed(f"{source} is not a 32-byte hex private key (64 hex digits)")
    try:
        account: LocalAccount = Account.from_key("0x" + body)
    except Exception:
        raise KeyLoadFailed(f"{source} is not a valid secp256k1 private key") from None
    return Signer(account, source)


def signer_from_keystore(path: Path, password: str) -> Signer:
    """A signer from an eth-account (Web3 Secret Storage) keystore file."""
    try:
        keyfile = json.loads(path.read_text())
    except OSError as exc:
        raise KeyLoadFailed(f"cannot read keystore {path}: {exc.strerror}") from None
    except ValueError:
        raise KeyLoadFailed(f"keystore {path} is not JSON") from None
    try:
        key = Account.decrypt(keyfile, password)
    except ValueError:
        raise KeyLoadFailed(
            f"cannot decrypt keystore {path}: wrong password or corrupted file"
        ) from None
    except Exception as exc:
        raise KeyLoadFailed(f"keystore {path} is malformed ({type(exc).__name__})") from None
    account: LocalAccount = Account.from_key(key)
    return Signer(account, f"keystore {path.name}")


def read_password(
    *, password_file: Path | None = None, env: str = PASSWORD_ENV, file_env: str = PASSWORD_FILE_ENV
) -> str:
    """The keystore password: from a file (first line, trailing newline dropped) or the env."""
    file_path = password_file or (Path(os.environ[file_env]) if os.environ.get(file_env) else None)
    if file_path is not None:
        try:
            text = file_path.read_text()
        except OSError as exc:
            raise KeyLoadFailed(f"cannot read password file {file_path}: {exc.strerror}") from None
        return text.splitlines()[0] if text else ""
    if env in os.environ:
        return os.environ[env]
    raise KeyLoadFailed(
        f"the keystore needs a password: set {env} or {file_env} (a file holding it)"
    )


def load_signer(
    *,
    key_env: str = KEY_ENV,
    keystore: Path | None = None,
    password_file: Path | None = None,
    password_env: str = PASSWORD_ENV,
    read_only: bool = False,
    consume_env: bool = False,
) -> Signer | None:
    """The configured signer, or None in read-only mode.

    Order: an explicit ``keystore`` (or ``LIQBOT_KEYSTORE``), else the hex key in ``key_env``.
    ``read_only`` ignores any key (and returns None); without a key and not read-only, fails.
    ``consume_env`` removes the key and password variables from ``os.environ`` once read, so
    that child processes do not inherit them.
    """
    if read_only:
        return None
    keystore = keystore or (
        Path(os.environ[KEYSTORE_ENV]) if os.environ.get(KEYSTORE_ENV) else None
    )
    if keystore is not None:
        password = read_password(password_file=password_file, env=password_env)
        signer = signer_from_keystore(keystore, password)
        del password
        if consume_env:
            os.environ.pop(password_env, None)
        return signer
    key = os.environ.get(key_env)
    if key:
        signer = signer_from_key(key, source=f"${key_env}")
        del key
        if consume_env:
            os.environ.pop(key_env, None)
        return signer
    raise KeyLoadFailed(
        f"no signing key: set {key_env} to a hex private key, or {KEYSTORE_ENV} to an "
        f"eth-account keystore with {password_env} or {PASSWORD_FILE_ENV}; "
        "or run read-only"
    )
