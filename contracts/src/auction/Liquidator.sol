// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AuctionMath} from "./AuctionMath.sol";
import {IVaultEngine, ICollateralAuction} from "./AuctionInterfaces.sol";

/// @title Liquidator
/// @notice Maker's Dog, in our own words (contracts/AUCTIONS.md, "Liquidation (bark)"). Anyone
///         may `bark` an unsafe vault: its collateral and debt are confiscated (all of it, or
///         the part that fits under the limits on debt under auction), an auction is started
///         on the ilk's auction module (Dutch or English, per ilk) to raise the debt plus the
///         liquidation penalty (`tab`), and the keeper is paid `tip + tab * chip / WAD`
///         stablecoin, minted as system debt. Auctions report the debt they stop covering
///         through `removeDebtUnderAuction`.
contract Liquidator {
    using AuctionMath for uint256;

    uint256 internal constant WAD = 1e18;
    uint256 internal constant RAY = 1e27;
    /// @notice Largest limit on debt under auction: `limit * WAD * RAY` must not overflow.
    uint256 public constant MAX_LIMIT = 1e32;

    struct IlkConfig {
        address auction; // the ilk's auction module (DutchAuction or EnglishAuction)
        uint256 penalty; // wad multiplier on the debt, e.g. 1.13e18 (Maker's chop)
        uint256 limit; // max debt under auction for the ilk, stablecoin units (Maker's hole)
        uint256 debtUnderAuction; // stablecoin units (Maker's dirt)
        uint256 tip; // flat keeper reward, stablecoin units
        uint256 chip; // keeper reward as a fraction of tab, wad
    }

    IVaultEngine public immutable engine;
    address public owner;

    uint256 public globalLimit; // Maker's Hole, stablecoin units
    uint256 public totalDebtUnderAuction; // Maker's Dirt, stablecoin units
    mapping(bytes32 => IlkConfig) public ilks;
    /// @notice Auction modules allowed to report debt no longer under auction (every module
    /// ever configured, so that auctions still running on a replaced module can finish).
    mapping(address => bool) public isAuction;

    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    event GlobalLimitSet(uint256 limit);
    event AuctionSet(bytes32 indexed ilk, address indexed auction);
    event IlkParameterSet(bytes32 indexed ilk, bytes32 indexed what, uint256 value);
    event Bark(
        bytes32 indexed ilk,
        address indexed owner,
        uint256 collateralAmount,
        uint256 normalizedDebt,
        uint256 due,
        uint256 tab,
        address auction,
        uint256 indexed id,
        address keeper,
        uint256 reward
    );
    event DebtUnderAuctionRemoved(bytes32 indexed ilk, uint256 amount);

    error NotOwner();
    error NotAuction();
    error ZeroAddress();
    error InvalidParameter();
    error IlkNotConfigured(bytes32 ilk);
    error NotUnsafe();
    error LiquidationLimitHit();
    error DustyAuctionFromPartialLiquidation();
    error NullAuction();

    constructor(address engine_) {
        if (engine_ == address(0)) revert ZeroAddress();
        engine = IVaultEngine(engine_);
        owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    // ------------------------------------------------------------------ admin

    function transferOwnership(address newOwner) external onlyOwner {
        if (newOwner == address(0)) revert ZeroAddress();
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    function setGlobalLimit(uint256 limit) external onlyOwner {
        if (limit > MAX_LIMIT) revert InvalidParameter();
        globalLimit = limit;
        emit GlobalLimitSet(limit);
    }

    /// @notice The auction module of `ilk`; it must be made for that ilk.
    function setAuction(bytes32 ilk, address auction) external onlyOwner {
        if (auction == address(0)) revert ZeroAddress();
        if (ICollateralAuction(auction).ilk() != ilk) revert InvalidParameter();
        ilks[ilk].auction = auction;
        isAuction[auction] = true;
        emit AuctionSet(ilk, auction);
    }

    /// @notice Liquidation penalty as a wad multiplier (>= 1e18).
    function setPenalty(bytes32 ilk, uint256 penalty) external onlyOwner {
        if (penalty < WAD) revert InvalidParameter();
        ilks[ilk].penalty = penalty;
        emit IlkParameterSet(ilk, "penalty", penalty);
    }

    function setLimit(bytes32 ilk, uint256 limit) external onlyOwner {
        if (limit > MAX_LIMIT) revert InvalidParameter();
        ilks[ilk].limit = limit;
        emit IlkParameterSet(ilk, "limit", limit);
    }

    function setKeeperReward(bytes32 ilk, uint256 tip, uint256 chip) external onlyOwner {
        ilks[ilk].tip = tip;
        ilks[ilk].chip = chip;
        emit IlkParameterSet(ilk, "tip", tip);
        emit IlkParameterSet(ilk, "chip", chip);
    }

    // ------------------------------------------------------------------ liquidation

    struct BarkResult {
        uint256 collateral;
        uint256 normalizedDebt;
        uint256 due;
        uint256 tab;
        uint256 reward;
        address auction;
        address keeper;
        uint256 id;
    }

    /// @notice Start an auction for `vaultOwner`'s unsafe vault of `ilk`; pay `keeper`.
    /// @return id the auction's id on the ilk's auction module
    function bark(bytes32 ilk, address vaultOwner, address keeper) external returns (uint256 id) {
        IlkConfig storage cfg = ilks[ilk];
        address auction = cfg.auction;
        if (auction == address(0) || cfg.penalty == 0) revert IlkNotConfigured(ilk);
        if (keeper == address(0)) revert ZeroAddress();
        BarkResult memory r;
        uint256 rate = engine.drip(ilk);
        if (!engine.isUnsafe(ilk, vaultOwner)) revert NotUnsafe();
        (uint256 collateral, uint256 normalized) = engine.vault(ilk, vaultOwner);
        r.normalizedDebt = _normalizedToTake(ilk, cfg, normalized, rate);
        r.collateral = collateral * r.normalizedDebt / normalized;
        if (r.collateral == 0) revert NullAuction();

        r.due = engine.confiscate(ilk, vaultOwner, r.collateral, r.normalizedDebt, auction);
        r.tab = (r.due * cfg.penalty).ceilDiv(WAD * RAY);
        totalDebtUnderAuction += r.tab;
        cfg.debtUnderAuction += r.tab;
        id = ICollateralAuction(auction).kick(r.tab, r.collateral, vaultOwner, keeper);

        r.reward = cfg.tip + r.tab.wmul(cfg.chip);
        if (r.reward != 0) engine.mintUnbacked(keeper, r.reward);
        (r.auction, r.keeper, r.id) = (auction, keeper, id);
        _emitBark(ilk, vaultOwner, r);
    }

    function _emitBark(bytes32 ilk, address vaultOwner, BarkResult memory r) private {
        emit Bark(ilk, vaultOwner, r.collateral, r.normalizedDebt, r.due, r.tab, r.auction, r.id, r.keeper, r.reward);
    }

    /// @notice Called by an auction module when `amount` of debt is no longer under auction
    /// (raised, or left uncovered when the collateral ran out).
    function removeDebtUnderAuction(bytes32 ilk, uint256 amount) external {
        if (!isAuction[msg.sender]) revert NotAuction();
        totalDebtUnderAuction -= amount;
        ilks[ilk].debtUnderAuction -= amount;
        emit DebtUnderAuctionRemoved(ilk, amount);
    }

    // ------------------------------------------------------------------ views

    function penaltyOf(bytes32 ilk) external view returns (uint256) {
        return ilks[ilk].penalty;
    }

    /// @notice Debt that may still be put under auction for `ilk` (0 when a limit is reached).
    function room(bytes32 ilk) public view returns (uint256) {
        IlkConfig storage cfg = ilks[ilk];
        uint256 globalRoom = globalLimit > totalDebtUnderAuction ? globalLimit - totalDebtUnderAuction : 0;
        uint256 ilkRoom = cfg.limit > cfg.debtUnderAuction ? cfg.limit - cfg.debtUnderAuction : 0;
        return AuctionMath.min(globalRoom, ilkRoom);
    }

    // ------------------------------------------------------------------ internals

    /// @dev Normalised debt to confiscate: all of it when the tab fits in the room, else the
    /// part whose tab fits, unless what is left behind would be dust (then all).
    function _normalizedToTake(bytes32 ilk, IlkConfig storage cfg, uint256 normalized, uint256 rate)
        private
        view
        returns (uint256 taken)
    {
        uint256 dust = engine.dustOf(ilk);
        uint256 available = room(ilk);
        if (available == 0 || available < dust) revert LiquidationLimitHit();
        taken = AuctionMath.min(normalized, available * WAD * RAY / rate / cfg.penalty);
        if (normalized > taken) {
            if ((normalized - taken) * rate < dust * RAY) {
                taken = normalized;
            } else if (taken * rate < dust * RAY) {
                revert DustyAuctionFromPartialLiquidation();
            }
        }
    }
}
