"""Start and stop an anvil node on a free loopback port (tests, benchmarks, scenarios)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
_NPM_BINARY = REPO_ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"


class AnvilUnavailable(RuntimeError):
    """The anvil binary is not installed."""


def find_anvil() -> str:
    explicit = os.environ.get("LIQBOT_ANVIL")
    if explicit:
        return explicit
    if _NPM_BINARY.is_file():
        return str(_NPM_BINARY)
    on_path = shutil.which("anvil")
    if on_path:
        return on_path
    raise AnvilUnavailable(
        f"anvil not found: run `npm ci` in {REPO_ROOT} (it installs @foundry-rs/anvil), "
        "or set LIQBOT_ANVIL to an anvil binary"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Anvil:
    """An anvil process bound to 127.0.0.1 on a free port; use as a context manager."""

    def __init__(
        self,
        *,
        chain_id: int = 31337,
        block_time: float | None = None,
        no_mining: bool = False,
        base_fee: int | None = None,
        gas_limit: int | None = None,
        accounts: int = 10,
        balance_eth: int = 10_000,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.chain_id = chain_id
        self._args = [
            "--host",
            "127.0.0.1",
            "--chain-id",
            str(chain_id),
            "--accounts",
            str(accounts),
            "--balance",
            str(balance_eth),
            "--silent",
        ]
        if block_time is not None:
            self._args += ["--block-time", str(block_time)]
        if no_mining:
            self._args.append("--no-mining")
        if base_fee is not None:
            self._args += ["--block-base-fee-per-gas", str(base_fee)]
        if gas_limit is not None:
            self._args += ["--gas-limit", str(gas_limit)]
        self._args += list(extra_args)
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, attempts: int = 5) -> Anvil:
        binary = find_anvil()
        last_error = ""
        for _ in range(attempts):
            self.port = free_port()
            self._proc = subprocess.Popen(
                [binary, "--port", str(self.port), *self._args],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            if self._wait_ready():
                return self
            last_error = self._stop_and_collect()
        raise RuntimeError(f"anvil did not start: {last_error.strip()[:500]}")

    def _wait_ready(self, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                return False
            try:
                reply = requests.post(
                    self.url,
                    json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
                    timeout=1,
                )
                if reply.ok and "result" in reply.json():
                    return True
            except requests.RequestException:
                pass
            time.sleep(0.05)
        return False

    def _stop_and_collect(self) -> str:
        if self._proc is None:
            return ""
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
        if self._proc.stderr:
            self._proc.stderr.close()
        self._proc = None
        return err

    def stop(self) -> None:
        self._stop_and_collect()

    def __enter__(self) -> Anvil:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
