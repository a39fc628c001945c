"""The in-process eth-tester chain: the embedded default, no node and no network."""

from __future__ import annotations

from dataclasses import dataclass

from eth_tester import EthereumTester, PyEVMBackend
from web3 import EthereumTesterProvider, Web3


@dataclass
class EmbeddedChain:
    w3: Web3
    tester: EthereumTester

    def mine(self, blocks: int = 1) -> None:
        self.tester.mine_blocks(blocks)

    def advance_time(self, seconds: int) -> None:
        """Move the clock so that the next mined block is ``seconds`` later."""
        latest = self.w3.eth.get_block("latest")
        self.tester.time_travel(int(latest["timestamp"]) + seconds)

    def snapshot(self) -> int:
        snapshot_id: int = self.tester.take_snapshot()
        return snapshot_id

    def revert(self, snapshot_id: int) -> None:
        self.tester.revert_to_snapshot(snapshot_id)


def embedded_chain(gas_limit: int = 30_000_000) -> EmbeddedChain:
    """A fresh py-evm chain with funded, unlocked accounts and auto-mining."""
    params = PyEVMBackend.generate_genesis_params(overrides={"gas_limit": gas_limit})
    tester = EthereumTester(PyEVMBackend(genesis_parameters=params))
    w3 = Web3(EthereumTesterProvider(tester))
    return EmbeddedChain(w3=w3, tester=tester)
