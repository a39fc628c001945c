"""Start-up checks, failing closed: nothing is signed until the chain is the one configured.

Each check names what is wrong and how to fix it. The chain id is checked first (a failover
to another network must halt the bot before it signs); then that the pool, the oracle and the
liquidator hold code with the functions the bot calls (selectors in the runtime code,
following an EIP-1967 proxy to its implementation); that the liquidator is bound to this pool
and owned by the bot's account; and that the account has gas money.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from eth_abi.abi import decode as abi_decode
from eth_utils.abi import function_signature_to_4byte_selector
from web3 import Web3

from bot.execute.node import Node, NodeUnavailable

EIP1967_IMPLEMENTATION_SLOT = int(
    "360894a13ba1a3210667c828492db98dca3e2076cc3735a920a3ca505d382bbc", 16
)

POOL_FUNCTIONS = (
    "liquidationCall(address,address,address,uint256,bool)",
    "getUserAccountData(address)",
    "getReservesList()",
)
ORACLE_FUNCTIONS = ("getAssetPrice(address)",)
LIQUIDATOR_FUNCTIONS = (
    "liquidateWithFlashSwap(address,address,address,address,uint256,uint256)",
    "liquidateFromInventory(address,address,address,uint256,uint256)",
    "liquidateFromInventoryAndSell(address,address,address,address,uint256,uint256)",
    "owner()",
    "pool()",
    "withdraw(address,address,uint256)",
)


class StartupCheckFailed(Exception):
    """The bot must not start; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class StartupConfig:
    chain_id: int
    pool: str
    oracle: str
    liquidator: str
    min_gas_balance_wei: int = 10**16


@dataclass(frozen=True, slots=True)
class StartupReport:
    chain_id: int
    account: str | None
    balance_wei: int | None
    checks: tuple[str, ...] = field(default_factory=tuple)


def selector(signature: str) -> bytes:
    return bytes(function_signature_to_4byte_selector(signature))


def _runtime_code(node: Node, address: str) -> bytes:
    code = node.code(address)
    slot = node.storage(address, EIP1967_IMPLEMENTATION_SLOT)
    implementation = slot[-20:]
    if any(implementation):
        code = node.code("0x" + implementation.hex())
    return code


def _pushes(sel: bytes) -> tuple[bytes, ...]:
    """How a dispatcher pushes a selector: PUSH4, or shorter when it starts with zero bytes
    (solc pushes 0x00a718a9 with PUSH3)."""
    trimmed = sel.lstrip(b"\x00")
    return (b"\x63" + sel, bytes([0x5F + len(trimmed)]) + trimmed)


def missing_functions(code: bytes, signatures: Sequence[str]) -> list[str]:
    """Functions whose selector is not pushed anywhere in ``code`` (a heuristic that holds for
    solc and vyper dispatchers; a false "missing" fails closed)."""
    return [s for s in signatures if not any(p in code for p in _pushes(selector(s)))]


def _check_contract(node: Node, role: str, address: str, signatures: Sequence[str]) -> str:
    code = _runtime_code(node, address)
    if not code:
        raise StartupCheckFailed(
            f"the {role} address {address} holds no code on this chain: wrong address, wrong "
            "network, or not deployed yet (check the deployment file)"
        )
    missing = missing_functions(code, signatures)
    if missing:
        raise StartupCheckFailed(
            f"the contract at the {role} address {address} lacks {', '.join(missing)}: it is "
            f"not a {role} this bot can use (check the deployment file)"
        )
    return f"{role} {address}: code with the expected interface"


def _call_address(node: Node, to: str, signature: str) -> str:
    data = node.call({"to": to, "data": "0x" + selector(signature).hex()})
    (value,) = abi_decode(["address"], data)
    return str(Web3.to_checksum_address(value))


def run_checks(node: Node, config: StartupConfig, account: str | None) -> StartupReport:
    """Raise StartupCheckFailed at the first failed check; ``account`` None is read-only."""
    checks: list[str] = []
    try:
        chain_id = node.chain_id()
        if chain_id != config.chain_id:
            raise StartupCheckFailed(
                f"the node is on chain {chain_id}, the configuration says {config.chain_id}: "
                "wrong RPC URL or wrong configuration; nothing will be signed"
            )
        checks.append(f"chain id {chain_id}")
        checks.append(_check_contract(node, "pool", config.pool, POOL_FUNCTIONS))
        checks.append(_check_contract(node, "oracle", config.oracle, ORACLE_FUNCTIONS))
        checks.append(
            _check_contract(node, "flash liquidator", config.liquidator, LIQUIDATOR_FUNCTIONS)
        )
        bound = _call_address(node, config.liquidator, "pool()")
        if bound.lower() != config.pool.lower():
            raise StartupCheckFailed(
                f"the flash liquidator {config.liquidator} is bound to pool {bound}, not "
                f"{config.pool}: deploy a liquidator for this pool"
            )
        if _has_function(node, config.pool, "oracle()"):
            oracle = _call_address(node, config.pool, "oracle()")
            if oracle.lower() != config.oracle.lower():
                raise StartupCheckFailed(
                    f"the pool reads prices from oracle {oracle}, the configuration says "
                    f"{config.oracle}: fix the deployment file"
                )
            checks.append(f"pool uses oracle {oracle}")
        balance = None
        if account is None:
            checks.append("read-only: no account, owner and gas checks skipped")
        else:
            owner = _call_address(node, config.liquidator, "owner()")
            if owner.lower() != account.lower():
                raise StartupCheckFailed(
                    f"the flash liquidator {config.liquidator} is owned by {owner}, not by the "
                    f"bot's account {account}: transfer its ownership or use the owner's key"
                )
            checks.append(f"liquidator owned by {account}")
            balance = node.balance(account)
            if balance < config.min_gas_balance_wei:
                raise StartupCheckFailed(
                    f"the account {account} has {balance} wei, less than the "
                    f"{config.min_gas_balance_wei} wei configured as the minimum for gas: "
                    "top it up"
                )
            checks.append(f"gas money {balance} wei")
    except NodeUnavailable as exc:
        raise StartupCheckFailed(f"cannot reach the node for the start-up checks: {exc}") from None
    except StartupCheckFailed:
        raise
    except Exception as exc:
        raise StartupCheckFailed(
            f"a start-up check failed unexpectedly ({type(exc).__name__}: {exc}); "
            "is the configuration right for this chain?"
        ) from None
    return StartupReport(chain_id, account, balance, tuple(checks))


def _has_function(node: Node, address: str, signature: str) -> bool:
    return not missing_functions(_runtime_code(node, address), [signature])
