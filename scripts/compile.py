#!/usr/bin/env python3
"""Compile contracts/src into bot/artifacts (ABI + bytecode shipped as package data)."""

from __future__ import annotations

import sys
import time

from bot.chain.compiler import (
    ARTIFACTS_DIR,
    CompilationFailed,
    CompilerUnavailable,
    compile_all,
    find_solc,
    write_artifacts,
)


def main() -> int:
    started = time.perf_counter()
    try:
        solc = find_solc()
        compiled = compile_all()
    except (CompilerUnavailable, CompilationFailed) as exc:
        print(f"compile failed:\n{exc}", file=sys.stderr)
        return 1
    write_artifacts(compiled)
    elapsed = time.perf_counter() - started
    print(f"compiled {len(compiled)} contracts with {solc} into {ARTIFACTS_DIR} in {elapsed:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
