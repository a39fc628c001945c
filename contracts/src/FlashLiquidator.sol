// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "./interfaces/IERC20.sol";
import {IPool} from "./interfaces/IPool.sol";
import {IAmmPair, IAmmCallee} from "./interfaces/IAmmPair.sol";

/// @notice The bot's executor contract. Liquidates capital-free by flash-swapping the debt
/// asset from an AMM pair and repaying the pair with part of the seized collateral, or from
/// its own inventory. Only the owner may call it; every path reverts unless it earns at
/// least `minProfit`, so a front-run or a price move costs only the gas of a revert.
contract FlashLiquidator is IAmmCallee {
    IPool public immutable pool;
    address public owner;

    /// @dev The pair we are flash-swapping from, set only for the duration of the swap so
    /// that no one else can drive `uniswapV2Call`.
    address private activePair;
    uint256 private locked = 1;

    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    event Liquidated(
        address indexed user,
        address indexed collateralAsset,
        address indexed debtAsset,
        uint256 debtCovered,
        uint256 collateralSeized,
        uint256 profit,
        bool flash
    );
    event Withdrawn(address indexed token, address indexed to, uint256 amount);

    error NotOwner();
    error Reentrancy();
    error ZeroAddress();
    error SameAsset();
    error PairMismatch();
    error UnexpectedCallback();
    error SeizedBelowRepayment(uint256 seized, uint256 owed);
    error ProfitBelowMinimum(uint256 profit, uint256 minProfit);
    error TransferFailed();
    error NotALiquidation(uint256 index, bytes4 selector);

    struct FlashParams {
        address pair;
        address collateral;
        address debt;
        address user;
        uint256 debtToCover;
        uint256 minProfit;
    }

    constructor(address pool_) {
        if (pool_ == address(0)) revert ZeroAddress();
        pool = IPool(pool_);
        owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    modifier nonReentrant() {
        if (locked != 1) revert Reentrancy();
        locked = 2;
        _;
        locked = 1;
    }

    function transferOwnership(address newOwner) external onlyOwner {
        if (newOwner == address(0)) revert ZeroAddress();
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    /// @notice Flash-swap `debtToCover` of `debt` from `pair`, liquidate `user`, repay the pair
    /// in collateral and send the collateral left over (the profit) to the owner. Debt tokens
    /// the pool did not use (the seize was capped by the borrower's collateral) go to the
    /// owner too.
    /// @return profit collateral units sent to the owner
    function liquidateWithFlashSwap(
        address pair,
        address collateral,
        address debt,
        address user,
        uint256 debtToCover,
        uint256 minProfit
    ) external onlyOwner nonReentrant returns (uint256 profit) {
        if (collateral == debt) revert SameAsset();
        address token0 = IAmmPair(pair).token0();
        address token1 = IAmmPair(pair).token1();
        bool debtIsToken0;
        if (token0 == debt && token1 == collateral) {
            debtIsToken0 = true;
        } else if (token1 == debt && token0 == collateral) {
            debtIsToken0 = false;
        } else {
            revert PairMismatch();
        }
        uint256 collateralBefore = IERC20(collateral).balanceOf(address(this));
        uint256 debtBefore = IERC20(debt).balanceOf(address(this));

        activePair = pair;
        bytes memory data = abi.encode(FlashParams(pair, collateral, debt, user, debtToCover, minProfit));
        if (debtIsToken0) {
            IAmmPair(pair).swap(debtToCover, 0, address(this), data);
        } else {
            IAmmPair(pair).swap(0, debtToCover, address(this), data);
        }
        activePair = address(0);

        profit = IERC20(collateral).balanceOf(address(this)) - collateralBefore;
        uint256 unusedDebt = IERC20(debt).balanceOf(address(this)) - debtBefore;
        _send(collateral, owner, profit);
        if (unusedDebt != 0) _send(debt, owner, unusedDebt);
    }

    /// @dev Flash-swap callback: the pair has sent us the debt asset and waits for repayment.
    function uniswapV2Call(address sender, uint256 amount0, uint256 amount1, bytes calldata data) external override {
        if (msg.sender != activePair || sender != address(this)) revert UnexpectedCallback();
        FlashParams memory p = abi.decode(data, (FlashParams));
        if (p.pair != msg.sender) revert UnexpectedCallback();
        uint256 borrowed = amount0 != 0 ? amount0 : amount1;

        (uint256 seized, uint256 covered) = _liquidate(p.collateral, p.debt, p.user, borrowed);

        (uint112 reserve0, uint112 reserve1,) = IAmmPair(msg.sender).getReserves();
        (uint256 reserveCollateral, uint256 reserveDebt) =
            IAmmPair(msg.sender).token0() == p.debt ? (uint256(reserve1), uint256(reserve0)) : (uint256(reserve0), uint256(reserve1));
        uint256 owed = getAmountIn(borrowed, reserveCollateral, reserveDebt);
        if (seized < owed) revert SeizedBelowRepayment(seized, owed);
        uint256 profit = seized - owed;
        if (profit < p.minProfit) revert ProfitBelowMinimum(profit, p.minProfit);
        _send(p.collateral, msg.sender, owed);
        emit Liquidated(p.user, p.collateral, p.debt, covered, seized, profit, true);
    }

    /// @notice Liquidate with debt tokens this contract holds; the seized collateral stays here.
    /// Reverts unless at least `minCollateralOut` is seized.
    function liquidateFromInventory(
        address collateral,
        address debt,
        address user,
        uint256 debtToCover,
        uint256 minCollateralOut
    ) external onlyOwner nonReentrant returns (uint256 seized, uint256 covered) {
        (seized, covered) = _liquidate(collateral, debt, user, debtToCover);
        if (seized < minCollateralOut) revert ProfitBelowMinimum(seized, minCollateralOut);
        emit Liquidated(user, collateral, debt, covered, seized, 0, false);
    }

    /// @notice Liquidate from inventory, then sell all the seized collateral into `pair` for the
    /// debt asset. Reverts unless the debt asset received exceeds the debt covered by `minProfit`.
    function liquidateFromInventoryAndSell(
        address pair,
        address collateral,
        address debt,
        address user,
        uint256 debtToCover,
        uint256 minProfit
    ) external onlyOwner nonReentrant returns (uint256 profit) {
        if (collateral == debt) revert SameAsset();
        (uint256 seized, uint256 covered) = _liquidate(collateral, debt, user, debtToCover);
        uint256 out = _sell(pair, collateral, debt, seized);
        profit = out > covered ? out - covered : 0;
        if (out < covered || profit < minProfit) revert ProfitBelowMinimum(profit, minProfit);
        emit Liquidated(user, collateral, debt, covered, seized, profit, false);
    }

    /// @notice Run a list of this contract's own liquidation calls in order, each on its own:
    /// an item that reverts is rolled back alone (its revert data returned in `results`),
    /// and every later item sees the effects of the earlier ones that succeeded. The bot
    /// `eth_call`s this to simulate a block's sends in one call, in the order they will be
    /// mined (one sender, nonce order). Each item is delegate-called into this contract, so
    /// `msg.sender` stays the owner and each item takes the reentrancy lock itself (this
    /// function does not hold it).
    /// @dev Items are restricted to the three liquidation functions, and any other selector
    /// reverts the whole call with `NotALiquidation`: the list is built from the bot's
    /// plan, and a bug there must never turn into `withdraw` or `transferOwnership` in a
    /// loop, or into `tryEach` calling itself. Each allowed item enforces its own minimum
    /// profit, so even a list sent as a transaction can lose no more than its gas.
    /// @return ok whether each item succeeded
    /// @return results each item's return data, or its revert data when it failed
    function tryEach(bytes[] calldata calls) external onlyOwner returns (bool[] memory ok, bytes[] memory results) {
        uint256 n = calls.length;
        ok = new bool[](n);
        results = new bytes[](n);
        for (uint256 i; i < n; ++i) {
            bytes calldata item = calls[i];
            bytes4 sel = item.length >= 4 ? bytes4(item[:4]) : bytes4(0);
            if (
                sel != this.liquidateWithFlashSwap.selector && sel != this.liquidateFromInventory.selector
                    && sel != this.liquidateFromInventoryAndSell.selector
            ) revert NotALiquidation(i, sel);
            (ok[i], results[i]) = address(this).delegatecall(item);
        }
    }

    /// @notice Move tokens out of the contract (inventory, profits).
    function withdraw(address token, address to, uint256 amount) external onlyOwner {
        if (to == address(0)) revert ZeroAddress();
        _send(token, to, amount);
        emit Withdrawn(token, to, amount);
    }

    function getAmountIn(uint256 amountOut, uint256 reserveIn, uint256 reserveOut) public pure returns (uint256) {
        return (reserveIn * amountOut * 1000) / ((reserveOut - amountOut) * 997) + 1;
    }

    function getAmountOut(uint256 amountIn, uint256 reserveIn, uint256 reserveOut) public pure returns (uint256) {
        uint256 amountInWithFee = amountIn * 997;
        return (amountInWithFee * reserveOut) / (reserveIn * 1000 + amountInWithFee);
    }

    function _liquidate(address collateral, address debt, address user, uint256 debtToCover)
        private
        returns (uint256 seized, uint256 covered)
    {
        uint256 collateralBefore = IERC20(collateral).balanceOf(address(this));
        uint256 debtBefore = IERC20(debt).balanceOf(address(this));
        _approve(debt, address(pool), debtToCover);
        pool.liquidationCall(collateral, debt, user, debtToCover, false);
        _approve(debt, address(pool), 0);
        seized = IERC20(collateral).balanceOf(address(this)) - collateralBefore;
        covered = debtBefore - IERC20(debt).balanceOf(address(this));
    }

    /// @dev Sell `amountIn` of `tokenIn` into `pair` for `tokenOut`, at the pair's own price.
    function _sell(address pair, address tokenIn, address tokenOut, uint256 amountIn) private returns (uint256 out) {
        address token0 = IAmmPair(pair).token0();
        address token1 = IAmmPair(pair).token1();
        if (!((token0 == tokenOut && token1 == tokenIn) || (token1 == tokenOut && token0 == tokenIn))) {
            revert PairMismatch();
        }
        (uint112 reserve0, uint112 reserve1,) = IAmmPair(pair).getReserves();
        bool outIsToken0 = token0 == tokenOut;
        (uint256 reserveIn, uint256 reserveOut) =
            outIsToken0 ? (uint256(reserve1), uint256(reserve0)) : (uint256(reserve0), uint256(reserve1));
        out = getAmountOut(amountIn, reserveIn, reserveOut);
        _send(tokenIn, pair, amountIn);
        if (outIsToken0) {
            IAmmPair(pair).swap(out, 0, address(this), "");
        } else {
            IAmmPair(pair).swap(0, out, address(this), "");
        }
    }

    function _approve(address token, address spender, uint256 amount) private {
        (bool ok, bytes memory ret) = token.call(abi.encodeCall(IERC20.approve, (spender, amount)));
        if (!ok || (ret.length != 0 && !abi.decode(ret, (bool)))) revert TransferFailed();
    }

    function _send(address token, address to, uint256 amount) private {
        if (amount == 0) return;
        (bool ok, bytes memory ret) = token.call(abi.encodeCall(IERC20.transfer, (to, amount)));
        if (!ok || (ret.length != 0 && !abi.decode(ret, (bool)))) revert TransferFailed();
    }
}
