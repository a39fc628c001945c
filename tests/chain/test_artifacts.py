"""The artifacts shipped in the package must be what the sources compile to."""

from __future__ import annotations

import json

import pytest

from bot.chain.artifacts import load_artifact
from bot.chain.compiler import (
    ARTIFACTS_DIR,
    SOLC_VERSION,
    CompilerUnavailable,
    artifact_text,
    compile_all,
    find_solc,
)


@pytest.fixture(scope="module")
def compiled() -> dict[str, object]:
    try:
        find_solc()
    except CompilerUnavailable as exc:  # pragma: no cover - CI installs solc-js
        pytest.fail(str(exc))
    return dict(compile_all())


def test_no_artifact_is_stale(compiled: dict[str, object]) -> None:
    stale = []
    for name, contract in compiled.items():
        path = ARTIFACTS_DIR / f"{name}.json"
        if not path.is_file() or path.read_text() != artifact_text(contract):  # type: ignore[arg-type]
            stale.append(name)
    assert not stale, f"stale artifacts, run `python scripts/compile.py`: {stale}"


def test_no_orphan_artifacts(compiled: dict[str, object]) -> None:
    shipped = {path.stem for path in ARTIFACTS_DIR.glob("*.json")}
    assert shipped == set(compiled), f"artifacts without a source: {shipped - set(compiled)}"


def test_artifacts_load_with_abi_and_bytecode() -> None:
    for path in ARTIFACTS_DIR.glob("*.json"):
        artifact = load_artifact(path.stem)
        assert artifact.bytecode.startswith("0x") and len(artifact.bytecode) > 2
        assert json.loads(path.read_text())["compiler"] == f"solc {SOLC_VERSION}"


def test_solc_wrapper_reports_pinned_version() -> None:
    import solcx.wrapper

    version = solcx.wrapper.get_solc_version(find_solc())
    assert str(version) == SOLC_VERSION
