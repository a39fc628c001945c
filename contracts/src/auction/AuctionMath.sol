// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice Fixed-point helpers of the vault engine and its auctions (contracts/AUCTIONS.md,
/// "Units and rounding"). Unlike the lending pool's WadRayMath these truncate, as Maker's
/// vat, jug, dog, clipper and abaci do; `rpow` rounds each step half-up.
/// @dev Checked arithmetic: an overflowing product reverts with a panic.
library AuctionMath {
    uint256 internal constant WAD = 1e18;
    uint256 internal constant RAY = 1e27;
    uint256 internal constant HALF_RAY = 5e26;

    /// @dev x * y / RAY, truncated.
    function rmul(uint256 x, uint256 y) internal pure returns (uint256) {
        return x * y / RAY;
    }

    /// @dev x * y / WAD, truncated.
    function wmul(uint256 x, uint256 y) internal pure returns (uint256) {
        return x * y / WAD;
    }

    /// @dev x * RAY / y, truncated.
    function rdiv(uint256 x, uint256 y) internal pure returns (uint256) {
        return x * RAY / y;
    }

    /// @dev ceil(a / b); 0 when a == 0.
    function ceilDiv(uint256 a, uint256 b) internal pure returns (uint256) {
        return a == 0 ? 0 : (a - 1) / b + 1;
    }

    function min(uint256 a, uint256 b) internal pure returns (uint256) {
        return a < b ? a : b;
    }

    /// @dev x**n for a ray x, by binary exponentiation; every product is rounded half-up:
    /// z = n odd ? x : RAY; then for each remaining bit of n (from the second lowest up):
    /// x = (x * x + RAY/2) / RAY, and when the bit is set z = (z * x + RAY/2) / RAY.
    /// 0**0 = RAY, 0**n = 0.
    function rpow(uint256 x, uint256 n) internal pure returns (uint256 z) {
        if (x == 0) return n == 0 ? RAY : 0;
        z = n % 2 == 1 ? x : RAY;
        for (n /= 2; n != 0; n /= 2) {
            x = (x * x + HALF_RAY) / RAY;
            if (n % 2 == 1) z = (z * x + HALF_RAY) / RAY;
        }
    }
}
