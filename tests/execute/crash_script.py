"""The executor as a separate process, for crash tests: killed at a failpoint (``LIQBOT_FAILPOINT``)
or by a signal, then restarted by the test.

    python -m tests.execute.crash_script --url URL --config FILE --request FILE \
        --mode execute|poll|wait [--polls N]

The key comes from ``LIQBOT_PRIVATE_KEY`` as in production. ``execute`` sends the request
then polls ``--polls`` times; ``poll`` only polls; ``wait`` sends, prints ``SENT``, then
polls until killed. Logs go to stderr at DEBUG, so the test can check that no secret shows.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from web3 import Web3

from bot.execute import (
    ExecutionRequest,
    Executor,
    ExecutorConfig,
    FeeCaps,
    FeePolicy,
    StartupConfig,
    load_signer,
)


def _config(path: Path) -> ExecutorConfig:
    d = json.loads(path.read_text())
    return ExecutorConfig(
        startup=StartupConfig(
            chain_id=d["chain_id"], pool=d["pool"], oracle=d["oracle"], liquidator=d["liquidator"]
        ),
        fees=FeePolicy(FeeCaps(d["max_fee"], d["max_tip"])),
        journal_path=Path(d["journal"]),
        lock_dir=Path(d["lock_dir"]),
        confirmations=d["confirmations"],
        stuck_blocks=d["stuck_blocks"],
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--request", required=True, type=Path)
    parser.add_argument("--mode", choices=["execute", "poll", "wait"], required=True)
    parser.add_argument("--polls", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)

    w3 = Web3(Web3.HTTPProvider(args.url, request_kwargs={"timeout": 30}))
    signer = load_signer()
    request = ExecutionRequest.from_json(json.loads(args.request.read_text()))
    executor = Executor.open(w3, _config(args.config), signer)
    print("OPEN", executor.last_reconcile.summary() if executor.last_reconcile else "", flush=True)
    if args.mode in ("execute", "wait"):
        result = executor.execute(request)
        print("RESULT", result.status, result.tx_hash, result.nonce, flush=True)
        if args.mode == "wait":
            print("SENT", flush=True)
            while True:
                executor.poll()
                time.sleep(0.05)
    for _ in range(args.polls):
        for update in executor.poll():
            print("UPDATE", update.intent_id, update.before, update.after, flush=True)
    executor.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
