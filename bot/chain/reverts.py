"""Recognise and decode reverts the same way on eth-tester and on a JSON-RPC node.

web3.py raises ``ContractLogicError`` (with the revert data) for a JSON-RPC node, while
eth-tester raises its own ``TransactionFailed`` whose message carries the data as a bytes
literal. Callers ask one question, "did it revert, and why", whatever the chain.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from importlib import resources

from eth_abi.abi import decode as abi_decode
from eth_utils.abi import function_signature_to_4byte_selector
from web3.exceptions import ContractLogicError

try:
    from eth_tester.exceptions import TransactionFailed as _TesterFailed
except ImportError:  # pragma: no cover - eth-tester is a dependency, but keep reads working
    _TesterFailed = ContractLogicError

_ERROR_STRING = function_signature_to_4byte_selector("Error(string)")
_PANIC = function_signature_to_4byte_selector("Panic(uint256)")
_BYTES_LITERAL = re.compile(r"""b(['"]).*\1""", re.S)


class Reverted(Exception):
    """A call or simulation reverted; ``reason`` is the decoded custom error or message."""

    def __init__(self, reason: str, data: bytes = b"", message: str = "") -> None:
        super().__init__(message or reason)
        self.reason = reason
        self.data = data

    @property
    def error_name(self) -> str:
        """The custom error's name without arguments, e.g. ``HealthFactorNotBelowThreshold``."""
        return self.reason.split("(")[0]


def is_revert(exc: BaseException) -> bool:
    return isinstance(exc, (ContractLogicError, _TesterFailed, Reverted))


@cache
def _custom_errors() -> dict[bytes, tuple[str, list[str]]]:
    import json

    errors: dict[bytes, tuple[str, list[str]]] = {}
    for entry in (resources.files("bot") / "artifacts").iterdir():
        if not entry.name.endswith(".json"):
            continue
        for item in json.loads(entry.read_text())["abi"]:
            if item.get("type") != "error":
                continue
            types = [arg["type"] for arg in item["inputs"]]
            signature = f"{item['name']}({','.join(types)})"
            errors[function_signature_to_4byte_selector(signature)] = (item["name"], types)
    return errors


def revert_data(exc: BaseException) -> bytes:
    data = getattr(exc, "data", None)
    if isinstance(data, str) and data.startswith("0x"):
        return bytes.fromhex(data[2:])
    if isinstance(data, bytes):
        return data
    message = str(exc.args[0]) if exc.args else ""
    match = _BYTES_LITERAL.search(message)
    if match:
        try:
            value = ast.literal_eval(match.group(0))
        except (ValueError, SyntaxError):
            return b""
        if isinstance(value, bytes):
            return value
    return b""


def decode_revert(data: bytes, fallback: str = "") -> str:
    """``Name(args)`` for a custom error, the message for ``Error(string)``, ``Panic(0x..)``."""
    selector, payload = data[:4], data[4:]
    if selector == _ERROR_STRING:
        try:
            return str(abi_decode(["string"], payload)[0])
        except Exception:
            return fallback or "Error(string)"
    if selector == _PANIC:
        try:
            return f"Panic({abi_decode(['uint256'], payload)[0]:#x})"
        except Exception:
            return "Panic"
    known = _custom_errors().get(selector)
    if known:
        name, types = known
        try:
            values = abi_decode(types, payload)
            return f"{name}({', '.join(str(v) for v in values)})"
        except Exception:
            return f"{name}()"
    if data:
        return f"unknown revert 0x{data.hex()}"
    return fallback or "reverted without data"


def as_reverted(exc: BaseException) -> Reverted:
    if isinstance(exc, Reverted):
        return exc
    data = revert_data(exc)
    message = str(exc.args[0]) if exc.args else str(exc)
    fallback = message.removeprefix("execution reverted: ").removeprefix("execution reverted")
    if _BYTES_LITERAL.search(fallback):
        fallback = ""
    return Reverted(decode_revert(data, fallback=fallback.strip()), data)
