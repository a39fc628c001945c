"""The profitability model: pure, exact, integer-only mirror of the bundled protocol.

Nothing here talks to a chain. Inputs are plain values (``types``) in the protocol's own
units; every function rounds exactly as the Solidity does (see contracts/PROTOCOL.md).
"""

from bot.model.amm import Curve, get_amount_in, get_amount_out, get_amounts_in, get_amounts_out
from bot.model.gas import GasSample, GasTable, effective_gas_price, next_base_fee, transaction_fee
from bot.model.health import AccountData, account_data, close_factor
from bot.model.liquidation import LiquidationAmounts, LiquidationOutcome, liquidate
from bot.model.profit import Numeraire, Valuation
from bot.model.ranking import (
    BidPolicy,
    DecisionConfig,
    Opportunity,
    best_for_account,
    plan_block,
    rank_accounts,
)
from bot.model.sizing import PairBook, SeizeTerms, SizedPath, seize_terms, size_account, size_path
from bot.model.types import (
    Account,
    ExecutionPath,
    InterestRateStrategy,
    MarketState,
    PairReserves,
    Reserve,
    ReserveConfig,
    ReserveState,
    UserReserve,
)

__all__ = [
    "Account",
    "AccountData",
    "BidPolicy",
    "Curve",
    "DecisionConfig",
    "ExecutionPath",
    "GasSample",
    "GasTable",
    "InterestRateStrategy",
    "LiquidationAmounts",
    "LiquidationOutcome",
    "MarketState",
    "Numeraire",
    "Opportunity",
    "PairBook",
    "PairReserves",
    "Reserve",
    "ReserveConfig",
    "ReserveState",
    "SeizeTerms",
    "SizedPath",
    "UserReserve",
    "Valuation",
    "account_data",
    "best_for_account",
    "close_factor",
    "effective_gas_price",
    "get_amount_in",
    "get_amount_out",
    "get_amounts_in",
    "get_amounts_out",
    "liquidate",
    "next_base_fee",
    "plan_block",
    "rank_accounts",
    "seize_terms",
    "size_account",
    "size_path",
    "transaction_fee",
]
