// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "../interfaces/IERC20.sol";
import {IPool} from "../interfaces/IPool.sol";

/// @dev The pool's collateral toggle, which IPool does not declare.
interface ICollateralToggle {
    function setUserUseReserveAsCollateral(address asset, bool useAsCollateral) external;
}

/// @title BulkBorrower
/// @notice TEST ONLY. The logic behind every borrower clone: it borrows and withdraws for
///         itself through the real pool (the pool only lets an account borrow for itself) and
///         hands the tokens to the factory. Supplies and repayments are made by the factory
///         on the borrower's behalf, which the pool allows.
/// @dev `factory` and `pool` are immutables, so they live in this contract's code and every
///      EIP-1167 clone (which delegatecalls here) reads them without storage or initialisation.
contract BulkBorrower {
    address public immutable factory;
    IPool public immutable pool;

    error NotFactory();

    constructor(IPool pool_) {
        factory = msg.sender;
        pool = pool_;
    }

    modifier onlyFactory() {
        if (msg.sender != factory) revert NotFactory();
        _;
    }

    function borrow(address asset, uint256 amount) external onlyFactory {
        pool.borrow(asset, amount, 2, 0, address(this));
        if (!IERC20(asset).transfer(factory, amount)) revert NotFactory();
    }

    function withdraw(address asset, uint256 amount) external onlyFactory {
        pool.withdraw(asset, amount, factory);
    }

    function setCollateral(address asset, bool useAsCollateral) external onlyFactory {
        ICollateralToggle(address(pool)).setUserUseReserveAsCollateral(asset, useAsCollateral);
    }
}

/// @title BulkBorrowers
/// @notice TEST ONLY. Opens many borrower positions, and drives random activity on them, in
///         few transactions, with the pool's real accounting: each borrower is a distinct
///         account (an EIP-1167 minimal proxy, ~45k gas to create) that the pool sees as an
///         ordinary user. The factory holds the tokens: it supplies and repays on the
///         borrowers' behalf, receives what they borrow and withdraw, and can liquidate them.
contract BulkBorrowers {
    /// @notice What one step of `run` does; `borrower` is an index into `borrowers`.
    enum Action {
        Supply, // factory supplies `amount` of `asset` for the borrower
        Borrow, // the borrower borrows `amount` of `asset`
        Repay, // factory repays `amount` of `asset` for the borrower (max uint: all)
        Withdraw, // the borrower withdraws `amount` of `asset` (max uint: all) to the factory
        Liquidate, // factory liquidates the borrower: collateral `asset`, debt `other`
        SetCollateral // the borrower uses `asset` as collateral iff `amount` != 0
    }

    struct Step {
        Action action;
        uint32 borrower;
        address asset;
        address other;
        uint256 amount;
    }

    /// @notice A new borrower: up to two collaterals and one debt (zero amounts are skipped).
    struct Position {
        address collateral;
        uint256 collateralAmount;
        address collateral2;
        uint256 collateralAmount2;
        address debt;
        uint256 debtAmount;
    }

    address public immutable owner;
    IPool public immutable pool;
    address public immutable implementation;
    address[] public borrowers;

    event Opened(uint256 first, uint256 count);
    event Ran(uint256 succeeded, uint256 failed);

    error NotOwner();
    error CloneFailed();
    error OpenFailed(uint256 index);

    constructor(IPool pool_) {
        owner = msg.sender;
        pool = pool_;
        implementation = address(new BulkBorrower(pool_));
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    /// @notice Let the pool pull `tokens` from the factory (supplies, repayments, liquidations).
    function approve(address[] calldata tokens) external onlyOwner {
        for (uint256 i; i < tokens.length; ++i) {
            IERC20(tokens[i]).approve(address(pool), type(uint256).max);
        }
    }

    /// @notice Create one borrower per position, supply its collateral and borrow its debt.
    ///         Reverts (naming the position) if any of it fails: a seed is all or nothing.
    function open(Position[] calldata positions) external onlyOwner returns (uint256 first) {
        first = borrowers.length;
        for (uint256 i; i < positions.length; ++i) {
            Position calldata p = positions[i];
            address b = _clone();
            borrowers.push(b);
            if (p.collateralAmount != 0) pool.supply(p.collateral, p.collateralAmount, b, 0);
            if (p.collateralAmount2 != 0) pool.supply(p.collateral2, p.collateralAmount2, b, 0);
            if (p.debtAmount != 0) {
                try BulkBorrower(b).borrow(p.debt, p.debtAmount) {}
                catch {
                    revert OpenFailed(first + i);
                }
            }
        }
        emit Opened(first, positions.length);
    }

    /// @notice Run `steps` in order; a step that reverts is skipped and counted, so that
    ///         random activity need not predict which actions the pool will accept.
    function run(Step[] calldata steps) external onlyOwner returns (uint256 failed) {
        for (uint256 i; i < steps.length; ++i) {
            if (!_step(steps[i])) ++failed;
        }
        emit Ran(steps.length - failed, failed);
    }

    function count() external view returns (uint256) {
        return borrowers.length;
    }

    /// @notice Borrowers `start` to `end` (exclusive), to list them in few calls.
    function slice(uint256 start, uint256 end) external view returns (address[] memory out) {
        if (end > borrowers.length) end = borrowers.length;
        if (start > end) start = end;
        out = new address[](end - start);
        for (uint256 i = start; i < end; ++i) {
            out[i - start] = borrowers[i];
        }
    }

    /// @notice Move tokens out of the factory.
    function sweep(address token, address to, uint256 amount) external onlyOwner {
        IERC20(token).transfer(to, amount);
    }

    function _step(Step calldata s) internal returns (bool ok) {
        address b = borrowers[s.borrower];
        bytes memory data;
        address target = address(pool);
        if (s.action == Action.Supply) {
            data = abi.encodeCall(IPool.supply, (s.asset, s.amount, b, 0));
        } else if (s.action == Action.Repay) {
            data = abi.encodeCall(IPool.repay, (s.asset, s.amount, 2, b));
        } else if (s.action == Action.Liquidate) {
            data = abi.encodeCall(IPool.liquidationCall, (s.asset, s.other, b, s.amount, false));
        } else {
            target = b;
            if (s.action == Action.Borrow) {
                data = abi.encodeCall(BulkBorrower.borrow, (s.asset, s.amount));
            } else if (s.action == Action.Withdraw) {
                data = abi.encodeCall(BulkBorrower.withdraw, (s.asset, s.amount));
            } else {
                data = abi.encodeCall(BulkBorrower.setCollateral, (s.asset, s.amount != 0));
            }
        }
        (ok,) = target.call(data);
    }

    /// @dev EIP-1167 minimal proxy delegating to `implementation`.
    function _clone() internal returns (address instance) {
        address impl = implementation;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, 0x3d602d80600a3d3981f3363d3d373d3d3d363d73000000000000000000000000)
            mstore(add(ptr, 0x14), shl(0x60, impl))
            mstore(add(ptr, 0x28), 0x5af43d82803e903d91602b57fd5bf30000000000000000000000000000000000)
            instance := create(0, ptr, 0x37)
        }
        if (instance == address(0)) revert CloneFailed();
    }
}
