// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IAggregatorV3} from "./interfaces/IAggregatorV3.sol";

/// @title PriceFeed
/// @notice An owner-driven price feed with Chainlink's AggregatorV3 shape, for the bundled
///         protocol, tests and replays of recorded prices.
/// @dev Every update opens a new round (ids 1, 2, ...), stored so `getRoundData` works for
///      any past round. Answers outside [minAnswer, maxAnswer] are clamped to the bound, as
///      a Chainlink aggregator pinned at its floor or ceiling reports the bound itself.
///      `startedAt == updatedAt` and `answeredInRound == roundId` for every round.
contract PriceFeed is IAggregatorV3 {
    struct Round {
        int256 answer;
        uint64 updatedAt;
    }

    uint256 public constant version = 4;

    uint8 public immutable decimals;
    int256 public immutable minAnswer;
    int256 public immutable maxAnswer;
    string public description;
    address public owner;

    /// @notice Id of the latest round (the constructor records round 1).
    uint256 public latestRound;
    mapping(uint256 => Round) internal _rounds;

    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    error NotOwner();
    error ZeroAddress();
    error InvalidBounds(int256 minAnswer, int256 maxAnswer);
    error FutureTimestamp(uint256 updatedAt, uint256 blockTimestamp);
    error NoDataPresent();

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    constructor(uint8 decimals_, string memory description_, int256 initialAnswer, int256 minAnswer_, int256 maxAnswer_) {
        if (minAnswer_ >= maxAnswer_) revert InvalidBounds(minAnswer_, maxAnswer_);
        decimals = decimals_;
        description = description_;
        minAnswer = minAnswer_;
        maxAnswer = maxAnswer_;
        owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
        _record(initialAnswer, block.timestamp);
    }

    // ------------------------------------------------------------------ owner

    /// @notice Record `answer` (clamped to the bounds) as a new round updated now.
    function updateAnswer(int256 answer) external onlyOwner {
        _record(answer, block.timestamp);
    }

    /// @notice Record `answer` (clamped) as a new round updated at `updatedAt`, which may lie
    ///         in the past (replays, staleness tests) but not in the future. Zero is accepted
    ///         and means "never updated" to consumers.
    function updateAnswerAt(int256 answer, uint256 updatedAt) external onlyOwner {
        if (updatedAt > block.timestamp) revert FutureTimestamp(updatedAt, block.timestamp);
        _record(answer, updatedAt);
    }

    function transferOwnership(address newOwner) external onlyOwner {
        if (newOwner == address(0)) revert ZeroAddress();
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    // ------------------------------------------------------------------ AggregatorV3

    function getRoundData(uint80 roundId)
        external
        view
        returns (uint80 roundId_, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        if (roundId == 0 || roundId > latestRound) revert NoDataPresent();
        Round storage round = _rounds[roundId];
        return (roundId, round.answer, round.updatedAt, round.updatedAt, roundId);
    }

    function latestRoundData()
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        uint256 id = latestRound;
        Round storage round = _rounds[id];
        return (uint80(id), round.answer, round.updatedAt, round.updatedAt, uint80(id));
    }

    // ------------------------------------------------------------------ legacy AggregatorInterface

    function latestAnswer() external view returns (int256) {
        return _rounds[latestRound].answer;
    }

    function latestTimestamp() external view returns (uint256) {
        return _rounds[latestRound].updatedAt;
    }

    /// @notice Answer of `roundId`, 0 for an unknown round (as Chainlink's legacy getter).
    function getAnswer(uint256 roundId) external view returns (int256) {
        return _rounds[roundId].answer;
    }

    /// @notice Update time of `roundId`, 0 for an unknown round.
    function getTimestamp(uint256 roundId) external view returns (uint256) {
        return _rounds[roundId].updatedAt;
    }

    // ------------------------------------------------------------------ internal

    function _record(int256 answer, uint256 updatedAt) internal {
        if (answer < minAnswer) answer = minAnswer;
        else if (answer > maxAnswer) answer = maxAnswer;
        uint256 id = latestRound + 1;
        latestRound = id;
        _rounds[id] = Round({answer: answer, updatedAt: uint64(updatedAt)});
        emit NewRound(id, msg.sender, updatedAt);
        emit AnswerUpdated(answer, id, updatedAt);
    }
}
