// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice Fixed-point math with half-up rounding: wads (1e18) and rays (1e27).
/// @dev Checked arithmetic: an overflowing product reverts with a panic.
library WadRayMath {
    uint256 internal constant WAD = 1e18;
    uint256 internal constant HALF_WAD = 0.5e18;
    uint256 internal constant RAY = 1e27;
    uint256 internal constant HALF_RAY = 0.5e27;

    /// @dev (a * b + RAY/2) / RAY
    function rayMul(uint256 a, uint256 b) internal pure returns (uint256) {
        return (a * b + HALF_RAY) / RAY;
    }

    /// @dev (a * RAY + b/2) / b
    function rayDiv(uint256 a, uint256 b) internal pure returns (uint256) {
        return (a * RAY + b / 2) / b;
    }

    /// @dev (a * b + WAD/2) / WAD
    function wadMul(uint256 a, uint256 b) internal pure returns (uint256) {
        return (a * b + HALF_WAD) / WAD;
    }

    /// @dev (a * WAD + b/2) / b
    function wadDiv(uint256 a, uint256 b) internal pure returns (uint256) {
        return (a * WAD + b / 2) / b;
    }
}
