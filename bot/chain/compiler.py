"""Compile the bundled contracts into the package's artifacts.

Used by ``scripts/compile.py`` and by the test that fails when a committed artifact is
stale. Running the bot never compiles: it loads the artifacts (see ``artifacts.py``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTRACTS_DIR = REPO_ROOT / "contracts" / "src"
ARTIFACTS_DIR = REPO_ROOT / "bot" / "artifacts"
SOLCJS_WRAPPER = REPO_ROOT / "scripts" / "solc"

SOLC_VERSION = "0.8.28"
EVM_VERSION = "cancun"
OPTIMIZER_RUNS = 200


class CompilerUnavailable(RuntimeError):
    """No solc of the pinned version can be found."""


class CompilationFailed(RuntimeError):
    """solc reported errors; the message holds them, formatted as solc prints them."""


@dataclass(frozen=True)
class CompiledContract:
    name: str
    source: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str

    def as_artifact(self) -> dict[str, Any]:
        return {
            "contractName": self.name,
            "sourceName": self.source,
            "compiler": f"solc {SOLC_VERSION}",
            "abi": self.abi,
            "bytecode": self.bytecode,
            "deployedBytecode": self.deployed_bytecode,
        }


def _version_of(binary: str) -> str | None:
    try:
        out = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=60, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    for token in out.replace("\n", " ").split():
        if token[:1].isdigit() and token.count(".") >= 2:
            return token.split("+")[0]
    return None


def find_solc() -> str:
    """A native solc of the pinned version if one is installed, else the solc-js wrapper.

    ``LIQBOT_SOLC`` names a binary explicitly. Both speak the same standard-JSON interface
    and, being the same compiler version, produce byte-identical output.
    """
    explicit = os.environ.get("LIQBOT_SOLC")
    candidates = [explicit] if explicit else []
    native = shutil.which("solc")
    if native:
        candidates.append(native)
    candidates.append(str(SOLCJS_WRAPPER))
    for candidate in candidates:
        if candidate and _version_of(candidate) == SOLC_VERSION:
            return candidate
    raise CompilerUnavailable(
        f"no solc {SOLC_VERSION} found: run `npm ci` in {REPO_ROOT} to install solc-js "
        f"(used through scripts/solc), or set LIQBOT_SOLC to a native solc {SOLC_VERSION}"
    )


def standard_input(contracts_dir: Path = CONTRACTS_DIR) -> dict[str, Any]:
    sources = {
        path.relative_to(contracts_dir).as_posix(): {"content": path.read_text()}
        for path in sorted(contracts_dir.rglob("*.sol"))
    }
    return {
        "language": "Solidity",
        "sources": sources,
        "settings": {
            "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
            "evmVersion": EVM_VERSION,
            "outputSelection": {
                "*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}
            },
        },
    }


def compile_all(contracts_dir: Path = CONTRACTS_DIR) -> dict[str, CompiledContract]:
    """Every deployable contract under ``contracts_dir``, keyed by contract name."""
    import solcx  # dev dependency: only needed to compile

    try:
        output = solcx.compile_standard(standard_input(contracts_dir), solc_binary=find_solc())
    except solcx.exceptions.SolcError as exc:
        # py-solc-x puts the whole JSON output in the message; keep only the errors.
        errors = [
            e.get("formattedMessage", e.get("message", ""))
            for e in json.loads(exc.stdout_data or "{}").get("errors", [])
            if e.get("severity") == "error"
        ]
        raise CompilationFailed("\n".join(errors) or str(exc)[:2000]) from None
    compiled: dict[str, CompiledContract] = {}
    for source, contracts in sorted(output["contracts"].items()):
        for name, data in sorted(contracts.items()):
            bytecode = data["evm"]["bytecode"]["object"]
            callable_ = any(item["type"] in ("function", "constructor") for item in data["abi"])
            if not bytecode or not callable_:  # interfaces, abstract contracts, internal libraries
                continue
            if name in compiled:
                raise ValueError(f"contract name {name} is defined twice ({source})")
            compiled[name] = CompiledContract(
                name=name,
                source=source,
                abi=data["abi"],
                bytecode="0x" + bytecode,
                deployed_bytecode="0x" + data["evm"]["deployedBytecode"]["object"],
            )
    return compiled


def artifact_text(contract: CompiledContract) -> str:
    return json.dumps(contract.as_artifact(), indent=1, sort_keys=True) + "\n"


def write_artifacts(compiled: dict[str, CompiledContract], out_dir: Path = ARTIFACTS_DIR) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob("*.json"):
        if stale.stem not in compiled:
            stale.unlink()
    for name, contract in compiled.items():
        (out_dir / f"{name}.json").write_text(artifact_text(contract))
