"""The reliability harness: anvil, the fault proxy in front of it, the market, and the bot.

The bot (an in-process :class:`Executor`, or a subprocess, see :mod:`tests.reliability.runner`)
talks to the proxy; the test talks to anvil directly (the honest node) to mine, reorg, move
oracles, and to compute the chain ledger that the invariants compare with the journal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from web3 import Web3

from bot.chain.anvil import Anvil
from bot.execute import Executor
from bot.execute.fees import FeeCaps
from bot.execute.keys import Signer, signer_from_key
from tests.execute.scenario import (
    BOT_ADDRESS,
    BOT_KEY,
    GWEI,
    KEYSTORE_PASSWORD,
    Scenario,
    deploy_on,
    executor_config,
    rpc,
)
from tests.reliability.invariants import (
    Check,
    all_terminal,
    assert_held,
    confirmed_at_depth,
    fees_under_caps,
    nonces_in_step,
    one_per_opportunity,
    replacements_bump,
    spending_explained,
)
from tests.reliability.ledger import ChainLedger, chain_ledger
from tests.reliability.proxy import RpcProxy

SECRETS = (BOT_KEY, BOT_KEY[2:], BOT_KEY[2:].upper(), KEYSTORE_PASSWORD)
MAX_FEE = 500 * GWEI
MAX_TIP = 20 * GWEI


@dataclass
class Env:
    anvil: Anvil
    proxy: RpcProxy
    sc: Scenario
    tmp: Path
    w3: Web3
    """Straight to anvil: the test's honest view."""
    bot_w3: Web3
    """Through the fault proxy: the bot's view."""
    start_block: int
    caps: FeeCaps = field(default_factory=lambda: FeeCaps(MAX_FEE, MAX_TIP))
    confirmations: int = 2
    checks: list[Check] = field(default_factory=list)

    @property
    def journal_path(self) -> Path:
        return self.tmp / "journal.sqlite"

    @property
    def contracts(self) -> tuple[str, ...]:
        return (self.sc.market.deployment.flash_liquidator,)

    @property
    def allowed_recipients(self) -> tuple[str, ...]:
        d = self.sc.market.deployment
        return (d.pool, *(p.address for p in d.pairs.values()))

    def signer(self) -> Signer:
        return signer_from_key(BOT_KEY, source="the test key")

    def open(self, *, stuck_blocks: int = 2, **kw: Any) -> Executor:
        """The bot, in process, reading and sending through the proxy."""
        self.confirmations = int(kw.pop("confirmations", self.confirmations))
        kw.setdefault("max_fee", self.caps.max_fee_per_gas)
        kw.setdefault("max_tip", self.caps.max_priority_fee_per_gas)
        config = executor_config(
            self.sc.market,
            self.journal_path,
            confirmations=self.confirmations,
            stuck_blocks=stuck_blocks,
            **kw,
        )
        return Executor.open(self.bot_w3, config, self.signer(), out=lambda _: None)

    def automine(self, on: bool) -> None:
        rpc(self.w3, "anvil_setAutomine", on)

    def mine(self, blocks: int = 1, *, base_fee: int | None = None) -> None:
        for _ in range(blocks):
            if base_fee is not None:
                rpc(self.w3, "anvil_setNextBlockBaseFeePerGas", hex(base_fee))
            rpc(self.w3, "evm_mine")

    def settle(self, ex: Executor, *, max_blocks: int = 12, base_fee: int | None = GWEI) -> int:
        """Mine and poll until nothing is in flight; the blocks it took (invariant 7)."""
        ex.poll()
        for used in range(1, max_blocks + 1):
            if not ex.in_flight():
                return used - 1
            self.mine(base_fee=base_fee)
            ex.poll()
        return max_blocks + 1 if ex.in_flight() else max_blocks

    def ledger(self) -> ChainLedger:
        return chain_ledger(
            self.w3,
            BOT_ADDRESS,
            self.start_block,
            contracts=self.contracts,
            pool=self.sc.market.deployment.pool,
        )

    def invariants(
        self,
        ex: Executor,
        *,
        foreign: int = 0,
        quiet: bool = True,
        blocks_used: int | None = None,
        settle_bound: int = 12,
        first_nonce: int = 0,
        burn_budget_wei: int | None = None,
        confirmations: int | None = None,
    ) -> list[Check]:
        """Invariants 1-7 from the chain; raises on the first row that does not hold."""
        journal = ex.journal
        assert journal is not None
        ledger = self.ledger()
        sends = self.proxy.sends_from(BOT_ADDRESS)
        checks = [
            spending_explained(
                ledger,
                journal,
                foreign=foreign,
                allowed_recipients=self.allowed_recipients,
                contracts=self.contracts,
                settled=quiet,
            ),
            one_per_opportunity(ledger, journal, self.contracts),
            fees_under_caps(ledger, sends, journal, self.caps, burn_budget_wei=burn_budget_wei),
            replacements_bump(sends, journal),
            confirmed_at_depth(self.w3, journal, confirmations or self.confirmations),
        ]
        if quiet:
            checks.append(nonces_in_step(ledger, journal, first_nonce=first_nonce))
            checks.append(all_terminal(journal, blocks_used, settle_bound))
        self.checks.extend(checks)
        return assert_held(sorted(checks, key=lambda c: c.number))


def make_env(anvil: Anvil, tmp: Path, *, borrowers: int = 1) -> Env:
    w3 = Web3(Web3.HTTPProvider(anvil.url, request_kwargs={"timeout": 30}))
    sc = deploy_on(w3, borrowers)
    proxy = RpcProxy(anvil.url).start()
    bot_w3 = Web3(Web3.HTTPProvider(proxy.url, request_kwargs={"timeout": 3}))
    return Env(anvil, proxy, sc, tmp, w3, bot_w3, int(w3.eth.block_number))


def no_secret_in(texts: Sequence[str]) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, "a secret was printed"
