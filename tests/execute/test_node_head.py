"""Node.head reads the head as raw JSON over HTTP: the same Head as web3's formatted read,
and a node answering garbage is a NodeUnavailable (the executor then fails closed)."""

from __future__ import annotations

import pytest
from web3 import Web3

from bot.chain.anvil import Anvil
from bot.execute.node import Node, NodeUnavailable, hexstr
from tests.reliability.proxy import Fault, RpcProxy

pytestmark = pytest.mark.anvil


def test_raw_head_equals_web3s_and_refuses_garbage(anvil: Anvil, anvil_w3: Web3) -> None:
    w3 = anvil_w3
    sender = w3.eth.accounts[3]
    first = w3.eth.get_transaction_count(sender)
    w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    try:
        for i in range(30):  # a block carrying many transactions, as in a crash
            w3.eth.send_transaction({"from": sender, "to": sender, "value": i, "nonce": first + i})
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    finally:
        w3.provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]
    block = w3.eth.get_block("latest")
    assert len(block["transactions"]) == 30
    head = Node(w3).head()
    assert head.number == block["number"]
    assert head.hash == hexstr(block["hash"])
    assert head.base_fee == block["baseFeePerGas"]
    assert (head.gas_used, head.gas_limit) == (block["gasUsed"], block["gasLimit"])
    assert head.timestamp == block["timestamp"]

    with RpcProxy(anvil.url) as proxy:
        node = Node(Web3(Web3.HTTPProvider(proxy.url)))
        assert node.head() == head
        for fault in (Fault.non_json(), Fault.error(-32000, "header not found"), Fault.http(503)):
            proxy.inject("eth_getBlockByNumber", fault)
            with pytest.raises(NodeUnavailable, match="eth_getBlockByNumber"):
                node.head()
            proxy.clear()
        assert node.head() == head
