"""A market played on anvil for the recorder and backtest tests: borrowers open positions,
prices crash in one block, a competing liquidator takes some of the accounts, at tips the
test chooses, in blocks the test chooses.

Blocks are mined by hand (automine off) so that a test decides what lands together in one
block, and at what timestamp.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from eth_typing import ChecksumAddress
from hexbytes import HexBytes
from web3 import Web3

from bot.chain.anvil import Anvil
from bot.chain.contracts import transact
from bot.deploy.borrowers import open_positions, plan_borrowers
from bot.deploy.market import MAX_UINT, Market, deploy_market

GWEI = 10**9
TX_GAS = 1_500_000


@dataclass
class Played:
    """A market on a running anvil node, and what the test did to it."""

    anvil: Anvil
    w3: Web3
    market: Market
    deployer: ChecksumAddress
    bot: ChecksumAddress
    """Owns the flash liquidator."""
    competitor: ChecksumAddress
    first: int
    """The first block a recording should start at (the pool exists in the block before)."""
    borrowers: list[str] = field(default_factory=list)
    crash_block: int = 0
    competitor_txs: list[tuple[int, str, str]] = field(default_factory=list)
    """(block, user, tx hash) of each competing liquidation."""
    nonces: dict[str, int] = field(default_factory=dict)

    def rpc(self, method: str, *params: Any) -> Any:
        reply = self.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
        assert "error" not in reply, reply
        return reply.get("result")

    @property
    def head(self) -> int:
        return int(self.w3.eth.block_number)

    def timestamp(self, block: int) -> int:
        return int(self.w3.eth.get_block(block)["timestamp"])

    def mine(self, timestamp: int | None = None) -> int:
        """Mine one block with what is pending (at ``timestamp`` when given)."""
        if timestamp is not None:
            self.rpc("evm_setNextBlockTimestamp", hex(timestamp))
        self.rpc("evm_mine")
        return self.head

    @contextmanager
    def one_block(self, timestamp: int | None = None) -> Iterator[None]:
        """Transactions sent inside land in one block, mined on exit."""
        self.rpc("anvil_setAutomine", False)
        try:
            yield
            self.mine(timestamp)
        finally:
            self.rpc("anvil_setAutomine", True)
            self.nonces.clear()

    def send(
        self, fn: Any, sender: ChecksumAddress, *, tip: int, max_fee: int | None = None
    ) -> str:
        """A type-2 transaction, not waited for. Nonces are counted here. Within one block a
        sender's tips must not rise with the nonce: anvil drops such a transaction."""
        nonce = self.nonces.get(sender)
        if nonce is None:
            nonce = self.w3.eth.get_transaction_count(sender, "pending")
        self.nonces[sender] = nonce + 1
        tx_hash: HexBytes = fn.transact(
            {
                "from": sender,
                "nonce": nonce,
                "gas": TX_GAS,
                "maxPriorityFeePerGas": tip,
                "maxFeePerGas": max_fee if max_fee is not None else tip + 100 * GWEI,
            }
        )
        return "0x" + bytes(tx_hash).hex()

    def receipt(self, tx_hash: str) -> Any:
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, poll_latency=0.01)  # type: ignore[arg-type]
        assert receipt["status"] == 1, f"{tx_hash} reverted"
        return receipt

    def crash(self, prices: dict[str, Decimal]) -> int:
        """Both feeds of each asset move in one block; returns it."""
        m = self.market
        sent = []
        with self.one_block():
            for symbol, price in prices.items():
                answer = m.specs[symbol].price_answer(price)
                for feed in (m.feed(symbol), m.fallback_feed(symbol)):
                    sent.append(
                        self.send(feed.functions.updateAnswer(answer), self.deployer, tip=GWEI)
                    )
        self.crash_block = self.head
        for tx in sent:
            assert self.receipt(tx)["blockNumber"] == self.crash_block
        return self.crash_block

    def largest(self, user: str) -> tuple[str, str]:
        """The (collateral, debt) symbols of ``user``'s largest positions."""
        m = self.market
        assets, supplies, debts, flags = m.pool.functions.getUserPositions(user).call()
        prices = {a: m.oracle.functions.getAssetPrice(a).call() for a in assets}
        symbol = {m.deployment.token(s): s for s in m.specs}

        def value(asset: str, amount: int) -> int:
            token = Web3.to_checksum_address(asset)
            return int(amount * prices[asset] // 10 ** m.specs[symbol[token]].decimals)

        coll = max(
            (a for a, s, f in zip(assets, supplies, flags, strict=True) if s and f),
            key=lambda a: value(a, supplies[assets.index(a)]),
        )
        debt = max(
            (a for a, d in zip(assets, debts, strict=True) if d),
            key=lambda a: value(a, debts[assets.index(a)]),
        )
        return symbol[Web3.to_checksum_address(coll)], symbol[Web3.to_checksum_address(debt)]

    def liquidation_tx(self, user: str, *, tip: int) -> str:
        """The competitor liquidates ``user`` as far as the pool allows (sent, not mined)."""
        m = self.market
        coll, debt = self.largest(user)
        fn = m.pool.functions.liquidationCall(
            m.deployment.token(coll), m.deployment.token(debt), user, MAX_UINT, False
        )
        return self.send(fn, self.competitor, tip=tip, max_fee=tip + 100 * GWEI)

    def compete(self, users: Sequence[tuple[str, int]], timestamp: int | None = None) -> int:
        """The competitor liquidates each (user, tip) in one block; returns the block."""
        hashes = []
        with self.one_block(timestamp):
            for user, tip in sorted(users, key=lambda u: -u[1]):
                hashes.append((user, self.liquidation_tx(user, tip=tip)))
        block = self.head
        for user, tx in hashes:
            self.receipt(tx)
            self.competitor_txs.append((block, user, tx))
        return block

    def liquidatable(self) -> list[str]:
        pool = self.market.pool
        return [
            u for u in self.borrowers if pool.functions.getUserAccountData(u).call()[5] < 10**18
        ]


def play(node: Anvil, *, borrowers: int = 24, seed: int = 11) -> Played:
    """Deploy the market, open ``borrowers`` positions (inside the range a recording should
    cover) and fund the competitor. The crash and the liquidations are up to the test."""
    w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60}))
    deployer, bot, competitor = (Web3.to_checksum_address(a) for a in w3.eth.accounts[:3])
    market = deploy_market(w3, deployer, liquidator_owner=bot)
    played = Played(node, w3, market, deployer, bot, competitor, first=w3.eth.block_number + 1)
    plans = plan_borrowers(market, borrowers, seed=seed, health_range=(1.04, 1.45))
    accounts = open_positions(market, plans, deployer, seed=seed)
    played.borrowers = [a.address for a in accounts]
    for symbol, spec in market.specs.items():
        amount = int(Decimal(5_000_000) / spec.price_usd * 10**spec.decimals)
        token = market.token(symbol)
        transact(w3, token.functions.mint(competitor, amount), deployer)
        transact(w3, token.functions.approve(market.deployment.pool, MAX_UINT), competitor)
    return played
