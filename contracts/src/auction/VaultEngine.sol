// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "../interfaces/IERC20.sol";
import {IPriceOracle} from "../interfaces/IPriceOracle.sol";
import {SafeTransfer} from "../lib/SafeTransfer.sol";
import {AuctionMath} from "./AuctionMath.sol";
import {IStablecoin} from "./AuctionInterfaces.sol";

/// @title VaultEngine
/// @notice Maker-style collateralised debt (contracts/AUCTIONS.md, "Vault engine"). Owners lock
///         an ERC-20 collateral in a vault of a collateral type (`ilk`) and draw the stablecoin
///         against it. Debt is stored normalised (`normalizedDebt`, Maker's `art`) and grows
///         with the ilk's rate accumulator (`rate`, a ray), which `drip` compounds at the
///         ilk's per-second stability fee. A vault is unsafe when
///         `collateral * spot < normalizedDebt * rate`, with `spot` the oracle price divided by
///         the liquidation ratio. Authorised modules (the liquidator and the auctions) may
///         confiscate unsafe vaults, mint unbacked stablecoin (keeper rewards, recorded as
///         system debt) and hand in auction proceeds (burnt, recorded as surplus).
contract VaultEngine {
    using SafeTransfer for address;
    using AuctionMath for uint256;

    uint256 internal constant RAY = 1e27;
    uint8 internal constant MAX_COLLATERAL_DECIMALS = 37;

    struct Ilk {
        address collateral; // the ERC-20 locked in the vaults of this type
        uint8 collateralDecimals;
        uint256 totalNormalizedDebt; // Maker's Art
        uint256 rate; // ray, debt per unit of normalised debt; 0 = no such ilk
        uint256 stabilityFee; // ray per second (Maker's duty), >= RAY
        uint256 lastDrip; // timestamp of the last drip (Maker's rho)
        uint256 liquidationRatio; // ray, e.g. 1.5e27 for 150% (Maker's mat)
        uint256 debtCeiling; // stablecoin units (18 decimals), Maker's line
        uint256 dust; // minimum debt of a vault with debt, stablecoin units
    }

    struct Vault {
        uint256 collateral; // collateral token units (Maker's ink)
        uint256 normalizedDebt; // Maker's art
    }

    IStablecoin public immutable stablecoin;
    IPriceOracle public immutable oracle;
    address public owner;

    mapping(address => bool) public isModule;
    mapping(bytes32 => Ilk) public ilks;
    mapping(bytes32 => mapping(address => Vault)) internal _vaults;
    bytes32[] internal _ilkNames;

    /// @notice Debt the system carries without a vault behind it, in rad (wad * ray):
    /// debt confiscated from liquidated vaults and unbacked mints (keeper rewards).
    uint256 public systemDebt;
    /// @notice Income in rad: stability fees, auction proceeds and rounding in the system's favour.
    uint256 public systemSurplus;

    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    event ModuleSet(address indexed module, bool allowed);
    event IlkAdded(
        bytes32 indexed ilk,
        address indexed collateral,
        uint256 liquidationRatio,
        uint256 stabilityFee,
        uint256 debtCeiling,
        uint256 dust
    );
    event IlkParameterSet(bytes32 indexed ilk, bytes32 indexed what, uint256 value);
    event Drip(bytes32 indexed ilk, uint256 rate, uint256 feeRad);
    event Deposit(bytes32 indexed ilk, address indexed owner, address indexed from, uint256 amount);
    event Withdraw(bytes32 indexed ilk, address indexed owner, uint256 amount);
    event Draw(bytes32 indexed ilk, address indexed owner, uint256 amount, uint256 normalizedDebt);
    event Repay(bytes32 indexed ilk, address indexed owner, uint256 amount, uint256 normalizedDebt);
    /// @notice The vault's new absolute values after any change, to rebuild the book from logs.
    event VaultUpdated(bytes32 indexed ilk, address indexed owner, uint256 collateral, uint256 normalizedDebt);
    event Confiscated(
        bytes32 indexed ilk,
        address indexed owner,
        uint256 collateralAmount,
        uint256 normalizedDebt,
        uint256 due,
        address indexed to
    );
    event UnbackedMinted(address indexed module, address indexed to, uint256 amount);
    event ProceedsRecorded(address indexed module, uint256 amount);
    event Healed(uint256 rad);

    error NotOwner();
    error NotModule();
    error ZeroAddress();
    error UnknownIlk(bytes32 ilk);
    error IlkExists(bytes32 ilk);
    error InvalidParameter();
    error InvalidAmount();
    error InsufficientCollateral();
    error NoDebt();
    error DebtCeilingExceeded();
    error DustyVault();
    error VaultNotSafe();

    constructor(address stablecoin_, address oracle_) {
        if (stablecoin_ == address(0) || oracle_ == address(0)) revert ZeroAddress();
        stablecoin = IStablecoin(stablecoin_);
        oracle = IPriceOracle(oracle_);
        owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    modifier onlyModule() {
        if (!isModule[msg.sender]) revert NotModule();
        _;
    }

    // ------------------------------------------------------------------ admin

    function transferOwnership(address newOwner) external onlyOwner {
        if (newOwner == address(0)) revert ZeroAddress();
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    /// @notice Authorise (or not) a liquidator or auction module.
    function setModule(address module, bool allowed) external onlyOwner {
        if (module == address(0)) revert ZeroAddress();
        isModule[module] = allowed;
        emit ModuleSet(module, allowed);
    }

    function addIlk(
        bytes32 ilk,
        address collateral,
        uint256 liquidationRatio,
        uint256 stabilityFee,
        uint256 debtCeiling,
        uint256 dust
    ) external onlyOwner {
        if (collateral == address(0)) revert ZeroAddress();
        if (ilks[ilk].rate != 0) revert IlkExists(ilk);
        if (liquidationRatio < RAY || stabilityFee < RAY) revert InvalidParameter();
        uint8 decimals = IERC20(collateral).decimals();
        if (decimals > MAX_COLLATERAL_DECIMALS) revert InvalidParameter();
        ilks[ilk] = Ilk({
            collateral: collateral,
            collateralDecimals: decimals,
            totalNormalizedDebt: 0,
            rate: RAY,
            stabilityFee: stabilityFee,
            lastDrip: block.timestamp,
            liquidationRatio: liquidationRatio,
            debtCeiling: debtCeiling,
            dust: dust
        });
        _ilkNames.push(ilk);
        emit IlkAdded(ilk, collateral, liquidationRatio, stabilityFee, debtCeiling, dust);
    }

    function setLiquidationRatio(bytes32 ilk, uint256 ratio) external onlyOwner {
        if (ratio < RAY) revert InvalidParameter();
        _ilk(ilk).liquidationRatio = ratio;
        emit IlkParameterSet(ilk, "liquidationRatio", ratio);
    }

    /// @notice New per-second fee (ray); the rate is dripped first so it applies from now on.
    function setStabilityFee(bytes32 ilk, uint256 fee) external onlyOwner {
        if (fee < RAY) revert InvalidParameter();
        drip(ilk);
        ilks[ilk].stabilityFee = fee;
        emit IlkParameterSet(ilk, "stabilityFee", fee);
    }

    function setDebtCeiling(bytes32 ilk, uint256 ceiling) external onlyOwner {
        _ilk(ilk).debtCeiling = ceiling;
        emit IlkParameterSet(ilk, "debtCeiling", ceiling);
    }

    function setDust(bytes32 ilk, uint256 dust) external onlyOwner {
        _ilk(ilk).dust = dust;
        emit IlkParameterSet(ilk, "dust", dust);
    }

    // ------------------------------------------------------------------ fees

    /// @notice Compound the stability fee up to now: `rate = rmul(rpow(fee, now - lastDrip), rate)`;
    /// the debt it adds (`totalNormalizedDebt * (new - old rate)`, rad) is surplus.
    function drip(bytes32 ilk) public returns (uint256 rate) {
        Ilk storage i = _ilk(ilk);
        rate = i.rate;
        if (block.timestamp == i.lastDrip) return rate;
        uint256 previous = rate;
        rate = AuctionMath.rpow(i.stabilityFee, block.timestamp - i.lastDrip).rmul(previous);
        i.rate = rate;
        i.lastDrip = block.timestamp;
        uint256 fee = i.totalNormalizedDebt * (rate - previous);
        systemSurplus += fee;
        emit Drip(ilk, rate, fee);
    }

    // ------------------------------------------------------------------ vaults

    function deposit(bytes32 ilk, uint256 amount) external {
        _deposit(ilk, msg.sender, amount);
    }

    /// @notice Add collateral to another owner's vault (harmless: it only makes it safer).
    function depositFor(bytes32 ilk, address vaultOwner, uint256 amount) external {
        if (vaultOwner == address(0)) revert ZeroAddress();
        _deposit(ilk, vaultOwner, amount);
    }

    function withdraw(bytes32 ilk, uint256 amount) external {
        if (amount == 0) revert InvalidAmount();
        uint256 rate = drip(ilk);
        Vault storage v = _vaults[ilk][msg.sender];
        if (v.collateral < amount) revert InsufficientCollateral();
        v.collateral -= amount;
        _requireSafe(ilk, v, rate);
        ilks[ilk].collateral.safeTransfer(msg.sender, amount);
        emit Withdraw(ilk, msg.sender, amount);
        emit VaultUpdated(ilk, msg.sender, v.collateral, v.normalizedDebt);
    }

    /// @notice Mint `amount` stablecoin to the caller against its vault; the vault's
    /// normalised debt grows by `ceil(amount * RAY / rate)`.
    function draw(bytes32 ilk, uint256 amount) external {
        if (amount == 0) revert InvalidAmount();
        uint256 rate = drip(ilk);
        Ilk storage i = ilks[ilk];
        Vault storage v = _vaults[ilk][msg.sender];
        uint256 added = (amount * RAY).ceilDiv(rate);
        v.normalizedDebt += added;
        i.totalNormalizedDebt += added;
        if (i.totalNormalizedDebt * rate > i.debtCeiling * RAY) revert DebtCeilingExceeded();
        if (v.normalizedDebt * rate < i.dust * RAY) revert DustyVault();
        _requireSafe(ilk, v, rate);
        systemSurplus += added * rate - amount * RAY;
        stablecoin.mint(msg.sender, amount);
        emit Draw(ilk, msg.sender, amount, added);
        emit VaultUpdated(ilk, msg.sender, v.collateral, v.normalizedDebt);
    }

    /// @notice Burn the caller's stablecoin (it must approve the engine) against its vault's
    /// debt. `amount >= debtOf` repays everything and burns exactly `debtOf`; otherwise the
    /// normalised debt falls by `amount * RAY / rate` (truncated, must be > 0).
    /// @return paid stablecoin burnt
    function repay(bytes32 ilk, uint256 amount) external returns (uint256 paid) {
        if (amount == 0) revert InvalidAmount();
        uint256 rate = drip(ilk);
        Ilk storage i = ilks[ilk];
        Vault storage v = _vaults[ilk][msg.sender];
        uint256 normalized = v.normalizedDebt;
        if (normalized == 0) revert NoDebt();
        uint256 owed = (normalized * rate).ceilDiv(RAY);
        uint256 removed;
        if (amount >= owed) {
            paid = owed;
            removed = normalized;
        } else {
            paid = amount;
            removed = amount * RAY / rate;
            if (removed == 0) revert InvalidAmount();
        }
        v.normalizedDebt = normalized - removed;
        i.totalNormalizedDebt -= removed;
        if (v.normalizedDebt != 0 && v.normalizedDebt * rate < i.dust * RAY) revert DustyVault();
        systemSurplus += paid * RAY - removed * rate;
        stablecoin.burn(msg.sender, paid);
        emit Repay(ilk, msg.sender, paid, removed);
        emit VaultUpdated(ilk, msg.sender, v.collateral, v.normalizedDebt);
    }

    /// @notice Cancel surplus against system debt, as much as both allow (anyone may call).
    function heal() external returns (uint256 rad) {
        rad = AuctionMath.min(systemSurplus, systemDebt);
        systemSurplus -= rad;
        systemDebt -= rad;
        emit Healed(rad);
    }

    // ------------------------------------------------------------------ modules

    /// @notice Take `collateralAmount` and `normalizedDebt` out of an (unsafe) vault: the
    /// collateral goes to `to` (the auction), the debt `due = normalizedDebt * rate` (rad, rate
    /// dripped to now) becomes system debt. The caller checks that the vault is unsafe.
    function confiscate(bytes32 ilk, address vaultOwner, uint256 collateralAmount, uint256 normalizedDebt, address to)
        external
        onlyModule
        returns (uint256 due)
    {
        uint256 rate = drip(ilk);
        Vault storage v = _vaults[ilk][vaultOwner];
        if (v.collateral < collateralAmount || v.normalizedDebt < normalizedDebt) revert InvalidAmount();
        v.collateral -= collateralAmount;
        v.normalizedDebt -= normalizedDebt;
        ilks[ilk].totalNormalizedDebt -= normalizedDebt;
        due = normalizedDebt * rate;
        systemDebt += due;
        ilks[ilk].collateral.safeTransfer(to, collateralAmount);
        emit Confiscated(ilk, vaultOwner, collateralAmount, normalizedDebt, due, to);
        emit VaultUpdated(ilk, vaultOwner, v.collateral, v.normalizedDebt);
    }

    /// @notice Mint stablecoin backed by nothing (keeper rewards); recorded as system debt.
    function mintUnbacked(address to, uint256 amount) external onlyModule {
        systemDebt += amount * RAY;
        stablecoin.mint(to, amount);
        emit UnbackedMinted(msg.sender, to, amount);
    }

    /// @notice The module sent `amount` stablecoin of auction proceeds to the engine: burn it
    /// and record it as surplus.
    function recordProceeds(uint256 amount) external onlyModule {
        systemSurplus += amount * RAY;
        stablecoin.burn(address(this), amount);
        emit ProceedsRecorded(msg.sender, amount);
    }

    // ------------------------------------------------------------------ views

    function vault(bytes32 ilk, address vaultOwner) external view returns (uint256 collateral, uint256 normalizedDebt) {
        Vault storage v = _vaults[ilk][vaultOwner];
        return (v.collateral, v.normalizedDebt);
    }

    /// @notice The rate accumulator as `drip` would set it now.
    function currentRate(bytes32 ilk) public view returns (uint256) {
        Ilk storage i = ilks[ilk];
        if (i.rate == 0) revert UnknownIlk(ilk);
        if (block.timestamp == i.lastDrip) return i.rate;
        return AuctionMath.rpow(i.stabilityFee, block.timestamp - i.lastDrip).rmul(i.rate);
    }

    /// @notice Stablecoin units that repay the vault now: `ceil(normalizedDebt * currentRate / RAY)`.
    function debtOf(bytes32 ilk, address vaultOwner) external view returns (uint256) {
        return (_vaults[ilk][vaultOwner].normalizedDebt * currentRate(ilk)).ceilDiv(RAY);
    }

    /// @notice Oracle price of one collateral unit in stablecoin units, as a ray:
    /// `oraclePrice (USD, 8 decimals) * 10**(37 - collateralDecimals)`.
    function collateralPrice(bytes32 ilk) public view returns (uint256) {
        Ilk storage i = _ilk(ilk);
        return oracle.getAssetPrice(i.collateral) * 10 ** (MAX_COLLATERAL_DECIMALS - i.collateralDecimals);
    }

    /// @notice `collateralPrice * RAY / liquidationRatio`, truncated (Maker's spot).
    function spot(bytes32 ilk) public view returns (uint256) {
        return collateralPrice(ilk).rdiv(ilks[ilk].liquidationRatio);
    }

    /// @notice `collateral * spot < normalizedDebt * currentRate`.
    function isUnsafe(bytes32 ilk, address vaultOwner) external view returns (bool) {
        Vault storage v = _vaults[ilk][vaultOwner];
        if (v.normalizedDebt == 0) return false;
        return v.collateral * spot(ilk) < v.normalizedDebt * currentRate(ilk);
    }

    function collateralOf(bytes32 ilk) external view returns (address) {
        return _ilk(ilk).collateral;
    }

    function dustOf(bytes32 ilk) external view returns (uint256) {
        return _ilk(ilk).dust;
    }

    function ilkNames() external view returns (bytes32[] memory) {
        return _ilkNames;
    }

    // ------------------------------------------------------------------ internals

    function _deposit(bytes32 ilk, address vaultOwner, uint256 amount) private {
        if (amount == 0) revert InvalidAmount();
        Ilk storage i = _ilk(ilk);
        Vault storage v = _vaults[ilk][vaultOwner];
        v.collateral += amount;
        i.collateral.safeTransferFrom(msg.sender, address(this), amount);
        emit Deposit(ilk, vaultOwner, msg.sender, amount);
        emit VaultUpdated(ilk, vaultOwner, v.collateral, v.normalizedDebt);
    }

    function _requireSafe(bytes32 ilk, Vault storage v, uint256 rate) private view {
        if (v.normalizedDebt != 0 && v.collateral * spot(ilk) < v.normalizedDebt * rate) revert VaultNotSafe();
    }

    function _ilk(bytes32 ilk) private view returns (Ilk storage i) {
        i = ilks[ilk];
        if (i.rate == 0) revert UnknownIlk(ilk);
    }
}
