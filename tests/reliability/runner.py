"""The bot as a subprocess (``python -m tests.execute.crash_script``) talking to the fault
proxy: killed hard at a named failpoint (``LIQBOT_FAILPOINT``, ``os._exit``) or by SIGKILL,
and restarted by the test on the same journal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from bot.execute import ExecutionRequest, failpoints
from bot.execute.keys import KEY_ENV
from tests.execute.scenario import BOT_KEY
from tests.reliability.harness import Env

REPO = Path(__file__).resolve().parents[2]


class BotProcess:
    def __init__(self, env: Env, request: ExecutionRequest, *, stuck_blocks: int = 2) -> None:
        self.env = env
        d = env.sc.market.deployment
        self.config_file = env.tmp / "bot-config.json"
        self.config_file.write_text(
            json.dumps(
                {
                    "chain_id": d.chain_id,
                    "pool": d.pool,
                    "oracle": d.oracle,
                    "liquidator": d.flash_liquidator,
                    "max_fee": env.caps.max_fee_per_gas,
                    "max_tip": env.caps.max_priority_fee_per_gas,
                    "journal": str(env.journal_path),
                    "lock_dir": str(env.tmp / "locks"),
                    "confirmations": env.confirmations,
                    "stuck_blocks": stuck_blocks,
                }
            )
        )
        self.request_file = env.tmp / "bot-request.json"
        self.request_file.write_text(request.dumps())
        self.output = ""
        self.exits: list[int] = []

    def _argv(self, mode: str, polls: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "tests.execute.crash_script",
            "--url",
            self.env.proxy.url,
            "--config",
            str(self.config_file),
            "--request",
            str(self.request_file),
            "--mode",
            mode,
            "--polls",
            str(polls),
        ]

    def _env(self, failpoint: str | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != failpoints.ENV_VAR}
        env[KEY_ENV] = BOT_KEY
        if failpoint:
            env[failpoints.ENV_VAR] = failpoint
        return env

    def run(self, mode: str, *, failpoint: str | None = None, polls: int = 1) -> int:
        done = subprocess.run(
            self._argv(mode, polls),
            cwd=REPO,
            env=self._env(failpoint),
            capture_output=True,
            text=True,
            timeout=120,
        )
        self.output += done.stdout + done.stderr
        self.exits.append(done.returncode)
        return done.returncode

    def run_and_kill(self) -> None:
        """Send, then SIGKILL the process while it waits for the receipt."""
        log_path = self.env.tmp / "killed.stderr"
        with log_path.open("w") as stderr:
            proc = subprocess.Popen(
                self._argv("wait", 1),
                cwd=REPO,
                env=self._env(None),
                stdout=subprocess.PIPE,
                stderr=stderr,  # a file: a full pipe would block the child
                text=True,
            )
            assert proc.stdout is not None
            seen = ""
            for line in proc.stdout:
                seen += line
                if line.startswith("SENT"):
                    break
            os.kill(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate(timeout=30)
        self.output += seen + out + log_path.read_text()
        self.exits.append(proc.returncode)
        assert proc.returncode == -signal.SIGKILL
        assert "RESULT sent" in seen, seen + self.output[-2000:]
