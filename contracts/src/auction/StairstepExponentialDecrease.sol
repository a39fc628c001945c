// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AuctionMath} from "./AuctionMath.sol";
import {IAuctionPriceCurve} from "./AuctionInterfaces.sol";

/// @title StairstepExponentialDecrease
/// @notice Price multiplied by `cut` (a ray <= RAY) every `step` seconds
///         (contracts/AUCTIONS.md, "Price curves"):
///         `price = top * rpow(cut, elapsed / step) / RAY` (truncated; `rpow` rounds half-up
///         at each squaring), Maker's abaci StairstepExponentialDecrease.
contract StairstepExponentialDecrease is IAuctionPriceCurve {
    uint256 internal constant RAY = 1e27;

    address public owner;
    uint256 public step; // seconds between price drops
    uint256 public cut; // ray, the factor applied at each step

    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    event StepSet(uint256 step);
    event CutSet(uint256 cut);

    error NotOwner();
    error ZeroAddress();
    error InvalidParameter();

    constructor(uint256 step_, uint256 cut_) {
        if (step_ == 0 || cut_ > RAY) revert InvalidParameter();
        owner = msg.sender;
        step = step_;
        cut = cut_;
        emit OwnershipTransferred(address(0), msg.sender);
        emit StepSet(step_);
        emit CutSet(cut_);
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

    function setStep(uint256 step_) external onlyOwner {
        if (step_ == 0) revert InvalidParameter();
        step = step_;
        emit StepSet(step_);
    }

    function setCut(uint256 cut_) external onlyOwner {
        if (cut_ > RAY) revert InvalidParameter();
        cut = cut_;
        emit CutSet(cut_);
    }

    function price(uint256 top, uint256 elapsed) external view returns (uint256) {
        return AuctionMath.rmul(top, AuctionMath.rpow(cut, elapsed / step));
    }
}
