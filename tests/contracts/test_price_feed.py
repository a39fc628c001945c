from __future__ import annotations

import pytest
from web3 import Web3
from web3.logs import DISCARD

from bot.chain.artifacts import load_artifact
from bot.chain.contracts import deploy_contract, transact
from bot.chain.embedded import EmbeddedChain
from tests.helpers import reverts

MIN = 1_000_000  # $0.01 with 8 decimals
MAX = 10**14  # $1,000,000


def _feed(w3: Web3, initial: int = 2000 * 10**8, decimals: int = 8):
    owner = w3.eth.accounts[0]
    return deploy_contract(w3, "PriceFeed", decimals, "ETH / USD", initial, MIN, MAX, sender=owner)


def test_constructor_records_round_one(w3: Web3) -> None:
    feed = _feed(w3)
    now = w3.eth.get_block("latest")["timestamp"]
    assert feed.functions.decimals().call() == 8
    assert feed.functions.description().call() == "ETH / USD"
    assert feed.functions.version().call() == 4
    assert feed.functions.minAnswer().call() == MIN
    assert feed.functions.maxAnswer().call() == MAX
    assert feed.functions.owner().call() == w3.eth.accounts[0]
    assert feed.functions.latestRound().call() == 1
    assert feed.functions.latestRoundData().call() == [1, 2000 * 10**8, now, now, 1]
    assert feed.functions.latestAnswer().call() == 2000 * 10**8
    assert feed.functions.latestTimestamp().call() == now


def test_rounds_and_round_data(chain: EmbeddedChain) -> None:
    w3 = chain.w3
    owner = w3.eth.accounts[0]
    feed = _feed(w3)
    stamps = []
    for answer in (2100 * 10**8, 1900 * 10**8, 1950 * 10**8):
        chain.advance_time(60)
        receipt = transact(w3, feed.functions.updateAnswer(answer), owner)
        stamps.append(w3.eth.get_block(receipt["blockNumber"])["timestamp"])
    assert feed.functions.latestRound().call() == 4
    assert feed.functions.getRoundData(2).call() == [2, 2100 * 10**8, stamps[0], stamps[0], 2]
    assert feed.functions.getRoundData(3).call() == [3, 1900 * 10**8, stamps[1], stamps[1], 3]
    assert feed.functions.latestRoundData().call() == [4, 1950 * 10**8, stamps[2], stamps[2], 4]
    assert feed.functions.getAnswer(3).call() == 1900 * 10**8
    assert feed.functions.getTimestamp(3).call() == stamps[1]
    assert feed.functions.getAnswer(99).call() == 0
    with reverts("NoDataPresent"):
        feed.functions.getRoundData(5).call()
    with reverts("NoDataPresent"):
        feed.functions.getRoundData(0).call()


def test_update_answer_at_replays_past_not_future(chain: EmbeddedChain) -> None:
    w3 = chain.w3
    owner = w3.eth.accounts[0]
    feed = _feed(w3)
    chain.advance_time(3600)
    chain.mine()
    now = w3.eth.get_block("latest")["timestamp"]
    transact(w3, feed.functions.updateAnswerAt(1234 * 10**8, now - 1800), owner)
    assert feed.functions.latestRoundData().call() == [2, 1234 * 10**8, now - 1800, now - 1800, 2]
    transact(w3, feed.functions.updateAnswerAt(1235 * 10**8, 0), owner)
    assert feed.functions.latestTimestamp().call() == 0
    with reverts("FutureTimestamp"):
        feed.functions.updateAnswerAt(1, now + 3600).call({"from": owner})


def test_answers_are_clamped_to_bounds(w3: Web3) -> None:
    owner = w3.eth.accounts[0]
    feed = _feed(w3, initial=1)  # below the floor from the start
    assert feed.functions.latestAnswer().call() == MIN
    transact(w3, feed.functions.updateAnswer(-5), owner)
    assert feed.functions.latestAnswer().call() == MIN
    transact(w3, feed.functions.updateAnswer(MAX * 10), owner)
    assert feed.functions.latestAnswer().call() == MAX
    transact(w3, feed.functions.updateAnswer(MAX), owner)
    assert feed.functions.latestAnswer().call() == MAX
    transact(w3, feed.functions.updateAnswer(MIN + 1), owner)
    assert feed.functions.latestAnswer().call() == MIN + 1
    assert feed.functions.getRoundData(1).call()[1] == MIN
    assert feed.functions.getRoundData(3).call()[1] == MAX


def test_invalid_bounds_rejected(w3: Web3) -> None:
    artifact = load_artifact("PriceFeed")
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    with reverts("InvalidBounds"):
        data = factory.constructor(8, "X", 1, 10, 10).data_in_transaction
        w3.eth.call({"from": w3.eth.accounts[0], "data": data})


def test_only_owner(w3: Web3) -> None:
    owner, mallory, heir = w3.eth.accounts[:3]
    feed = _feed(w3)
    with reverts("NotOwner"):
        feed.functions.updateAnswer(1).call({"from": mallory})
    with reverts("NotOwner"):
        feed.functions.updateAnswerAt(1, 1).call({"from": mallory})
    with reverts("NotOwner"):
        feed.functions.transferOwnership(mallory).call({"from": mallory})
    with reverts("ZeroAddress"):
        feed.functions.transferOwnership("0x" + "00" * 20).call({"from": owner})
    transact(w3, feed.functions.transferOwnership(heir), owner)
    assert feed.functions.owner().call() == heir
    with reverts("NotOwner"):
        feed.functions.updateAnswer(1).call({"from": owner})
    transact(w3, feed.functions.updateAnswer(3000 * 10**8), heir)
    assert feed.functions.latestAnswer().call() == 3000 * 10**8


def test_events(w3: Web3) -> None:
    owner = w3.eth.accounts[0]
    feed = _feed(w3)
    receipt = transact(w3, feed.functions.updateAnswer(MAX + 5), owner)
    stamp = w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    (updated,) = feed.events.AnswerUpdated().process_receipt(receipt, errors=DISCARD)
    assert updated["args"]["current"] == MAX  # the clamped answer
    assert updated["args"]["roundId"] == 2
    assert updated["args"]["updatedAt"] == stamp
    (new_round,) = feed.events.NewRound().process_receipt(receipt, errors=DISCARD)
    assert new_round["args"]["roundId"] == 2
    assert new_round["args"]["startedBy"] == owner
    assert new_round["args"]["startedAt"] == stamp


@pytest.mark.anvil
def test_feed_on_anvil(anvil_w3: Web3) -> None:
    w3 = anvil_w3
    owner = w3.eth.accounts[0]
    feed = deploy_contract(w3, "PriceFeed", 18, "DAI / USD", 10**18, 10**15, 10**21, sender=owner)
    receipt = transact(w3, feed.functions.updateAnswer(10**22), owner)
    stamp = w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert feed.functions.latestRoundData().call() == [2, 10**21, stamp, stamp, 2]
    assert feed.functions.getRoundData(1).call()[1] == 10**18
    with reverts("NoDataPresent"):
        feed.functions.getRoundData(3).call()
    with reverts("NotOwner"):
        feed.functions.updateAnswer(1).call({"from": w3.eth.accounts[1]})
