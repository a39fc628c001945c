"""How fast is ``liqbot backtest``? 100,000 blocks, 10,000 accounts, measured.

    python scripts/backtest_speed.py [--blocks 100000] [--accounts 10000] [--json]
                                     [--keep FILE.sqlite] [--seed 7]

Writes a synthetic recording straight into the recording schema (no chain: generating
100,000 blocks on anvil would take hours), then times ``run_backtest`` on it. The market is
the bundled one (WETH, WBTC, USDC, DAI and five AMM pairs) and behaves like a busy mainnet
market, not like a quiet one:

- about one borrower action every other block (borrow more, repay part), each with the
  pool's ``ReserveDataUpdated`` and ``UserReserveUpdated`` events;
- Chainlink-style oracles: WETH and WBTC follow random walks (4% and 3.5% daily volatility)
  and publish on a 0.5% deviation or a one-hour heartbeat, the AMM pairs arbitraged after;
- a crash in the middle (WETH -35%, WBTC -30% over two hours, half of it recovered over the
  next day), so that hundreds of accounts become liquidatable;
- a competing liquidator that takes every liquidation worth its gas 1 to 3 blocks after it
  appears, with a random tip, and leaves dust behind;
- EIP-1559 base fees from random block gas use; checkpoints every 1,000 blocks (the backtest
  verifies its book against them).

Only the backtest is timed; generation is reported separately.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from bot.backtest import BacktestConfig, run_backtest, summary_table
from bot.backtest.synthetic import busy_market


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blocks", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="write the recording here and keep it")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="liqbot-speed-") as tmp:
        path = args.keep or Path(tmp) / "speed.sqlite"
        t0 = time.perf_counter()
        counts = busy_market(path, blocks=args.blocks, accounts=args.accounts, seed=args.seed)
        generated = time.perf_counter() - t0
        t1 = time.perf_counter()
        result = run_backtest(path, BacktestConfig())
        elapsed = time.perf_counter() - t1
        size = path.stat().st_size
    s = result.summary
    report = {
        "blocks": s.blocks,
        "accounts": s.accounts,
        "backtest_seconds": round(elapsed, 2),
        "blocks_per_second": round(s.blocks / elapsed),
        "under_a_minute": elapsed < 60,
        "generation_seconds": round(generated, 1),
        "recording_bytes": size,
        "recording": {**counts, "checkpoints_verified": s.checkpoints_verified},
        "summary": {
            k: (round(v, 2) if isinstance(v, float) else v)
            for k, v in asdict(s).items()
            if k not in ("elapsed_seconds",)
        },
        "python": sys.version.split()[0],
    }
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        from rich.console import Console

        console = Console()
        console.print(summary_table(result))
        console.print(
            f"[bold]{s.blocks:,} blocks, {s.accounts:,} accounts: backtest in {elapsed:.1f}s "
            f"({s.blocks / elapsed:,.0f} blocks/s); generating the recording took "
            f"{generated:.0f}s[/]"
        )
    return 0 if elapsed < 60 else 1


if __name__ == "__main__":
    sys.exit(main())
