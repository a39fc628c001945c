"""Load the compiled contracts shipped inside the package (no compiler needed at run time)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str


@cache
def load_artifact(name: str) -> Artifact:
    path = resources.files("bot") / "artifacts" / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"no compiled artifact for contract {name!r}; run `python scripts/compile.py`"
        )
    data = json.loads(path.read_text())
    return Artifact(
        name=name,
        abi=data["abi"],
        bytecode=data["bytecode"],
        deployed_bytecode=data["deployedBytecode"],
    )


def abi_of(name: str) -> list[dict[str, Any]]:
    return load_artifact(name).abi
