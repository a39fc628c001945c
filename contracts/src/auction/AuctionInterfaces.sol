// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice The stablecoin as the engine sees it: an ERC-20 it may mint and burn.
interface IStablecoin {
    function mint(address to, uint256 amount) external;
    function burn(address from, uint256 amount) external;
    function balanceOf(address account) external view returns (uint256);
}

/// @notice What the liquidator and the auctions need from the vault engine.
interface IVaultEngine {
    function stablecoin() external view returns (address);
    function drip(bytes32 ilk) external returns (uint256 rate);
    function vault(bytes32 ilk, address owner) external view returns (uint256 collateral, uint256 normalizedDebt);
    function isUnsafe(bytes32 ilk, address owner) external view returns (bool);
    function collateralOf(bytes32 ilk) external view returns (address);
    function dustOf(bytes32 ilk) external view returns (uint256);
    function collateralPrice(bytes32 ilk) external view returns (uint256);
    function confiscate(bytes32 ilk, address owner, uint256 collateralAmount, uint256 normalizedDebt, address to)
        external
        returns (uint256 due);
    function mintUnbacked(address to, uint256 amount) external;
    function recordProceeds(uint256 amount) external;
}

/// @notice What the auctions need from the liquidator.
interface ILiquidator {
    function penaltyOf(bytes32 ilk) external view returns (uint256);
    function removeDebtUnderAuction(bytes32 ilk, uint256 amount) external;
}

/// @notice An auction module (Dutch or English) that the liquidator can start auctions on.
interface ICollateralAuction {
    function ilk() external view returns (bytes32);
    function kick(uint256 tab, uint256 lot, address owner, address keeper) external returns (uint256 id);
}

/// @notice A price curve of the Dutch auction: the price `elapsed` seconds after the start.
interface IAuctionPriceCurve {
    function price(uint256 top, uint256 elapsed) external view returns (uint256);
}

/// @notice Called by `DutchAuction.take` on `who` when `data` is not empty, after the
/// collateral was sent to `who` and before `owe` stablecoin is pulled from the caller of take.
interface IAuctionTaker {
    /// @param sender the caller of `take` (who pays)
    /// @param owe stablecoin owed (18 decimals), pulled from `sender` after this call
    /// @param slice collateral units already sent to `who`
    function onAuctionTake(address sender, uint256 owe, uint256 slice, bytes calldata data) external;
}

/// @notice What the auction taker needs from a Dutch auction.
interface IDutchAuction {
    function collateral() external view returns (address);
    function stablecoin() external view returns (address);
    function take(uint256 id, uint256 amount, uint256 maxPrice, address who, bytes calldata data) external;
}
