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
from functools import lru_cache
from pathlib import Path
from typing import Any, NoReturn

from coincurve import PrivateKey
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak as _keccak
from eth_utils.address import to_checksum_address
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


# Why a hand-written signer for the executor's own transactions: eth-account spends 0.5-2 ms
# a call (it rebuilds a key object, checksums and validates every field through its generic
# typed-transaction serializers), which was most of the executor's per-liquidation cost when a
# block asks for a thousand sends; this path takes ~50 us, ~40 of them libsecp256k1's. The
# format is small and fixed (EIP-2718 envelope, EIP-1559 payload):
# ``0x02 || rlp([chainId, nonce, maxPriorityFeePerGas, maxFeePerGas, gas, to, value, data,
# accessList, yParity, r, s])``, signed over ``keccak(0x02 || rlp(the first nine))``;
# libsecp256k1 (coincurve) signs deterministically (RFC 6979) with a low ``s``, as eth-account
# does. Anything the fast path does not cover (another type, an access list, a field it does
# not know, a value out of range) goes to eth-account, which also words the errors.

_FAST_FIELDS = frozenset(
    {
        "type",
        "chainId",
        "nonce",
        "to",
        "value",
        "data",
        "gas",
        "maxFeePerGas",
        "maxPriorityFeePerGas",
        "accessList",
    }
)
_REQUIRED = ("chainId", "nonce", "to", "gas", "maxFeePerGas", "maxPriorityFeePerGas")
_UINT256 = 2**256
_EMPTY_LIST = b"\xc0"


@lru_cache(maxsize=4096)
def _to_bytes(address: str) -> bytes | None:
    """The 20 bytes of a recipient written as eth-account requires it (EIP-55 checksummed),
    else None (the caller falls back to eth-account, which refuses it with its own words)."""
    if len(address) != 42 or not address.startswith("0x"):
        return None
    try:
        raw = bytes.fromhex(address[2:])
    except ValueError:
        return None
    return raw if to_checksum_address(raw) == address else None


def _rlp_length(length: int, offset: int) -> bytes:
    if length < 56:
        return bytes((offset + length,))
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((offset + 55 + len(size),)) + size


def _rlp_string(item: bytes) -> bytes:
    if len(item) == 1 and item[0] < 0x80:
        return item
    return _rlp_length(len(item), 0x80) + item


def _rlp_list(items: list[bytes]) -> bytes:
    """RLP of a list of byte strings (an empty access list is ``b"\\xc0"``, passed as is)."""
    body = b"".join(items)
    return _rlp_length(len(body), 0xC0) + body


def _uint(value: object) -> bytes | None:
    """The RLP integer (minimal big-endian bytes) of a plain uint256, else None."""
    if type(value) is not int or not 0 <= value < _UINT256:
        return None
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def _fast_payload(tx: dict[str, Any]) -> list[bytes] | None:
    """The nine unsigned EIP-1559 fields, each RLP-encoded, or None: not a case the fast path
    covers (eth-account signs it)."""
    if not _FAST_FIELDS.issuperset(tx) or any(name not in tx for name in _REQUIRED):
        return None
    kind = tx.get("type", 2)
    if kind not in (2, "0x2", "0x02") or tx.get("accessList", []) != []:
        return None
    to = tx["to"]
    recipient = _to_bytes(to) if isinstance(to, str) else None
    data = tx.get("data", b"")
    if isinstance(data, str):
        if not data.startswith("0x"):
            return None
        try:
            data = bytes.fromhex(data[2:])
        except ValueError:
            return None
    elif type(data) is not bytes:
        return None
    if recipient is None:
        return None
    payload = []
    for item in (
        _uint(tx["chainId"]),
        _uint(tx["nonce"]),
        _uint(tx["maxPriorityFeePerGas"]),
        _uint(tx["maxFeePerGas"]),
        _uint(tx["gas"]),
        recipient,
        _uint(tx.get("value", 0)),
        data,
    ):
        if item is None:
            return None
        payload.append(_rlp_string(item))
    payload.append(_EMPTY_LIST)
    return payload


class Signer:
    """Holds the key; signs transactions and relay payloads. Shows only its address."""

    __slots__ = ("__account", "__secret", "address", "source")

    def __init__(self, account: LocalAccount, source: str) -> None:
        self.__account = account
        self.__secret = PrivateKey(bytes(account.key))
        self.address: str = account.address
        self.source = source

    def sign_transaction(self, tx: dict[str, Any]) -> SignedTx:
        payload = _fast_payload(tx)
        if payload is not None:
            try:
                unsigned = b"\x02" + _rlp_list(payload)
                signature = self.__secret.sign_recoverable(_keccak(unsigned), hasher=None)
            except Exception as exc:
                raise ValueError(f"could not sign transaction: {type(exc).__name__}") from None
            # 65 bytes r || s || recovery id (0 or 1, the y parity): RLP integers drop
            # their leading zero bytes.
            y_parity = signature[64:65].lstrip(b"\x00")
            r, s = signature[:32].lstrip(b"\x00"), signature[32:64].lstrip(b"\x00")
            raw = b"\x02" + _rlp_list(
                [*payload, _rlp_string(y_parity), _rlp_string(r), _rlp_string(s)]
            )
            return SignedTx(raw, "0x" + _keccak(raw).hex())
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
