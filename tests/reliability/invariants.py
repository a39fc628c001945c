"""The invariants of RELIABILITY.md, checked by comparing the chain ledger
(:mod:`tests.reliability.ledger`) and the proxy's send log with the bot's journal and PnL.

Each check returns a :class:`Check` (name, held, detail) so that a test can assert all of
them at once and the fault matrix can report which ones a row exercised.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from web3 import Web3

from bot.execute.fees import FeeCaps
from bot.execute.journal import FINAL_STATES, AttemptState, Journal
from tests.reliability.ledger import ChainLedger
from tests.reliability.proxy import SentTx

BOT_RULE_BUMP_BPS = 1_250
"""The bot's own replacement rule (12.5% on both fields), stricter than geth's 10%."""


@dataclass(frozen=True)
class Check:
    number: int
    name: str
    held: bool
    detail: str = ""


def _check(number: int, name: str, problems: Sequence[str]) -> Check:
    return Check(number, name, not problems, "; ".join(problems)[:600])


def spending_explained(
    ledger: ChainLedger,
    journal: Journal,
    *,
    foreign: int = 0,
    allowed_recipients: Iterable[str] = (),
    contracts: Iterable[str] = (),
    settled: bool = True,
) -> Check:
    """1. Every mined transaction of the account is journaled; the balance moves only by
    gas and value out (plus ETH paid in); tokens leave only to allowed places; the journal's
    PnL agrees with the chain (gas paid, each liquidation's payout)."""
    problems = []
    journaled = {a.tx_hash.lower() for a in journal.attempts()}
    unknown = [t.tx_hash for t in ledger.txs if t.tx_hash not in journaled]
    if len(unknown) != foreign:
        problems.append(f"{len(unknown)} mined transactions not in the journal: {unknown}")
    change = ledger.balance_after - ledger.balance_before
    expected = ledger.eth_in - ledger.gas_paid - ledger.value_out
    if change != expected:
        problems.append(f"balance moved {change}, gas/value/transfers explain {expected}")
    allowed = {a.lower() for a in allowed_recipients} | {ledger.account.lower()}
    watched = {ledger.account.lower(), *(c.lower() for c in contracts)}
    allowed |= watched
    for t in ledger.transfers:
        if t.sender.lower() in watched and t.recipient.lower() not in allowed:
            problems.append(f"{t.amount} of {t.token} went from {t.sender} to {t.recipient}")
    if settled:
        ours = sum(t.gas_paid for t in ledger.txs if t.tx_hash in journaled)
        in_pnl = journal.pnl().gas_paid_wei
        if ours != in_pnl:
            problems.append(f"journal PnL gas {in_pnl} != chain gas of journaled txs {ours}")
        for entry in journal.ledger():
            if entry.outcome != "liquidated" or entry.path != "flash":
                continue
            paid = {
                t.amount
                for t in ledger.transfers
                if t.tx_hash == entry.tx_hash.lower() and t.recipient == ledger.account
            }
            if entry.realised_profit not in paid:
                problems.append(
                    f"intent {entry.intent_id}: PnL profit {entry.realised_profit}, the chain "
                    f"paid {sorted(paid)}"
                )
    return _check(1, "spending explained by the journal", problems)


def one_per_opportunity(ledger: ChainLedger, journal: Journal, contracts: Iterable[str]) -> Check:
    """2. At most one successful liquidation per user (opportunity) by the bot, and one
    nonce (one mined transaction) per intent."""
    problems = []
    by = {ledger.account, *contracts}
    for user, count in ledger.liquidations_per_user(by).items():
        if count > 1:
            problems.append(f"{user} liquidated {count} times")
    mined = ledger.hashes()
    for intent in journal.intents():
        attempts = journal.attempts(intent.id)
        nonces = {a.nonce for a in attempts}
        if len(nonces) > 1:
            problems.append(f"intent {intent.id} used nonces {sorted(nonces)}")
        landed = [a.tx_hash for a in attempts if a.tx_hash.lower() in mined]
        if len(landed) > 1:
            problems.append(f"intent {intent.id} mined twice: {landed}")
    confirmed: defaultdict[str, int] = defaultdict(int)
    for entry in journal.ledger():
        if entry.outcome == "liquidated":
            confirmed[entry.opportunity_key] += 1
    problems += [f"{k} liquidated {n} times in the PnL" for k, n in confirmed.items() if n > 1]
    return _check(2, "one liquidation and one nonce per opportunity", problems)


def nonces_in_step(ledger: ChainLedger, journal: Journal, *, first_nonce: int = 0) -> Check:
    """3. When quiet: latest = pending = the journal's next nonce; mined nonces contiguous."""
    problems = []
    nxt = journal.next_nonce()
    if not (ledger.latest_nonce == ledger.pending_nonce == (nxt if nxt is not None else 0)):
        problems.append(
            f"latest {ledger.latest_nonce}, pending {ledger.pending_nonce}, journal next {nxt}"
        )
    nonces = ledger.nonces
    if sorted(nonces) != list(range(first_nonce, first_nonce + len(nonces))):
        problems.append(f"mined nonces not contiguous: {nonces}")
    if any(not i.is_open for i in journal.open_intents()):
        problems.append("open_intents returned a closed intent")
    return _check(3, "nonces contiguous and in step", problems)


def fees_under_caps(
    ledger: ChainLedger,
    sends: Sequence[SentTx],
    journal: Journal,
    caps: FeeCaps,
    *,
    burn_budget_wei: int | None = None,
) -> Check:
    """4. Every attempt (as the proxy saw it, as the chain mined it, as journaled) under the
    caps; gas burnt on reverts under its budget."""
    problems = []
    fees = [(s.tx_hash, s.max_fee_per_gas, s.max_priority_fee_per_gas) for s in sends]
    fees += [(t.tx_hash, t.max_fee_per_gas, t.max_priority_fee_per_gas) for t in ledger.txs]
    fees += [
        (a.tx_hash, a.fees.max_fee_per_gas, a.fees.max_priority_fee_per_gas)
        for a in journal.attempts()
    ]
    for tx_hash, max_fee, tip in fees:
        if max_fee > caps.max_fee_per_gas or tip > caps.max_priority_fee_per_gas:
            problems.append(f"{tx_hash}: max fee {max_fee}, tip {tip} above {caps}")
    if burn_budget_wei is not None:
        burnt = sum(t.gas_paid for t in ledger.txs if t.status == 0)
        if burnt > burn_budget_wei:
            problems.append(f"{burnt} wei burnt on reverts > budget {burn_budget_wei}")
    return _check(4, "fees under the caps", problems)


def replacements_bump(
    sends: Sequence[SentTx], journal: Journal, *, bump_bps: int = BOT_RULE_BUMP_BPS
) -> Check:
    """5. At each nonce, every new transaction raises both fee fields by the rule over the
    highest before it (from the proxy's log of sends, and from the journal)."""
    problems = []
    by_nonce: defaultdict[int, list[tuple[str, int, int]]] = defaultdict(list)
    for s in sends:
        by_nonce[s.nonce].append((s.tx_hash, s.max_fee_per_gas, s.max_priority_fee_per_gas))
    journal_by_nonce: defaultdict[int, list[tuple[str, int, int]]] = defaultdict(list)
    for a in journal.attempts():
        journal_by_nonce[a.nonce].append(
            (a.tx_hash.lower(), a.fees.max_fee_per_gas, a.fees.max_priority_fee_per_gas)
        )
    for source, table in (("sent", by_nonce), ("journal", journal_by_nonce)):
        for nonce, seq in table.items():
            distinct = list(dict.fromkeys(seq))  # rebroadcasts of one hash count once
            for (h0, f0, t0), (h1, f1, t1) in itertools.pairwise(distinct):
                if h0 == h1:
                    continue
                floor = 10_000 + bump_bps
                if f1 * 10_000 < f0 * floor or t1 * 10_000 < t0 * floor:
                    problems.append(
                        f"{source} nonce {nonce}: {h1} ({f1}, {t1}) does not bump ({f0}, {t0})"
                    )
    return _check(5, "every replacement bumps both fees by the rule", problems)


def confirmed_at_depth(w3: Web3, journal: Journal, confirmations: int) -> Check:
    """6. Every final intent with a mined attempt: that attempt's block is canonical (same
    hash, the transaction in it) and at least ``confirmations`` deep."""
    problems = []
    head = int(w3.eth.block_number)
    for intent in journal.intents():
        if intent.state not in FINAL_STATES:
            continue
        for a in journal.attempts(intent.id):
            if a.state is not AttemptState.CONFIRMED:
                continue
            if a.mined_block is None:
                problems.append(f"intent {intent.id}: confirmed attempt {a.id} has no block")
                continue
            block = w3.eth.get_block(a.mined_block)
            if "0x" + bytes(block["hash"]).hex() != (a.mined_block_hash or "").lower():
                problems.append(f"intent {intent.id}: block {a.mined_block} not canonical")
            elif a.tx_hash.lower() not in {"0x" + bytes(h).hex() for h in block["transactions"]}:  # type: ignore[arg-type]
                problems.append(f"intent {intent.id}: {a.tx_hash} not in block {a.mined_block}")
            if head - a.mined_block + 1 < confirmations:
                problems.append(
                    f"intent {intent.id}: final at depth {head - a.mined_block + 1} "
                    f"< {confirmations}"
                )
    return _check(6, "nothing confirmed short of the depth", problems)


def all_terminal(journal: Journal, blocks_used: int | None, bound: int) -> Check:
    """7. After the fault clears, every intent is final within ``bound`` blocks."""
    open_ = [f"intent {i.id} {i.state}" for i in journal.open_intents()]
    problems = list(open_)
    if blocks_used is not None and blocks_used > bound:
        problems.append(f"{blocks_used} blocks to settle > {bound}")
    return _check(7, "every intent terminal soon after the fault clears", problems)


def no_secret(text: str, secrets: Iterable[str]) -> Check:
    """8 (part): no secret in any output."""
    leaked = [f"secret #{n} printed" for n, s in enumerate(secrets) if s and s in text]
    return _check(8, "no secret in any output", leaked)


def assert_held(checks: Sequence[Check]) -> list[Check]:
    failed = [c for c in checks if not c.held]
    assert not failed, "\n".join(f"invariant {c.number} ({c.name}): {c.detail}" for c in failed)
    return list(checks)
