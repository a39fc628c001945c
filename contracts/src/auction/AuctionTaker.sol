// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "../interfaces/IERC20.sol";
import {IAmmPair} from "../interfaces/IAmmPair.sol";
import {SafeTransfer} from "../lib/SafeTransfer.sol";
import {IAuctionTaker, IDutchAuction} from "./AuctionInterfaces.sol";

/// @title AuctionTaker
/// @notice The bot's taker for Dutch auctions: takes collateral with a callback, sells it on
///         the (collateral, stablecoin) AMM pair inside the callback, lets the auction pull
///         what is owed, and sends the stablecoin left over to the owner. Needs no inventory.
///         Only the owner may take; only the auction it is calling may call back; it reverts
///         unless the profit reaches `minProfit`.
contract AuctionTaker is IAuctionTaker {
    using SafeTransfer for address;

    address public immutable stablecoin;
    address public owner;

    /// @dev The auction being taken from, set only for the duration of `take` (transient
    /// storage, EIP-1153), and what its callback bought, sold and owed.
    address private transient _activeAuction;
    uint256 private transient _slice;
    uint256 private transient _owe;
    uint256 private transient _proceeds;

    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    event Taken(
        address indexed auction,
        uint256 indexed id,
        uint256 collateralBought,
        uint256 paid,
        uint256 proceeds,
        uint256 profit
    );
    event Withdrawn(address indexed token, address indexed to, uint256 amount);

    error NotOwner();
    error ZeroAddress();
    error Reentrancy();
    error PairMismatch();
    error UnexpectedCallback();
    error SaleBelowOwed(uint256 proceeds, uint256 owe);
    error ProfitBelowMinimum(uint256 profit, uint256 minProfit);

    constructor(address stablecoin_) {
        if (stablecoin_ == address(0)) revert ZeroAddress();
        stablecoin = stablecoin_;
        owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    function transferOwnership(address newOwner) external onlyOwner {
        if (newOwner == address(0)) revert ZeroAddress();
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    /// @notice Take up to `amount` collateral from auction `id` at a price up to `maxPrice`,
    /// flash-selling it into `pair`; the profit (stablecoin) goes to the owner.
    /// @return profit stablecoin sent to the owner
    function takeWithFlashSale(
        address auction,
        uint256 id,
        uint256 amount,
        uint256 maxPrice,
        address pair,
        uint256 minProfit
    ) external onlyOwner returns (uint256 profit) {
        if (_activeAuction != address(0)) revert Reentrancy();
        if (IDutchAuction(auction).stablecoin() != stablecoin) revert PairMismatch();
        address collateral = IDutchAuction(auction).collateral();
        address token0 = IAmmPair(pair).token0();
        address token1 = IAmmPair(pair).token1();
        if (!((token0 == collateral && token1 == stablecoin) || (token1 == collateral && token0 == stablecoin))) {
            revert PairMismatch();
        }
        uint256 before = IERC20(stablecoin).balanceOf(address(this));

        _activeAuction = auction;
        IDutchAuction(auction).take(id, amount, maxPrice, address(this), abi.encode(pair, collateral));
        _activeAuction = address(0);

        uint256 balance = IERC20(stablecoin).balanceOf(address(this));
        profit = balance > before ? balance - before : 0;
        if (profit < minProfit) revert ProfitBelowMinimum(profit, minProfit);
        stablecoin.safeTransfer(owner, profit);
        emit Taken(auction, id, _slice, _owe, _proceeds, profit);
    }

    /// @dev The auction has sent `slice` collateral; sell it and approve the auction for `owe`.
    function onAuctionTake(address sender, uint256 owe, uint256 slice, bytes calldata data) external override {
        if (msg.sender != _activeAuction || sender != address(this)) revert UnexpectedCallback();
        (address pair, address collateral) = abi.decode(data, (address, address));
        uint256 proceeds = _sell(pair, collateral, slice);
        if (proceeds < owe) revert SaleBelowOwed(proceeds, owe);
        (_slice, _owe, _proceeds) = (slice, owe, proceeds);
        _approve(stablecoin, msg.sender, owe);
    }

    /// @notice Move tokens out of the contract.
    function withdraw(address token, address to, uint256 amount) external onlyOwner {
        if (to == address(0)) revert ZeroAddress();
        token.safeTransfer(to, amount);
        emit Withdrawn(token, to, amount);
    }

    function getAmountOut(uint256 amountIn, uint256 reserveIn, uint256 reserveOut) public pure returns (uint256) {
        uint256 amountInWithFee = amountIn * 997;
        return (amountInWithFee * reserveOut) / (reserveIn * 1000 + amountInWithFee);
    }

    /// @dev Sell `amountIn` collateral into `pair` for stablecoin at the pair's own price.
    function _sell(address pair, address collateral, uint256 amountIn) private returns (uint256 out) {
        if (amountIn == 0) return 0;
        (uint112 reserve0, uint112 reserve1,) = IAmmPair(pair).getReserves();
        bool stableIsToken0 = IAmmPair(pair).token0() == stablecoin;
        (uint256 reserveIn, uint256 reserveOut) =
            stableIsToken0 ? (uint256(reserve1), uint256(reserve0)) : (uint256(reserve0), uint256(reserve1));
        out = getAmountOut(amountIn, reserveIn, reserveOut);
        collateral.safeTransfer(pair, amountIn);
        if (stableIsToken0) {
            IAmmPair(pair).swap(out, 0, address(this), "");
        } else {
            IAmmPair(pair).swap(0, out, address(this), "");
        }
    }

    function _approve(address token, address spender, uint256 amount) private {
        (bool ok, bytes memory ret) = token.call(abi.encodeCall(IERC20.approve, (spender, amount)));
        if (!ok || (ret.length != 0 && !abi.decode(ret, (bool)))) revert UnexpectedCallback();
    }
}
