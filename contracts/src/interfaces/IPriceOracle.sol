// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice Aave-style price oracle: USD prices with 8 decimals.
interface IPriceOracle {
    function BASE_CURRENCY_UNIT() external view returns (uint256);
    function getAssetPrice(address asset) external view returns (uint256);
}
