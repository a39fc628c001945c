// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {SafeTransfer} from "../lib/SafeTransfer.sol";
import {AuctionMath} from "./AuctionMath.sol";
import {
    IVaultEngine,
    ILiquidator,
    ICollateralAuction,
    IAuctionPriceCurve,
    IAuctionTaker,
    IDutchAuction
} from "./AuctionInterfaces.sol";

/// @title DutchAuction
/// @notice A falling-price collateral auction in the style of Maker's Clipper, for one ilk
///         (contracts/AUCTIONS.md, "Dutch auction"). An auction starts at the oracle price times
///         `startingPriceFactor` and its price falls along `curve`. Anyone may `take` part or
///         all of the collateral at the current price; with `data` the collateral is sent
///         first and the buyer is called back (`IAuctionTaker.onAuctionTake`) before the
///         stablecoin is pulled, so a taker can sell the collateral to pay. An auction that
///         has run longer than `maxDuration` or whose price fell under `minPriceRatio` of its
///         start must be restarted with `redo`, which pays the keeper a reward.
///
///         Prices are rays of stablecoin units per collateral unit (the engine's
///         `collateralPrice`); `tab` and payments are stablecoin units (18 decimals).
contract DutchAuction is ICollateralAuction, IDutchAuction {
    using SafeTransfer for address;
    using AuctionMath for uint256;

    uint256 internal constant RAY = 1e27;

    struct Sale {
        uint256 position; // index in the active list
        uint256 tab; // stablecoin still to raise
        uint256 lot; // collateral still for sale
        address owner; // the liquidated vault's owner; 0 = no such auction
        uint256 startTime; // Maker's tic
        uint256 startPrice; // Maker's top (ray)
    }

    IVaultEngine public immutable engine;
    ILiquidator public immutable liquidator;
    bytes32 public immutable ilk;
    address public immutable collateral;
    address public immutable stablecoin;
    address public owner;

    IAuctionPriceCurve public curve;
    uint256 public startingPriceFactor = RAY; // ray, Maker's buf
    uint256 public maxDuration; // seconds before a restart is needed, Maker's tail
    uint256 public minPriceRatio; // ray; price / startPrice under this needs a restart, Maker's cusp
    uint256 public redoTip; // flat redo reward, stablecoin units
    uint256 public redoChip; // redo reward as a fraction of tab, wad
    uint256 public dustTab; // engine dust * liquidation penalty, Maker's chost
    /// @notice Emergency switch: 0 all on, 1 no new auctions, 2 also no redo, 3 also no take.
    uint256 public stopped;

    uint256 public kicks;
    uint256[] internal _active;
    mapping(uint256 => Sale) public sales;
    uint256 private _locked = 1;

    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    event ParameterSet(bytes32 indexed what, uint256 value);
    event CurveSet(address indexed curve);
    event StoppedSet(uint256 level);
    event Kick(
        uint256 indexed id, uint256 startPrice, uint256 tab, uint256 lot, address indexed owner, address indexed keeper
    );
    event Take(
        uint256 indexed id,
        uint256 maxPrice,
        uint256 price,
        uint256 owe,
        uint256 slice,
        uint256 tab,
        uint256 lot,
        address indexed owner,
        address indexed taker
    );
    event Redo(
        uint256 indexed id,
        uint256 startPrice,
        uint256 tab,
        uint256 lot,
        address indexed owner,
        address indexed keeper,
        uint256 reward
    );

    error NotOwner();
    error NotLiquidator();
    error Reentrancy();
    error Stopped(uint256 level);
    error ZeroAddress();
    error InvalidParameter();
    error InvalidAuction();
    error NotRunning(uint256 id);
    error NeedsRedo(uint256 id);
    error CannotRedo(uint256 id);
    error TooExpensive(uint256 price, uint256 maxPrice);
    error NoPartialPurchase();
    error ZeroStartPrice();

    constructor(address engine_, address liquidator_, bytes32 ilk_) {
        if (engine_ == address(0) || liquidator_ == address(0)) revert ZeroAddress();
        engine = IVaultEngine(engine_);
        liquidator = ILiquidator(liquidator_);
        ilk = ilk_;
        collateral = IVaultEngine(engine_).collateralOf(ilk_);
        stablecoin = IVaultEngine(engine_).stablecoin();
        owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    modifier lock() {
        if (_locked != 1) revert Reentrancy();
        _locked = 2;
        _;
        _locked = 1;
    }

    modifier notStopped(uint256 level) {
        if (stopped >= level) revert Stopped(stopped);
        _;
    }

    // ------------------------------------------------------------------ admin

    function transferOwnership(address newOwner) external onlyOwner {
        if (newOwner == address(0)) revert ZeroAddress();
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    function setCurve(address curve_) external onlyOwner {
        if (curve_ == address(0)) revert ZeroAddress();
        curve = IAuctionPriceCurve(curve_);
        emit CurveSet(curve_);
    }

    function setStartingPriceFactor(uint256 factor) external onlyOwner {
        if (factor == 0) revert InvalidParameter();
        startingPriceFactor = factor;
        emit ParameterSet("startingPriceFactor", factor);
    }

    function setMaxDuration(uint256 seconds_) external onlyOwner {
        maxDuration = seconds_;
        emit ParameterSet("maxDuration", seconds_);
    }

    function setMinPriceRatio(uint256 ratio) external onlyOwner {
        if (ratio > RAY) revert InvalidParameter();
        minPriceRatio = ratio;
        emit ParameterSet("minPriceRatio", ratio);
    }

    function setRedoReward(uint256 tip, uint256 chip) external onlyOwner {
        redoTip = tip;
        redoChip = chip;
        emit ParameterSet("redoTip", tip);
        emit ParameterSet("redoChip", chip);
    }

    function setStopped(uint256 level) external onlyOwner {
        if (level > 3) revert InvalidParameter();
        stopped = level;
        emit StoppedSet(level);
    }

    /// @notice `dustTab = engine dust * liquidator penalty / WAD`; anyone may refresh it.
    function updateDustTab() external {
        uint256 value = engine.dustOf(ilk).wmul(liquidator.penaltyOf(ilk));
        dustTab = value;
        emit ParameterSet("dustTab", value);
    }

    // ------------------------------------------------------------------ auction

    /// @notice Start an auction to raise `tab` stablecoin from `lot` collateral (already sent
    /// here by the engine); the liquidator pays the keeper.
    function kick(uint256 tab, uint256 lot, address vaultOwner, address keeper)
        external
        lock
        notStopped(1)
        returns (uint256 id)
    {
        if (msg.sender != address(liquidator)) revert NotLiquidator();
        if (tab == 0 || lot == 0 || vaultOwner == address(0)) revert InvalidAuction();
        uint256 startPrice = engine.collateralPrice(ilk).rmul(startingPriceFactor);
        if (startPrice == 0) revert ZeroStartPrice();
        id = ++kicks;
        _active.push(id);
        sales[id] = Sale({
            position: _active.length - 1,
            tab: tab,
            lot: lot,
            owner: vaultOwner,
            startTime: block.timestamp,
            startPrice: startPrice
        });
        emit Kick(id, startPrice, tab, lot, vaultOwner, keeper);
    }

    /// @notice Restart an auction that needs it at a fresh start price; pays `keeper`
    /// `redoTip + tab * redoChip / WAD` when `tab >= dustTab` and the lot is worth `>= dustTab`.
    function redo(uint256 id, address keeper) external lock notStopped(2) {
        Sale storage sale = sales[id];
        address vaultOwner = sale.owner;
        if (vaultOwner == address(0)) revert NotRunning(id);
        (bool done,) = _status(sale.startTime, sale.startPrice);
        if (!done) revert CannotRedo(id);
        uint256 feedPrice = engine.collateralPrice(ilk);
        uint256 startPrice = feedPrice.rmul(startingPriceFactor);
        if (startPrice == 0) revert ZeroStartPrice();
        sale.startTime = block.timestamp;
        sale.startPrice = startPrice;

        uint256 tab = sale.tab;
        uint256 lot = sale.lot;
        uint256 reward;
        if (redoTip != 0 || redoChip != 0) {
            uint256 floor = dustTab;
            if (tab >= floor && lot * feedPrice >= floor * RAY) {
                reward = redoTip + tab.wmul(redoChip);
                if (keeper == address(0)) revert ZeroAddress();
                engine.mintUnbacked(keeper, reward);
            }
        }
        emit Redo(id, startPrice, tab, lot, vaultOwner, keeper, reward);
    }

    struct TakeState {
        uint256 price;
        uint256 tab;
        uint256 lot;
        uint256 slice;
        uint256 owe;
        address vaultOwner;
    }

    /// @notice Buy up to `amount` collateral at the current price (reverts above `maxPrice`).
    /// The collateral goes to `who`; when `data` is not empty `who` is called back; then `owe`
    /// stablecoin is pulled from the caller. See AUCTIONS.md for the dust rules.
    function take(uint256 id, uint256 amount, uint256 maxPrice, address who, bytes calldata data)
        external
        lock
        notStopped(3)
    {
        TakeState memory t = _quote(id, amount, maxPrice);

        collateral.safeTransfer(who, t.slice);
        if (data.length != 0 && who != address(engine) && who != address(liquidator)) {
            IAuctionTaker(who).onAuctionTake(msg.sender, t.owe, t.slice, data);
        }
        if (t.owe != 0) {
            stablecoin.safeTransferFrom(msg.sender, address(engine), t.owe);
            engine.recordProceeds(t.owe);
        }
        liquidator.removeDebtUnderAuction(ilk, t.lot == 0 ? t.tab + t.owe : t.owe);

        if (t.lot == 0) {
            _remove(id);
        } else if (t.tab == 0) {
            collateral.safeTransfer(t.vaultOwner, t.lot);
            _remove(id);
        } else {
            sales[id].tab = t.tab;
            sales[id].lot = t.lot;
        }
        emit Take(id, maxPrice, t.price, t.owe, t.slice, t.tab, t.lot, t.vaultOwner, msg.sender);
    }

    // ------------------------------------------------------------------ views

    /// @return needsRedo whether the auction must be restarted before a take
    /// @return price the current price (ray), 0 for no auction
    /// @return lot collateral for sale
    /// @return tab stablecoin still to raise
    function getStatus(uint256 id) external view returns (bool needsRedo, uint256 price, uint256 lot, uint256 tab) {
        Sale storage sale = sales[id];
        if (sale.owner == address(0)) return (false, 0, 0, 0);
        (needsRedo, price) = _status(sale.startTime, sale.startPrice);
        return (needsRedo, price, sale.lot, sale.tab);
    }

    function count() external view returns (uint256) {
        return _active.length;
    }

    /// @notice Ids of the running auctions (in no particular order).
    function list() external view returns (uint256[] memory) {
        return _active;
    }

    // ------------------------------------------------------------------ internals

    function _quote(uint256 id, uint256 amount, uint256 maxPrice) private view returns (TakeState memory t) {
        Sale storage sale = sales[id];
        t.vaultOwner = sale.owner;
        if (t.vaultOwner == address(0)) revert NotRunning(id);
        bool done;
        (done, t.price) = _status(sale.startTime, sale.startPrice);
        if (done) revert NeedsRedo(id);
        if (maxPrice < t.price) revert TooExpensive(t.price, maxPrice);
        t.tab = sale.tab;
        t.lot = sale.lot;

        t.slice = AuctionMath.min(t.lot, amount);
        t.owe = (t.slice * t.price).ceilDiv(RAY);
        if (t.owe > t.tab) {
            // Buying more than the tab: pay the tab, get what it buys.
            t.owe = t.tab;
            t.slice = t.owe * RAY / t.price;
        } else if (t.owe < t.tab && t.slice < t.lot) {
            // A partial purchase must leave at least dustTab to raise.
            uint256 floor = dustTab;
            if (t.tab - t.owe < floor) {
                if (t.tab <= floor) revert NoPartialPurchase();
                t.owe = t.tab - floor;
                t.slice = t.owe * RAY / t.price;
            }
        }
        t.tab -= t.owe;
        t.lot -= t.slice;
    }

    /// @dev (needs redo, current price): price = curve.price(startPrice, now - startTime);
    /// done when elapsed > maxDuration, price * RAY / startPrice < minPriceRatio, or price == 0.
    function _status(uint256 startTime, uint256 startPrice) private view returns (bool done, uint256 price) {
        uint256 elapsed = block.timestamp - startTime;
        price = curve.price(startPrice, elapsed);
        done = elapsed > maxDuration || price.rdiv(startPrice) < minPriceRatio || price == 0;
    }

    function _remove(uint256 id) private {
        uint256 last = _active[_active.length - 1];
        if (id != last) {
            uint256 position = sales[id].position;
            _active[position] = last;
            sales[last].position = position;
        }
        _active.pop();
        delete sales[id];
    }
}
