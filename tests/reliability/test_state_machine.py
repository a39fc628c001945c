"""A stateful property test of the executor on anvil (hypothesis RuleBasedStateMachine).

Rules: decide and send, mine, drop a pending transaction, reorg, spike the base fee, a
competitor's liquidation, an RPC fault on and off, a crash (at a failpoint or between steps)
and restart, an oracle move. After every step the invariants that hold at any time are
checked from the chain (one liquidation per opportunity, one nonce per intent, fees under
the caps, replacements bump, nothing final short of the depth, spending explained); at the
end the fault clears, blocks are mined, and every intent must be final within a bound,
with the nonces in step (invariants 3 and 7).

The crash here is in process: the executor object is dropped, its journal connection closed
and locks released (what the OS does when a process dies) and a new one opened on the same
journal. Hard exits in a subprocess are covered by row 20 (test_rows_crash.py).
"""

from __future__ import annotations

import shutil
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from web3 import Web3
from web3.providers.rpc.utils import ExceptionRetryConfiguration
from web3.types import Wei

from bot.chain.anvil import Anvil
from bot.deploy.market import MAX_UINT
from bot.execute import ExecutionRequest, Executor, failpoints
from bot.execute.journal import AttemptState
from tests.execute.scenario import BOT_ADDRESS, GWEI, deploy_on, request_for, rpc
from tests.reliability.harness import Env
from tests.reliability.invariants import (
    all_terminal,
    assert_held,
    confirmed_at_depth,
    fees_under_caps,
    nonces_in_step,
    one_per_opportunity,
    replacements_bump,
    spending_explained,
)
from tests.reliability.proxy import Fault, Lie, RpcProxy

pytestmark = [pytest.mark.anvil, pytest.mark.slow]

BORROWERS = 3
SETTLE_BOUND = 16
CONFIRMATIONS = 3

FAULTS = [
    ("eth_call", Fault.http(503)),
    ("eth_getTransactionReceipt", Fault.non_json()),
    ("eth_getTransactionCount", Fault.lying(Lie.LOWER_NONCE)),
    ("eth_getBlockByNumber", Fault.lying(Lie.OLD_BLOCK, 2)),
    ("eth_sendRawTransaction", Fault.drop()),
    ("eth_sendRawTransaction", Fault.blackhole()),
    ("eth_getTransactionReceipt", Fault.lying(Lie.FAKE_RECEIPT)),
]


class ExecutorMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.anvil = Anvil().start()
        self.tmp = Path(tempfile.mkdtemp(prefix="liqbot-sm-"))
        w3 = Web3(Web3.HTTPProvider(self.anvil.url, request_kwargs={"timeout": 30}))
        sc = deploy_on(w3, BORROWERS)
        self.rival = str(list(w3.eth.accounts)[2])
        usdc = sc.market.token("USDC")
        usdc.functions.mint(self.rival, sc.market.units("USDC", 100_000)).transact(
            {"from": w3.eth.accounts[0]}
        )
        usdc.functions.approve(sc.market.deployment.pool, MAX_UINT).transact({"from": self.rival})
        proxy = RpcProxy(self.anvil.url).start()
        # web3's own retries (5, backing off to 2 s) are exercised by the row tests; here
        # they would only stretch every faulted call to seconds.
        provider = Web3.HTTPProvider(
            proxy.url,
            request_kwargs={"timeout": 1},
            exception_retry_configuration=ExceptionRetryConfiguration(
                errors=(ConnectionError, requests.HTTPError, requests.Timeout),
                retries=1,
                backoff_factor=0.01,
            ),
        )
        bot_w3 = Web3(provider)
        self.env = Env(self.anvil, proxy, sc, self.tmp, w3, bot_w3, int(w3.eth.block_number))
        self.env.confirmations = CONFIRMATIONS
        self.requests: list[ExecutionRequest] = [
            request_for(sc.market, b.address) for b in sc.borrowers
        ]
        self.ex: Executor = self.env.open(stuck_blocks=2)
        self.env.automine(False)
        self.faulty = False

    # ------------------------------------------------------------------ rules

    @rule(which=st.integers(0, BORROWERS - 1))
    def send(self, which: int) -> None:
        self.ex.execute(self.requests[which])

    @rule(blocks=st.integers(1, 2))
    def mine(self, blocks: int) -> None:
        for _ in range(blocks):
            self.env.mine(base_fee=GWEI)
            self.ex.poll()

    @rule()
    def drop_pending(self) -> None:
        assert self.ex.journal is not None
        for intent in self.ex.journal.open_intents():
            for a in self.ex.journal.attempts(intent.id):
                if a.state is AttemptState.SENT:
                    rpc(self.env.w3, "anvil_dropTransaction", a.tx_hash)
                    return

    @rule(depth=st.integers(1, CONFIRMATIONS - 1))
    def reorg(self, depth: int) -> None:
        """A reorg shallower than the confirmation depth (deeper ones are what the depth is
        chosen to exclude: a final confirmation is not revisited)."""
        if self.env.w3.eth.block_number - depth > self.env.start_block:
            rpc(self.env.w3, "anvil_reorg", depth, [])
            self.ex.poll()

    @rule(factor=st.sampled_from([3, 10, 100]))
    def base_fee_spike(self, factor: int) -> None:
        self.env.mine(base_fee=factor * 10 * GWEI)
        self.ex.poll()

    @rule(which=st.integers(0, BORROWERS - 1))
    def competitor(self, which: int) -> None:
        market = self.env.sc.market
        market.pool.functions.liquidationCall(
            market.deployment.token("WETH"),
            market.deployment.token("USDC"),
            self.env.sc.borrowers[which].address,
            MAX_UINT,
            False,
        ).transact(
            {
                "from": self.rival,
                "maxPriorityFeePerGas": Wei(30 * GWEI),
                "maxFeePerGas": Wei(1_100 * GWEI),
                "gas": 1_000_000,
            }
        )

    @rule(which=st.integers(0, len(FAULTS) - 1))
    def fault_on(self, which: int) -> None:
        method, fault = FAULTS[which]
        self.env.proxy.clear()
        self.env.proxy.inject(method, fault, times=3)  # a while, then it clears by itself
        self.faulty = True

    @rule()
    def fault_off(self) -> None:
        self.env.proxy.clear()
        self.faulty = False

    @rule()
    def crash_and_restart(self) -> None:
        self._crash()

    @rule(point=st.sampled_from(failpoints.ALL), which=st.integers(0, BORROWERS - 1))
    def crash_at_failpoint(self, point: str, which: int) -> None:
        try:
            with failpoints.armed(point):
                self.ex.execute(self.requests[which])
                self.env.mine(base_fee=GWEI)
                self.ex.poll()
        except failpoints.FailpointHit:
            pass
        self._crash()

    @rule(price=st.sampled_from(["1800", "2250", "2600"]))
    def oracle_move(self, price: str) -> None:
        market = self.env.sc.market
        answer = market.specs["WETH"].price_answer(Decimal(price))
        deployer = self.env.w3.eth.accounts[0]
        for feed in (market.feed("WETH"), market.fallback_feed("WETH")):
            feed.functions.updateAnswer(answer).transact({"from": deployer, "gas": 200_000})
        self.env.mine(base_fee=GWEI)
        self.ex.poll()

    def _crash(self) -> None:
        """What a process death leaves: the journal on disk, the locks released."""
        assert self.ex.journal is not None
        self.ex.journal.close()
        try:
            self.ex = self.env.open(stuck_blocks=2)
        except Exception:
            # The node may be faulty right now (start-up checks fail closed): retry clean.
            self.env.proxy.clear()
            self.faulty = False
            self.ex = self.env.open(stuck_blocks=2)

    # ------------------------------------------------------------------ invariants

    @invariant()
    def always(self) -> None:
        journal = self.ex.journal
        assert journal is not None
        ledger = self.env.ledger()
        sends = self.env.proxy.sends_from(BOT_ADDRESS)
        assert_held(
            [
                spending_explained(
                    ledger,
                    journal,
                    allowed_recipients=self.env.allowed_recipients,
                    contracts=self.env.contracts,
                    settled=False,
                ),
                one_per_opportunity(ledger, journal, self.env.contracts),
                fees_under_caps(ledger, sends, journal, self.env.caps),
                replacements_bump(sends, journal),
                confirmed_at_depth(self.env.w3, journal, self.env.confirmations),
            ]
        )

    def teardown(self) -> None:
        try:
            self.env.proxy.clear()
            ex = self.ex
            used = self.env.settle(ex, max_blocks=SETTLE_BOUND)
            journal = ex.journal
            assert journal is not None
            ledger = self.env.ledger()
            assert_held(
                [
                    spending_explained(
                        ledger,
                        journal,
                        allowed_recipients=self.env.allowed_recipients,
                        contracts=self.env.contracts,
                    ),
                    nonces_in_step(ledger, journal),
                    all_terminal(journal, used, SETTLE_BOUND),
                ]
            )
            ex.close()
        finally:
            self.env.proxy.stop()
            self.anvil.stop()
            shutil.rmtree(self.tmp, ignore_errors=True)


ExecutorMachine.TestCase.settings = settings(
    max_examples=5,
    stateful_step_count=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestExecutorMachine = ExecutorMachine.TestCase
