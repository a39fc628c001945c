#!/usr/bin/env python3
"""Run the reliability fault matrix (tests/reliability) and print one row per RELIABILITY.md
fault: how it is injected, the outcome, and which invariants were checked and held.

python scripts/faults.py              # the table (pytest -n 2 when pytest-xdist is present)
python scripts/faults.py --json       # one JSON object instead
python scripts/faults.py -k row_09    # a subset (passed on to pytest)

Exit status 0 when every row passed. Each row is one or more tests named ``test_row_NN_*``;
the invariants column comes from the tests themselves (recorded as JUnit properties by
tests/reliability/conftest.py), so it shows what was asserted, not what was meant to be.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]

# row -> (fault, injected how, invariants asserted outside env.invariants())
ROWS: dict[int, tuple[str, str, str]] = {
    1: ("journal nonce ahead of the chain", "journal counter advanced past the chain", ""),
    2: ("key used by another process", "same key signs at our next nonce (direct to anvil)", ""),
    3: ("two bots, one key", "second Executor.open on the same key / another journal", "3,8"),
    4: ("base fee above max fee, stuck", "anvil_setNextBlockBaseFeePerGas above each bid", ""),
    5: (
        "gas spike between decision and send",
        "base fee x5000 after the decision; a pending one left when no cancel fits",
        "",
    ),
    6: ("transaction dropped", "proxy blackholes the send; anvil_dropTransaction", ""),
    7: ("nonce replaced by a third party", "same key, higher fees, same nonce", ""),
    8: ("reorg before the depth", "anvil_reorg(2) after inclusion", ""),
    9: ("send timed out after the node got it", "proxy: forward then drop / then hang 4 s", ""),
    10: ("RPC 429/5xx/hang on reads", "proxy: HTTP 429/502/503, 2 s hang; RpcClient failover", ""),
    11: ("node lagging", "proxy lies: head 3 blocks old, nonce 1 lower", ""),
    12: ("node lying: fake receipt", "proxy fabricates a status-1 receipt in a real block", ""),
    13: ("failover to another chain id", "proxy lies on eth_chainId", "8"),
    14: ("garbage replies", "proxy: non-JSON, wrong id, 2^256 and negative hex", ""),
    15: ("error strings rewritten", "proxy: forward, answer with 6 provider wordings", ""),
    16: ("competitor front-runs", "rival liquidates first / same block, higher tip", ""),
    17: ("private relay never includes", "proxy as relay: eth_sendBundle blackholed", ""),
    18: ("oracle stale / floored / spiking", "feeds: old updatedAt, minAnswer, +30% primary", ""),
    19: ("pool paused, breaker tripped", "guardian pause; feeds 30% apart", ""),
    20: ("crash at each failpoint, restart", "subprocess os._exit at 6 failpoints + SIGKILL", ""),
    21: ("out of gas money", "anvil_setBalance to 0.0001 ETH, then top-up", ""),
    22: ("malformed config / bad address / EOA / chain id", "`liqbot run` on bad files", "8"),
    23: ("random callers and calldata", "hypothesis: strangers x ABI/random calldata", "1"),
}
STATE_MACHINE = (
    "state machine",
    "hypothesis: send, mine, drop, reorg, spike, rival, RPC fault, crash, oracle",
)


@dataclass
class RowResult:
    tests: list[str] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)
    invariants: set[int] = field(default_factory=set)
    seconds: float = 0.0
    messages: list[str] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        if not self.outcomes:
            return "missing"
        if all(o == "passed" for o in self.outcomes):
            return "passed"
        bad = [o for o in self.outcomes if o != "passed"]
        return f"{bad[0]} ({len(bad)}/{len(self.outcomes)})"


def run_pytest(extra: list[str], junit: Path) -> int:
    argv = [sys.executable, "-m", "pytest", "tests/reliability", "-q", "-p", "no:cacheprovider"]
    argv += ["--junitxml", str(junit), "-o", "junit_family=xunit1"]
    if importlib.util.find_spec("xdist") is not None:
        argv += ["-n", "2", "--dist", "loadfile"]
    argv += extra
    return subprocess.run(argv, cwd=REPO, stdout=sys.stderr, stderr=sys.stderr).returncode


def read_junit(junit: Path) -> dict[str, RowResult]:
    rows: dict[str, RowResult] = defaultdict(RowResult)
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = case.get("name", "")
        if name.startswith("test_row_"):
            key = name[len("test_row_") :][:2]
        elif "Machine" in name or "machine" in case.get("classname", ""):
            key = "sm"
        else:
            continue
        result = rows[key]
        result.tests.append(name)
        result.seconds += float(case.get("time", 0))
        outcome = "passed"
        for tag in ("failure", "error", "skipped"):
            found = case.find(tag)
            if found is not None:
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                result.messages.append((found.get("message") or "")[:200])
        result.outcomes.append(outcome)
        for prop in case.iter("property"):
            if prop.get("name") == "invariants" and prop.get("value"):
                result.invariants |= {int(n) for n in str(prop.get("value")).split(",")}
    return rows


def matrix(rows: dict[str, RowResult]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for number, (fault, how, static) in ROWS.items():
        r = rows.get(f"{number:02d}", RowResult())
        held = set(r.invariants) | {int(n) for n in static.split(",") if n}
        out.append(
            {
                "row": number,
                "fault": fault,
                "injected": how,
                "outcome": r.outcome,
                "tests": len(r.tests),
                "invariants": sorted(held) if r.outcome == "passed" else [],
                "seconds": round(r.seconds, 1),
                "messages": r.messages,
            }
        )
    sm = rows.get("sm", RowResult())
    out.append(
        {
            "row": "SM",
            "fault": STATE_MACHINE[0],
            "injected": STATE_MACHINE[1],
            "outcome": sm.outcome,
            "tests": len(sm.tests),
            "invariants": [1, 2, 3, 4, 5, 6, 7] if sm.outcome == "passed" else [],
            "seconds": round(sm.seconds, 1),
            "messages": sm.messages,
        }
    )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], epilog="Other arguments go to pytest (-k row_09)."
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args, _ = parser.parse_known_args()
    to_pytest = [a for a in sys.argv[1:] if a != "--json"]
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "faults.xml"
        started = time.monotonic()
        code = run_pytest(to_pytest, junit)
        wall = time.monotonic() - started
        if not junit.exists():
            print("pytest produced no report", file=sys.stderr)
            return code or 1
        table = matrix(read_junit(junit))
    if not to_pytest and any(row["outcome"] == "missing" for row in table):
        code = code or 1  # the whole matrix was asked for: a row without a test fails it
    if args.json:
        print(json.dumps({"rows": table, "wall_seconds": round(wall, 1), "exit": code}, indent=1))
        return code
    view = Table(title=f"liqbot fault matrix (RELIABILITY.md), {wall:.0f} s wall")
    for column in ("#", "fault", "injected how", "outcome", "tests", "invariants held", "s"):
        view.add_column(column, overflow="fold")
    for row in table:
        outcome = str(row["outcome"])
        style = "green" if outcome == "passed" else "red"
        invariants = row["invariants"]
        assert isinstance(invariants, list)
        view.add_row(
            str(row["row"]),
            str(row["fault"]),
            str(row["injected"]),
            f"[{style}]{outcome}[/{style}]",
            str(row["tests"]),
            ",".join(map(str, invariants)) or "-",
            str(row["seconds"]),
        )
    Console(width=160).print(view)
    return code


if __name__ == "__main__":
    sys.exit(main())
