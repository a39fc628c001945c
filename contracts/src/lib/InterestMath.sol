// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {WadRayMath} from "./WadRayMath.sol";
import {PercentageMath} from "./PercentageMath.sol";

/// @notice Interest accrual and the two-slope rate curve of the bundled pool (see PROTOCOL.md).
library InterestMath {
    using WadRayMath for uint256;
    using PercentageMath for uint256;

    uint256 internal constant SECONDS_PER_YEAR = 365 days;

    /// @dev Supply-side growth over `dt` seconds: RAY + rate * dt / SECONDS_PER_YEAR.
    function linearInterest(uint256 rate, uint256 dt) internal pure returns (uint256) {
        return WadRayMath.RAY + rate * dt / SECONDS_PER_YEAR;
    }

    /// @dev Debt-side growth over `dt` seconds: the binomial expansion of (1 + r/Y)^dt cut
    ///      after the third term, exactly as PROTOCOL.md writes it.
    function compoundedInterest(uint256 rate, uint256 dt) internal pure returns (uint256) {
        if (dt == 0) return WadRayMath.RAY;
        uint256 a = dt - 1;
        uint256 b = dt > 2 ? dt - 2 : 0;
        uint256 p2 = rate.rayMul(rate) / (SECONDS_PER_YEAR * SECONDS_PER_YEAR);
        uint256 p3 = p2.rayMul(rate) / SECONDS_PER_YEAR;
        return WadRayMath.RAY + rate * dt / SECONDS_PER_YEAR + dt * a * p2 / 2 + dt * a * b * p3 / 6;
    }

    /// @dev Utilisation `u = debt / (cash + debt)` (ray), then the two-slope borrow rate and the
    ///      liquidity rate `percentMul(rayMul(borrowRate, u), 10000 - reserveFactor)`.
    function rates(
        uint256 debt,
        uint256 cash,
        uint256 baseRate,
        uint256 slope1,
        uint256 slope2,
        uint256 optimal,
        uint256 reserveFactor
    ) internal pure returns (uint256 liquidityRate, uint256 borrowRate) {
        uint256 u = debt == 0 ? 0 : debt.rayDiv(cash + debt);
        if (u <= optimal) {
            borrowRate = baseRate + slope1.rayMul(u.rayDiv(optimal));
        } else {
            borrowRate = baseRate + slope1 + slope2.rayMul((u - optimal).rayDiv(WadRayMath.RAY - optimal));
        }
        liquidityRate = borrowRate.rayMul(u).percentMul(PercentageMath.PERCENTAGE_FACTOR - reserveFactor);
    }
}
