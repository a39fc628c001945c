// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice Basis-point math (100.00% = 10000) with half-up rounding.
library PercentageMath {
    uint256 internal constant PERCENTAGE_FACTOR = 1e4;
    uint256 internal constant HALF_PERCENTAGE_FACTOR = 0.5e4;

    /// @dev (value * percentage + 5000) / 10000
    function percentMul(uint256 value, uint256 percentage) internal pure returns (uint256) {
        return (value * percentage + HALF_PERCENTAGE_FACTOR) / PERCENTAGE_FACTOR;
    }

    /// @dev (value * 10000 + percentage/2) / percentage
    function percentDiv(uint256 value, uint256 percentage) internal pure returns (uint256) {
        return (value * PERCENTAGE_FACTOR + percentage / 2) / percentage;
    }
}
