// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IPool} from "./interfaces/IPool.sol";
import {IERC20} from "./interfaces/IERC20.sol";
import {IPriceOracle} from "./interfaces/IPriceOracle.sol";
import {WadRayMath} from "./lib/WadRayMath.sol";
import {PercentageMath} from "./lib/PercentageMath.sol";
import {InterestMath} from "./lib/InterestMath.sol";
import {SafeTransfer} from "./lib/SafeTransfer.sol";

/// @title LendingPool
/// @notice The bundled Aave-V3-shaped lending pool: scaled balances, variable-rate debt, a
///         two-slope rate curve, health-factor liquidations with a protocol fee, and bad-debt
///         write-off socialised over the suppliers. Every formula is in contracts/PROTOCOL.md.
/// @dev Balances live in the pool (no aTokens / debt tokens); `cash` is tracked per reserve.
contract LendingPool is IPool {
    using WadRayMath for uint256;
    using PercentageMath for uint256;
    using SafeTransfer for address;

    /// @notice Configuration and state of one reserve, as stored and as `getReserveData` returns it.
    struct ReserveData {
        uint8 decimals;
        uint16 ltv;
        uint16 liquidationThreshold;
        uint16 liquidationBonus;
        uint16 liquidationProtocolFee;
        uint16 reserveFactor;
        bool borrowingEnabled;
        uint256 baseRate;
        uint256 slope1;
        uint256 slope2;
        uint256 optimalUtilization;
        uint256 liquidityIndex;
        uint256 variableBorrowIndex;
        uint256 liquidityRate;
        uint256 variableBorrowRate;
        uint256 lastUpdateTimestamp;
        uint256 totalScaledSupply;
        uint256 totalScaledDebt;
        uint256 cash;
    }

    struct UserReserve {
        uint256 scaledSupply;
        uint256 scaledDebt;
        bool usingAsCollateral;
    }

    struct AccountData {
        uint256 totalCollateral;
        uint256 totalDebt;
        uint256 ltv;
        uint256 liquidationThreshold;
        uint256 healthFactor;
    }

    struct LiquidationVars {
        uint256 healthFactor;
        uint256 userCollateral;
        uint256 userDebt;
        uint256 actualDebt;
        uint256 collateralAmount;
        uint256 debtCovered;
        uint256 protocolFee;
        uint256 toLiquidator;
    }

    uint256 internal constant RAY = WadRayMath.RAY;
    uint256 internal constant WAD = WadRayMath.WAD;
    uint256 internal constant PERCENTAGE_FACTOR = PercentageMath.PERCENTAGE_FACTOR;
    uint256 public constant CLOSE_FACTOR_HF_THRESHOLD = 0.95e18;
    uint256 public constant MAX_RESERVES = 128;
    uint256 internal constant VARIABLE_RATE_MODE = 2;

    address public owner;
    address public oracle;
    address public treasury;
    address public guardian;
    bool public liquidationsPaused;

    address[] internal _reservesList;
    mapping(address asset => ReserveData) internal _reserves;
    mapping(address asset => mapping(address user => UserReserve)) internal _users;

    bool private transient _entered;

    event ReserveDataUpdated(
        address indexed reserve,
        uint256 liquidityRate,
        uint256 stableBorrowRate,
        uint256 variableBorrowRate,
        uint256 liquidityIndex,
        uint256 variableBorrowIndex
    );
    event UserReserveUpdated(
        address indexed reserve, address indexed user, uint256 scaledSupply, uint256 scaledDebt, bool usingAsCollateral
    );
    event BadDebtWrittenOff(address indexed user, address indexed reserve, uint256 amount, uint256 newLiquidityIndex);
    event ReserveUsedAsCollateralEnabled(address indexed reserve, address indexed user);
    event ReserveUsedAsCollateralDisabled(address indexed reserve, address indexed user);
    event LiquidationsPausedSet(bool paused);
    event ReserveInitialized(address indexed asset, uint8 decimals);
    event ReserveConfigurationChanged(
        address indexed asset,
        uint16 ltv,
        uint16 liquidationThreshold,
        uint16 liquidationBonus,
        uint16 liquidationProtocolFee,
        uint16 reserveFactor
    );
    event InterestRateParamsChanged(
        address indexed asset, uint256 baseRate, uint256 slope1, uint256 slope2, uint256 optimalUtilization
    );
    event BorrowingEnabledSet(address indexed asset, bool enabled);
    event OracleUpdated(address indexed previousOracle, address indexed newOracle);
    event TreasuryUpdated(address indexed previousTreasury, address indexed newTreasury);
    event GuardianUpdated(address indexed previousGuardian, address indexed newGuardian);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    error NotOwner();
    error NotGuardian();
    error ZeroAddress();
    error ReentrantCall();
    error ReserveNotInitialized(address asset);
    error ReserveAlreadyInitialized(address asset);
    error TooManyReserves();
    error InvalidReserveConfiguration();
    error InvalidInterestRateParams();
    error InvalidPrice(address asset);
    error InvalidAmount();
    error InvalidInterestRateMode();
    error BorrowOnBehalfNotSupported();
    error BorrowingNotEnabled();
    error NotEnoughLiquidity();
    error CollateralBalanceIsZero();
    error LtvValidationFailed();
    error HealthFactorLowerThanLiquidationThreshold();
    error CollateralCannotCoverNewBorrow();
    error NotEnoughAvailableUserBalance();
    error NoDebtOfSelectedType();
    error UnderlyingBalanceZero();
    error CannotBeUsedAsCollateral();
    error LiquidationsPaused();
    error HealthFactorNotBelowThreshold();
    error CollateralCannotBeLiquidated();
    error SpecifiedCurrencyNotBorrowedByUser();

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    modifier nonReentrant() {
        if (_entered) revert ReentrantCall();
        _entered = true;
        _;
        _entered = false;
    }

    constructor(address oracle_, address treasury_) {
        if (oracle_ == address(0) || treasury_ == address(0)) revert ZeroAddress();
        owner = msg.sender;
        oracle = oracle_;
        treasury = treasury_;
        emit OwnershipTransferred(address(0), msg.sender);
        emit OracleUpdated(address(0), oracle_);
        emit TreasuryUpdated(address(0), treasury_);
    }

    // =========================================================================== admin

    function initReserve(
        address asset,
        uint16 ltv,
        uint16 liquidationThreshold,
        uint16 liquidationBonus,
        uint16 liquidationProtocolFee,
        uint16 reserveFactor,
        uint256 baseRate,
        uint256 slope1,
        uint256 slope2,
        uint256 optimalUtilization
    ) external onlyOwner {
        if (asset == address(0)) revert ZeroAddress();
        ReserveData storage r = _reserves[asset];
        if (r.lastUpdateTimestamp != 0) revert ReserveAlreadyInitialized(asset);
        if (_reservesList.length >= MAX_RESERVES) revert TooManyReserves();
        uint8 decimals = IERC20(asset).decimals();
        _reservesList.push(asset);
        r.decimals = decimals;
        r.borrowingEnabled = true;
        r.liquidityIndex = RAY;
        r.variableBorrowIndex = RAY;
        r.lastUpdateTimestamp = block.timestamp;
        emit ReserveInitialized(asset, decimals);
        _setConfiguration(asset, r, ltv, liquidationThreshold, liquidationBonus, liquidationProtocolFee, reserveFactor);
        _setRateParams(asset, r, baseRate, slope1, slope2, optimalUtilization);
        emit BorrowingEnabledSet(asset, true);
        _updateRates(asset, r);
    }

    function setReserveConfiguration(
        address asset,
        uint16 ltv,
        uint16 liquidationThreshold,
        uint16 liquidationBonus,
        uint16 liquidationProtocolFee,
        uint16 reserveFactor
    ) external onlyOwner {
        ReserveData storage r = _reserve(asset);
        _updateState(r);
        _setConfiguration(asset, r, ltv, liquidationThreshold, liquidationBonus, liquidationProtocolFee, reserveFactor);
        _updateRates(asset, r);
    }

    function setInterestRateParams(
        address asset,
        uint256 baseRate,
        uint256 slope1,
        uint256 slope2,
        uint256 optimalUtilization
    ) external onlyOwner {
        ReserveData storage r = _reserve(asset);
        _updateState(r);
        _setRateParams(asset, r, baseRate, slope1, slope2, optimalUtilization);
        _updateRates(asset, r);
    }

    function setBorrowingEnabled(address asset, bool enabled) external onlyOwner {
        _reserve(asset).borrowingEnabled = enabled;
        emit BorrowingEnabledSet(asset, enabled);
    }

    function setOracle(address newOracle) external onlyOwner {
        if (newOracle == address(0)) revert ZeroAddress();
        emit OracleUpdated(oracle, newOracle);
        oracle = newOracle;
    }

    function setTreasury(address newTreasury) external onlyOwner {
        if (newTreasury == address(0)) revert ZeroAddress();
        emit TreasuryUpdated(treasury, newTreasury);
        treasury = newTreasury;
    }

    /// @notice The guardian may pause and unpause liquidations; address(0) removes it.
    function setGuardian(address newGuardian) external onlyOwner {
        emit GuardianUpdated(guardian, newGuardian);
        guardian = newGuardian;
    }

    function transferOwnership(address newOwner) external onlyOwner {
        if (newOwner == address(0)) revert ZeroAddress();
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    /// @notice Pause or resume liquidations (the guardian or the owner).
    function setLiquidationsPaused(bool paused) external {
        if (msg.sender != guardian && msg.sender != owner) revert NotGuardian();
        liquidationsPaused = paused;
        emit LiquidationsPausedSet(paused);
    }

    // =========================================================================== user actions

    function supply(address asset, uint256 amount, address onBehalfOf, uint16 referralCode) external nonReentrant {
        if (amount == 0) revert InvalidAmount();
        if (onBehalfOf == address(0)) revert ZeroAddress();
        ReserveData storage r = _reserve(asset);
        _updateState(r);
        uint256 scaled = amount.rayDiv(r.liquidityIndex);
        if (scaled == 0) revert InvalidAmount();
        UserReserve storage u = _users[asset][onBehalfOf];
        bool first = u.scaledSupply == 0;
        u.scaledSupply += scaled;
        r.totalScaledSupply += scaled;
        r.cash += amount;
        _updateRates(asset, r);
        if (first && !u.usingAsCollateral && r.liquidationThreshold != 0) {
            u.usingAsCollateral = true;
            emit ReserveUsedAsCollateralEnabled(asset, onBehalfOf);
        }
        _emitUser(asset, onBehalfOf, u);
        asset.safeTransferFrom(msg.sender, address(this), amount);
        emit Supply(asset, msg.sender, onBehalfOf, amount, referralCode);
    }

    function withdraw(address asset, uint256 amount, address to) external nonReentrant returns (uint256) {
        if (to == address(0)) revert ZeroAddress();
        ReserveData storage r = _reserve(asset);
        _updateState(r);
        UserReserve storage u = _users[asset][msg.sender];
        uint256 balance = u.scaledSupply.rayMul(r.liquidityIndex);
        if (amount == type(uint256).max) amount = balance;
        if (amount == 0) revert InvalidAmount();
        if (amount > balance) revert NotEnoughAvailableUserBalance();
        if (amount > r.cash) revert NotEnoughLiquidity();
        uint256 burned = amount == balance ? u.scaledSupply : _min(amount.rayDiv(r.liquidityIndex), u.scaledSupply);
        u.scaledSupply -= burned;
        r.totalScaledSupply -= burned;
        r.cash -= amount;
        _updateRates(asset, r);
        bool wasCollateral = u.usingAsCollateral && r.liquidationThreshold != 0;
        if (u.scaledSupply == 0 && u.usingAsCollateral) {
            u.usingAsCollateral = false;
            emit ReserveUsedAsCollateralDisabled(asset, msg.sender);
        }
        _emitUser(asset, msg.sender, u);
        if (wasCollateral) _requireHealthy(msg.sender);
        asset.safeTransfer(to, amount);
        emit Withdraw(asset, msg.sender, to, amount);
        return amount;
    }

    function borrow(address asset, uint256 amount, uint256 interestRateMode, uint16 referralCode, address onBehalfOf)
        external
        nonReentrant
    {
        if (interestRateMode != VARIABLE_RATE_MODE) revert InvalidInterestRateMode();
        if (onBehalfOf != msg.sender) revert BorrowOnBehalfNotSupported();
        if (amount == 0) revert InvalidAmount();
        ReserveData storage r = _reserve(asset);
        if (!r.borrowingEnabled) revert BorrowingNotEnabled();
        _updateState(r);
        if (amount > r.cash) revert NotEnoughLiquidity();

        AccountData memory a = _accountData(msg.sender);
        if (a.totalCollateral == 0) revert CollateralBalanceIsZero();
        if (a.ltv == 0) revert LtvValidationFailed();
        if (a.healthFactor < WAD) revert HealthFactorLowerThanLiquidationThreshold();
        uint256 amountBase = _price(asset) * amount / (10 ** r.decimals);
        if ((a.totalDebt + amountBase).percentDiv(a.ltv) > a.totalCollateral) revert CollateralCannotCoverNewBorrow();

        uint256 scaled = amount.rayDiv(r.variableBorrowIndex);
        if (scaled == 0) revert InvalidAmount();
        UserReserve storage u = _users[asset][msg.sender];
        u.scaledDebt += scaled;
        r.totalScaledDebt += scaled;
        r.cash -= amount;
        _updateRates(asset, r);
        _emitUser(asset, msg.sender, u);
        asset.safeTransfer(msg.sender, amount);
        emit Borrow(asset, msg.sender, msg.sender, amount, uint8(VARIABLE_RATE_MODE), r.variableBorrowRate, referralCode);
    }

    function repay(address asset, uint256 amount, uint256 interestRateMode, address onBehalfOf)
        external
        nonReentrant
        returns (uint256)
    {
        if (interestRateMode != VARIABLE_RATE_MODE) revert InvalidInterestRateMode();
        if (amount == 0) revert InvalidAmount();
        ReserveData storage r = _reserve(asset);
        _updateState(r);
        UserReserve storage u = _users[asset][onBehalfOf];
        uint256 debt = u.scaledDebt.rayMul(r.variableBorrowIndex);
        if (debt == 0) revert NoDebtOfSelectedType();
        uint256 paid = amount < debt ? amount : debt;
        uint256 burned = paid == debt ? u.scaledDebt : _min(paid.rayDiv(r.variableBorrowIndex), u.scaledDebt);
        u.scaledDebt -= burned;
        r.totalScaledDebt -= burned;
        r.cash += paid;
        _updateRates(asset, r);
        _emitUser(asset, onBehalfOf, u);
        asset.safeTransferFrom(msg.sender, address(this), paid);
        emit Repay(asset, onBehalfOf, msg.sender, paid, false);
        return paid;
    }

    function setUserUseReserveAsCollateral(address asset, bool useAsCollateral) external nonReentrant {
        ReserveData storage r = _reserve(asset);
        UserReserve storage u = _users[asset][msg.sender];
        if (u.scaledSupply == 0) revert UnderlyingBalanceZero();
        if (u.usingAsCollateral == useAsCollateral) return;
        u.usingAsCollateral = useAsCollateral;
        if (useAsCollateral) {
            if (r.liquidationThreshold == 0) revert CannotBeUsedAsCollateral();
            emit ReserveUsedAsCollateralEnabled(asset, msg.sender);
        } else {
            emit ReserveUsedAsCollateralDisabled(asset, msg.sender);
        }
        _emitUser(asset, msg.sender, u);
        if (!useAsCollateral && r.liquidationThreshold != 0) _requireHealthy(msg.sender);
    }

    // =========================================================================== liquidation

    function liquidationCall(
        address collateralAsset,
        address debtAsset,
        address user,
        uint256 debtToCover,
        bool receiveAToken
    ) external nonReentrant {
        if (liquidationsPaused) revert LiquidationsPaused();
        ReserveData storage cr = _reserve(collateralAsset);
        ReserveData storage dr = _reserve(debtAsset);
        _updateState(cr);
        _updateState(dr);

        LiquidationVars memory v;
        v.healthFactor = _accountData(user).healthFactor;
        if (v.healthFactor >= WAD) revert HealthFactorNotBelowThreshold();
        UserReserve storage uc = _users[collateralAsset][user];
        v.userCollateral = uc.scaledSupply.rayMul(cr.liquidityIndex);
        if (v.userCollateral == 0 || !uc.usingAsCollateral || cr.liquidationThreshold == 0) {
            revert CollateralCannotBeLiquidated();
        }
        UserReserve storage ud = _users[debtAsset][user];
        v.userDebt = ud.scaledDebt.rayMul(dr.variableBorrowIndex);
        if (v.userDebt == 0) revert SpecifiedCurrencyNotBorrowedByUser();

        uint256 maxDebt = v.userDebt.percentMul(v.healthFactor > CLOSE_FACTOR_HF_THRESHOLD ? 5000 : PERCENTAGE_FACTOR);
        v.actualDebt = _min(debtToCover, maxDebt);
        _computeSeize(v, collateralAsset, debtAsset, cr, dr);

        // Debt: burn the covered part; the liquidator pays it in below.
        uint256 burned =
            v.debtCovered == v.userDebt ? ud.scaledDebt : _min(v.debtCovered.rayDiv(dr.variableBorrowIndex), ud.scaledDebt);
        ud.scaledDebt -= burned;
        dr.totalScaledDebt -= burned;
        dr.cash += v.debtCovered;
        _emitUser(debtAsset, user, ud);

        _seizeCollateral(v, collateralAsset, cr, uc, user, receiveAToken);

        if (uc.scaledSupply == 0 && !_hasCollateral(user)) _writeOffBadDebt(user, collateralAsset, debtAsset);

        _updateRates(collateralAsset, cr);
        if (debtAsset != collateralAsset) _updateRates(debtAsset, dr);

        debtAsset.safeTransferFrom(msg.sender, address(this), v.debtCovered);
        if (!receiveAToken && v.toLiquidator != 0) collateralAsset.safeTransfer(msg.sender, v.toLiquidator);
        emit LiquidationCall(collateralAsset, debtAsset, user, v.debtCovered, v.toLiquidator, msg.sender, receiveAToken);
    }

    /// @dev PROTOCOL.md, liquidation step 5.
    function _computeSeize(
        LiquidationVars memory v,
        address collateralAsset,
        address debtAsset,
        ReserveData storage cr,
        ReserveData storage dr
    ) internal view {
        uint256 cp = _price(collateralAsset);
        uint256 dp = _price(debtAsset);
        uint256 cu = 10 ** cr.decimals;
        uint256 du = 10 ** dr.decimals;
        uint256 bonus = cr.liquidationBonus;
        uint256 maxCollateral = (dp * v.actualDebt * cu / (cp * du)).percentMul(bonus);
        if (maxCollateral > v.userCollateral) {
            v.collateralAmount = v.userCollateral;
            v.debtCovered = (cp * v.collateralAmount * du / (dp * cu)).percentDiv(bonus);
        } else {
            v.collateralAmount = maxCollateral;
            v.debtCovered = v.actualDebt;
        }
        uint256 bonusPart = v.collateralAmount - v.collateralAmount.percentDiv(bonus);
        v.protocolFee = bonusPart.percentMul(cr.liquidationProtocolFee);
        v.toLiquidator = v.collateralAmount - v.protocolFee;
    }

    /// @dev PROTOCOL.md, liquidation step 7.
    function _seizeCollateral(
        LiquidationVars memory v,
        address asset,
        ReserveData storage cr,
        UserReserve storage uc,
        address user,
        bool receiveAToken
    ) internal {
        uint256 index = cr.liquidityIndex;
        uint256 feeScaled = v.protocolFee.rayDiv(index);
        if (feeScaled != 0) {
            uc.scaledSupply -= feeScaled;
            UserReserve storage t = _users[asset][treasury];
            t.scaledSupply += feeScaled;
            _emitUser(asset, treasury, t);
        }
        uint256 toLiquidatorScaled = v.collateralAmount == v.userCollateral
            ? uc.scaledSupply
            : _min(v.toLiquidator.rayDiv(index), uc.scaledSupply);
        uc.scaledSupply -= toLiquidatorScaled;
        if (uc.scaledSupply == 0 && uc.usingAsCollateral) {
            uc.usingAsCollateral = false;
            emit ReserveUsedAsCollateralDisabled(asset, user);
        }
        _emitUser(asset, user, uc);
        if (receiveAToken) {
            UserReserve storage l = _users[asset][msg.sender];
            if (l.scaledSupply == 0 && toLiquidatorScaled != 0 && !l.usingAsCollateral && cr.liquidationThreshold != 0) {
                l.usingAsCollateral = true;
                emit ReserveUsedAsCollateralEnabled(asset, msg.sender);
            }
            l.scaledSupply += toLiquidatorScaled;
            _emitUser(asset, msg.sender, l);
        } else {
            if (v.toLiquidator > cr.cash) revert NotEnoughLiquidity();
            cr.totalScaledSupply -= toLiquidatorScaled;
            cr.cash -= v.toLiquidator;
        }
    }

    /// @dev PROTOCOL.md, liquidation step 8: the user has no collateral left but still owes.
    function _writeOffBadDebt(address user, address collateralAsset, address debtAsset) internal {
        uint256 n = _reservesList.length;
        for (uint256 i; i < n; ++i) {
            address asset = _reservesList[i];
            UserReserve storage u = _users[asset][user];
            uint256 scaledDebt = u.scaledDebt;
            if (scaledDebt == 0) continue;
            ReserveData storage r = _reserves[asset];
            _updateState(r);
            uint256 loss = scaledDebt.rayMul(r.variableBorrowIndex);
            u.scaledDebt = 0;
            r.totalScaledDebt -= scaledDebt;
            uint256 totalScaledSupply = r.totalScaledSupply;
            if (totalScaledSupply != 0) {
                uint256 supplied = totalScaledSupply.rayMul(r.liquidityIndex);
                r.liquidityIndex = (supplied - _min(loss, supplied)).rayDiv(totalScaledSupply);
            }
            emit BadDebtWrittenOff(user, asset, loss, r.liquidityIndex);
            _emitUser(asset, user, u);
            if (asset != collateralAsset && asset != debtAsset) _updateRates(asset, r);
        }
    }

    // =========================================================================== views

    function ORACLE() external view returns (address) {
        return oracle;
    }

    function getReservesList() external view returns (address[] memory) {
        return _reservesList;
    }

    /// @notice Stored configuration and state (indexes as of `lastUpdateTimestamp`).
    function getReserveData(address asset) external view returns (ReserveData memory) {
        return _reserves[asset];
    }

    /// @notice Every reserve's data in `getReservesList()` order, in one call.
    function getReservesData() external view returns (address[] memory assets, ReserveData[] memory data) {
        assets = _reservesList;
        data = new ReserveData[](assets.length);
        for (uint256 i; i < assets.length; ++i) {
            data[i] = _reserves[assets[i]];
        }
    }

    function getReserveNormalizedIncome(address asset) external view returns (uint256) {
        return _normalizedIncome(_reserves[asset]);
    }

    function getReserveNormalizedVariableDebt(address asset) external view returns (uint256) {
        return _normalizedDebt(_reserves[asset]);
    }

    function getUserReserveData(address asset, address user)
        external
        view
        returns (uint256 scaledSupply, uint256 scaledDebt, bool usingAsCollateral)
    {
        UserReserve storage u = _users[asset][user];
        return (u.scaledSupply, u.scaledDebt, u.usingAsCollateral);
    }

    /// @notice A whole account's scaled balances over `getReservesList()`, in one call.
    function getUserPositions(address user)
        external
        view
        returns (
            address[] memory assets,
            uint256[] memory scaledSupply,
            uint256[] memory scaledDebt,
            bool[] memory usingAsCollateral
        )
    {
        assets = _reservesList;
        uint256 n = assets.length;
        scaledSupply = new uint256[](n);
        scaledDebt = new uint256[](n);
        usingAsCollateral = new bool[](n);
        for (uint256 i; i < n; ++i) {
            UserReserve storage u = _users[assets[i]][user];
            scaledSupply[i] = u.scaledSupply;
            scaledDebt[i] = u.scaledDebt;
            usingAsCollateral[i] = u.usingAsCollateral;
        }
    }

    function getUserAccountData(address user)
        external
        view
        returns (
            uint256 totalCollateralBase,
            uint256 totalDebtBase,
            uint256 availableBorrowsBase,
            uint256 currentLiquidationThreshold,
            uint256 ltv,
            uint256 healthFactor
        )
    {
        AccountData memory a = _accountData(user);
        uint256 borrowable = a.totalCollateral.percentMul(a.ltv);
        return (
            a.totalCollateral,
            a.totalDebt,
            borrowable > a.totalDebt ? borrowable - a.totalDebt : 0,
            a.liquidationThreshold,
            a.ltv,
            a.healthFactor
        );
    }

    // =========================================================================== internal

    function _reserve(address asset) internal view returns (ReserveData storage r) {
        r = _reserves[asset];
        if (r.lastUpdateTimestamp == 0) revert ReserveNotInitialized(asset);
    }

    function _price(address asset) internal view returns (uint256 price) {
        price = IPriceOracle(oracle).getAssetPrice(asset);
        if (price == 0) revert InvalidPrice(asset);
    }

    function _normalizedIncome(ReserveData storage r) internal view returns (uint256) {
        uint256 dt = block.timestamp - r.lastUpdateTimestamp;
        if (dt == 0) return r.liquidityIndex;
        return InterestMath.linearInterest(r.liquidityRate, dt).rayMul(r.liquidityIndex);
    }

    function _normalizedDebt(ReserveData storage r) internal view returns (uint256) {
        uint256 dt = block.timestamp - r.lastUpdateTimestamp;
        if (dt == 0) return r.variableBorrowIndex;
        return InterestMath.compoundedInterest(r.variableBorrowRate, dt).rayMul(r.variableBorrowIndex);
    }

    function _updateState(ReserveData storage r) internal {
        if (block.timestamp == r.lastUpdateTimestamp) return;
        r.liquidityIndex = _normalizedIncome(r);
        r.variableBorrowIndex = _normalizedDebt(r);
        r.lastUpdateTimestamp = block.timestamp;
    }

    function _updateRates(address asset, ReserveData storage r) internal {
        (uint256 liquidityRate, uint256 borrowRate) = InterestMath.rates(
            r.totalScaledDebt.rayMul(r.variableBorrowIndex),
            r.cash,
            r.baseRate,
            r.slope1,
            r.slope2,
            r.optimalUtilization,
            r.reserveFactor
        );
        r.liquidityRate = liquidityRate;
        r.variableBorrowRate = borrowRate;
        emit ReserveDataUpdated(asset, liquidityRate, 0, borrowRate, r.liquidityIndex, r.variableBorrowIndex);
    }

    /// @dev PROTOCOL.md, "Account data".
    function _accountData(address user) internal view returns (AccountData memory a) {
        uint256 ltvSum;
        uint256 ltSum;
        uint256 n = _reservesList.length;
        for (uint256 i; i < n; ++i) {
            address asset = _reservesList[i];
            UserReserve storage u = _users[asset][user];
            ReserveData storage r = _reserves[asset];
            bool isCollateral = u.scaledSupply != 0 && u.usingAsCollateral && r.liquidationThreshold != 0;
            if (!isCollateral && u.scaledDebt == 0) continue;
            uint256 price = _price(asset);
            uint256 unit = 10 ** r.decimals;
            if (isCollateral) {
                uint256 c = u.scaledSupply.rayMul(_normalizedIncome(r)) * price / unit;
                a.totalCollateral += c;
                ltvSum += c * r.ltv;
                ltSum += c * r.liquidationThreshold;
            }
            if (u.scaledDebt != 0) {
                uint256 d = u.scaledDebt.rayMul(_normalizedDebt(r)) * price;
                a.totalDebt += (d + unit - 1) / unit;
            }
        }
        if (a.totalCollateral != 0) {
            a.ltv = ltvSum / a.totalCollateral;
            a.liquidationThreshold = ltSum / a.totalCollateral;
        }
        a.healthFactor = a.totalDebt == 0
            ? type(uint256).max
            : a.totalCollateral.percentMul(a.liquidationThreshold).wadDiv(a.totalDebt);
    }

    function _hasCollateral(address user) internal view returns (bool) {
        uint256 n = _reservesList.length;
        for (uint256 i; i < n; ++i) {
            address asset = _reservesList[i];
            UserReserve storage u = _users[asset][user];
            if (u.scaledSupply != 0 && u.usingAsCollateral && _reserves[asset].liquidationThreshold != 0) return true;
        }
        return false;
    }

    function _requireHealthy(address user) internal view {
        if (_accountData(user).healthFactor < WAD) revert HealthFactorLowerThanLiquidationThreshold();
    }

    function _setConfiguration(
        address asset,
        ReserveData storage r,
        uint16 ltv,
        uint16 liquidationThreshold,
        uint16 liquidationBonus,
        uint16 liquidationProtocolFee,
        uint16 reserveFactor
    ) internal {
        if (
            ltv > liquidationThreshold || liquidationBonus <= PERCENTAGE_FACTOR
                || uint256(liquidationThreshold).percentMul(liquidationBonus) > PERCENTAGE_FACTOR
                || liquidationProtocolFee > PERCENTAGE_FACTOR || reserveFactor > PERCENTAGE_FACTOR
        ) revert InvalidReserveConfiguration();
        r.ltv = ltv;
        r.liquidationThreshold = liquidationThreshold;
        r.liquidationBonus = liquidationBonus;
        r.liquidationProtocolFee = liquidationProtocolFee;
        r.reserveFactor = reserveFactor;
        emit ReserveConfigurationChanged(
            asset, ltv, liquidationThreshold, liquidationBonus, liquidationProtocolFee, reserveFactor
        );
    }

    function _setRateParams(
        address asset,
        ReserveData storage r,
        uint256 baseRate,
        uint256 slope1,
        uint256 slope2,
        uint256 optimalUtilization
    ) internal {
        if (optimalUtilization == 0 || optimalUtilization >= RAY) revert InvalidInterestRateParams();
        r.baseRate = baseRate;
        r.slope1 = slope1;
        r.slope2 = slope2;
        r.optimalUtilization = optimalUtilization;
        emit InterestRateParamsChanged(asset, baseRate, slope1, slope2, optimalUtilization);
    }

    function _emitUser(address asset, address user, UserReserve storage u) internal {
        emit UserReserveUpdated(asset, user, u.scaledSupply, u.scaledDebt, u.usingAsCollateral);
    }

    function _min(uint256 a, uint256 b) internal pure returns (uint256) {
        return a < b ? a : b;
    }
}
