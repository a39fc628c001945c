// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IAmmPair, IAmmCallee} from "../interfaces/IAmmPair.sol";
import {IERC20} from "../interfaces/IERC20.sol";

/// @title FlashSwapProbe
/// @notice Test-only flash-swap borrower: borrows from a pair, then in the callback pays back
///         `repayAmount` of `repayToken` (enough, too little, or nothing), or tries to re-enter.
contract FlashSwapProbe is IAmmCallee {
    address private _activePair;

    event Borrowed(address indexed pair, address sender, uint256 amount0, uint256 amount1, address repayToken, uint256 repayAmount);

    error UnexpectedCaller(address caller);
    error UnexpectedSender(address sender);

    /// @notice Flash-borrow from `pair`; with `reenter` the callback calls `pair.swap` again.
    function flash(
        address pair,
        uint256 amount0Out,
        uint256 amount1Out,
        address repayToken,
        uint256 repayAmount,
        bool reenter
    ) external {
        _activePair = pair;
        IAmmPair(pair).swap(amount0Out, amount1Out, address(this), abi.encode(repayToken, repayAmount, reenter));
        _activePair = address(0);
    }

    function uniswapV2Call(address sender, uint256 amount0, uint256 amount1, bytes calldata data) external {
        if (msg.sender != _activePair) revert UnexpectedCaller(msg.sender);
        if (sender != address(this)) revert UnexpectedSender(sender);
        (address repayToken, uint256 repayAmount, bool reenter) = abi.decode(data, (address, uint256, bool));
        if (reenter) IAmmPair(msg.sender).swap(1, 0, address(this), "");
        if (repayAmount > 0) IERC20(repayToken).transfer(msg.sender, repayAmount);
        emit Borrowed(msg.sender, sender, amount0, amount1, repayToken, repayAmount);
    }
}
