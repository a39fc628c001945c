// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AuctionMath} from "./AuctionMath.sol";
import {IAuctionPriceCurve} from "./AuctionInterfaces.sol";

/// @title LinearDecrease
/// @notice Price falling in a straight line from `top` to zero over `duration` seconds
///         (contracts/AUCTIONS.md, "Price curves"):
///         `price = elapsed >= duration ? 0 : top * ((duration - elapsed) * RAY / duration) / RAY`,
///         both divisions truncated (Maker's abaci LinearDecrease, with `tau` = duration).
contract LinearDecrease is IAuctionPriceCurve {
    uint256 internal constant RAY = 1e27;

    address public owner;
    uint256 public duration;

    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    event DurationSet(uint256 duration);

    error NotOwner();
    error ZeroAddress();
    error InvalidParameter();

    constructor(uint256 duration_) {
        if (duration_ == 0) revert InvalidParameter();
        owner = msg.sender;
        duration = duration_;
        emit OwnershipTransferred(address(0), msg.sender);
        emit DurationSet(duration_);
    }

    function transferOwnership(address newOwner) external {
        if (msg.sender != owner) revert NotOwner();
        if (newOwner == address(0)) revert ZeroAddress();
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    function setDuration(uint256 duration_) external {
        if (msg.sender != owner) revert NotOwner();
        if (duration_ == 0) revert InvalidParameter();
        duration = duration_;
        emit DurationSet(duration_);
    }

    function price(uint256 top, uint256 elapsed) external view returns (uint256) {
        uint256 tau = duration;
        if (elapsed >= tau) return 0;
        return AuctionMath.rmul(top, (tau - elapsed) * RAY / tau);
    }
}
