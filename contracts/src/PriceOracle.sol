// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IAggregatorV3} from "./interfaces/IAggregatorV3.sol";
import {IPriceOracle} from "./interfaces/IPriceOracle.sol";

/// @title PriceOracle
/// @notice USD prices with 8 decimals from a primary feed and an optional fallback feed per
///         asset, with staleness, bound and deviation checks (contracts/PROTOCOL.md, "Oracle").
/// @dev A feed's answer is valid when `answer > 0`, `minAnswer < answer < maxAnswer`,
///      `updatedAt != 0` and `block.timestamp - updatedAt <= heartbeat` (an `updatedAt` ahead
///      of the block counts as age <= heartbeat). The first failing check names the reason, in
///      that order. A feed whose calls fail or return malformed data is invalid
///      (reason `FeedUnavailable`). `priceStatus` answers without ever reverting.
contract PriceOracle is IPriceOracle {
    /// @notice Why a feed's answer is (not) usable.
    enum FeedState {
        Valid,
        NonPositive,
        OutOfBounds,
        Stale,
        Unavailable
    }

    struct AssetSource {
        address primaryFeed;
        uint8 primaryDecimals;
        uint16 maxDeviationBps;
        address fallbackFeed;
        uint8 fallbackDecimals;
        uint256 primaryHeartbeat;
        uint256 fallbackHeartbeat;
    }

    uint256 public constant BASE_CURRENCY_UNIT = 1e8;
    uint8 public constant BASE_DECIMALS = 8;
    uint8 public constant MAX_FEED_DECIMALS = 36;

    address public owner;
    mapping(address => AssetSource) internal _sources;

    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    event AssetSourceUpdated(
        address indexed asset,
        address indexed primaryFeed,
        uint256 primaryHeartbeat,
        address indexed fallbackFeed,
        uint256 fallbackHeartbeat,
        uint16 maxDeviationBps
    );
    event AssetSourceRemoved(address indexed asset);

    error NotOwner();
    error ZeroAddress();
    error InvalidHeartbeat();
    error SameFeed();
    error UnsupportedFeedDecimals(address feed, uint8 decimals);
    error NoPriceSource(address asset);
    error StalePrice();
    error PriceOutOfBounds();
    error NonPositivePrice();
    error FeedUnavailable(address feed);
    error CircuitBreakerTripped(address asset);

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    constructor() {
        owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
    }

    // ------------------------------------------------------------------ configuration

    /// @notice Configure `asset`'s feeds. `fallbackFeed` may be address(0) (no fallback; then
    ///         `fallbackHeartbeat` and `maxDeviationBps` are stored but unused).
    function setAssetSource(
        address asset,
        address primaryFeed,
        uint256 primaryHeartbeat,
        address fallbackFeed,
        uint256 fallbackHeartbeat,
        uint16 maxDeviationBps
    ) external onlyOwner {
        if (asset == address(0) || primaryFeed == address(0)) revert ZeroAddress();
        if (primaryHeartbeat == 0) revert InvalidHeartbeat();
        if (primaryFeed == fallbackFeed) revert SameFeed();
        AssetSource memory source;
        source.primaryFeed = primaryFeed;
        source.primaryDecimals = _checkedDecimals(primaryFeed);
        source.primaryHeartbeat = primaryHeartbeat;
        source.maxDeviationBps = maxDeviationBps;
        if (fallbackFeed != address(0)) {
            if (fallbackHeartbeat == 0) revert InvalidHeartbeat();
            source.fallbackFeed = fallbackFeed;
            source.fallbackDecimals = _checkedDecimals(fallbackFeed);
        }
        source.fallbackHeartbeat = fallbackHeartbeat;
        _sources[asset] = source;
        emit AssetSourceUpdated(asset, primaryFeed, primaryHeartbeat, fallbackFeed, fallbackHeartbeat, maxDeviationBps);
    }

    function removeAssetSource(address asset) external onlyOwner {
        if (_sources[asset].primaryFeed == address(0)) revert NoPriceSource(asset);
        delete _sources[asset];
        emit AssetSourceRemoved(asset);
    }

    function transferOwnership(address newOwner) external onlyOwner {
        if (newOwner == address(0)) revert ZeroAddress();
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    // ------------------------------------------------------------------ views

    /// @notice The primary feed of `asset` (Aave's getter), address(0) when unconfigured.
    function getSourceOfAsset(address asset) external view returns (address) {
        return _sources[asset].primaryFeed;
    }

    /// @notice The whole configuration of `asset`.
    function getAssetSourceConfig(address asset)
        external
        view
        returns (
            address primaryFeed,
            uint256 primaryHeartbeat,
            address fallbackFeed,
            uint256 fallbackHeartbeat,
            uint16 maxDeviationBps
        )
    {
        AssetSource storage s = _sources[asset];
        return (s.primaryFeed, s.primaryHeartbeat, s.fallbackFeed, s.fallbackHeartbeat, s.maxDeviationBps);
    }

    /// @notice USD price of `asset` with 8 decimals, or a revert explaining why there is none.
    function getAssetPrice(address asset) public view returns (uint256) {
        AssetSource memory s = _sources[asset];
        if (s.primaryFeed == address(0)) revert NoPriceSource(asset);
        (FeedState pState, uint256 p,) = _readFeed(s.primaryFeed, s.primaryDecimals, s.primaryHeartbeat);
        (FeedState fState, uint256 f,) = _readFeed(s.fallbackFeed, s.fallbackDecimals, s.fallbackHeartbeat);
        if (pState == FeedState.Valid) {
            if (fState == FeedState.Valid && _deviates(p, f, s.maxDeviationBps)) revert CircuitBreakerTripped(asset);
            return p;
        }
        if (fState == FeedState.Valid) return f;
        if (pState == FeedState.NonPositive) revert NonPositivePrice();
        if (pState == FeedState.OutOfBounds) revert PriceOutOfBounds();
        if (pState == FeedState.Stale) revert StalePrice();
        revert FeedUnavailable(s.primaryFeed);
    }

    function getAssetsPrices(address[] calldata assets) external view returns (uint256[] memory prices) {
        prices = new uint256[](assets.length);
        for (uint256 i = 0; i < assets.length; ++i) {
            prices[i] = getAssetPrice(assets[i]);
        }
    }

    /// @notice Whether both feeds of `asset` are valid and further apart than its bound.
    function isBreakerTripped(address asset) external view returns (bool) {
        (,,, bool tripped,) = priceStatus(asset);
        return tripped;
    }

    /// @notice What `getAssetPrice` would answer, without reverting: `price` is 0 when it would
    ///         revert. Zeros for an unconfigured asset.
    function priceStatus(address asset)
        public
        view
        returns (uint256 price, bool primaryValid, bool fallbackValid, bool breakerTripped, uint256 primaryUpdatedAt)
    {
        AssetSource memory s = _sources[asset];
        if (s.primaryFeed == address(0)) return (0, false, false, false, 0);
        FeedState pState;
        FeedState fState;
        uint256 p;
        uint256 f;
        (pState, p, primaryUpdatedAt) = _readFeed(s.primaryFeed, s.primaryDecimals, s.primaryHeartbeat);
        (fState, f,) = _readFeed(s.fallbackFeed, s.fallbackDecimals, s.fallbackHeartbeat);
        primaryValid = pState == FeedState.Valid;
        fallbackValid = fState == FeedState.Valid;
        if (primaryValid && fallbackValid) {
            breakerTripped = _deviates(p, f, s.maxDeviationBps);
            price = breakerTripped ? 0 : p;
        } else if (primaryValid) {
            price = p;
        } else if (fallbackValid) {
            price = f;
        }
    }

    /// @notice State and scaled price of one feed as the oracle judges it (never reverts).
    function feedState(address feed, uint256 heartbeat)
        external
        view
        returns (FeedState state, uint256 price, uint256 updatedAt)
    {
        (bool ok, uint256 d) = _staticUint(feed, IAggregatorV3.decimals.selector);
        if (!ok || d > MAX_FEED_DECIMALS) return (FeedState.Unavailable, 0, 0);
        return _readFeed(feed, uint8(d), heartbeat);
    }

    // ------------------------------------------------------------------ internal

    function _checkedDecimals(address feed) internal view returns (uint8) {
        uint8 d = IAggregatorV3(feed).decimals();
        if (d > MAX_FEED_DECIMALS) revert UnsupportedFeedDecimals(feed, d);
        return d;
    }

    /// @dev Reads and judges a feed with low-level static calls so that nothing a feed does
    ///      (revert, return garbage, be an EOA) makes the oracle's views revert.
    function _readFeed(address feed, uint8 feedDecimals, uint256 heartbeat)
        internal
        view
        returns (FeedState state, uint256 price, uint256 updatedAt)
    {
        if (feed == address(0)) return (FeedState.Unavailable, 0, 0);
        (bool ok, bytes memory data) = feed.staticcall(abi.encodeWithSelector(IAggregatorV3.latestRoundData.selector));
        if (!ok || data.length < 160) return (FeedState.Unavailable, 0, 0);
        int256 answer;
        (, answer,, updatedAt,) = abi.decode(data, (uint256, int256, uint256, uint256, uint256));
        (bool okMin, uint256 minRaw) = _staticUint(feed, IAggregatorV3.minAnswer.selector);
        (bool okMax, uint256 maxRaw) = _staticUint(feed, IAggregatorV3.maxAnswer.selector);
        if (!okMin || !okMax) return (FeedState.Unavailable, 0, updatedAt);

        if (answer <= 0) return (FeedState.NonPositive, 0, updatedAt);
        if (answer <= int256(minRaw) || answer >= int256(maxRaw)) return (FeedState.OutOfBounds, 0, updatedAt);
        if (updatedAt == 0 || (block.timestamp > updatedAt && block.timestamp - updatedAt > heartbeat)) {
            return (FeedState.Stale, 0, updatedAt);
        }
        uint256 raw = uint256(answer);
        if (feedDecimals <= BASE_DECIMALS) {
            uint256 factor = 10 ** (BASE_DECIMALS - feedDecimals);
            // An answer so large that scaling overflows cannot be a price: out of bounds.
            if (raw > type(uint256).max / factor) return (FeedState.OutOfBounds, 0, updatedAt);
            price = raw * factor;
        } else {
            price = raw / 10 ** (feedDecimals - BASE_DECIMALS);
        }
        return (FeedState.Valid, price, updatedAt);
    }

    /// @dev One 32-byte word from a static call, `ok` false when the call fails or is short.
    function _staticUint(address target, bytes4 selector) internal view returns (bool ok, uint256 value) {
        bytes memory data;
        (ok, data) = target.staticcall(abi.encodeWithSelector(selector));
        if (!ok || data.length < 32) return (false, 0);
        value = abi.decode(data, (uint256));
    }

    /// @dev `|p - f| * 10000 > maxDeviationBps * min(p, f)`, compared exactly in 512 bits.
    function _deviates(uint256 p, uint256 f, uint16 maxDeviationBps) internal pure returns (bool) {
        (uint256 diff, uint256 low) = p > f ? (p - f, f) : (f - p, p);
        (uint256 lhsHi, uint256 lhsLo) = _mul512(diff, 10_000);
        (uint256 rhsHi, uint256 rhsLo) = _mul512(low, maxDeviationBps);
        return lhsHi > rhsHi || (lhsHi == rhsHi && lhsLo > rhsLo);
    }

    function _mul512(uint256 a, uint256 b) internal pure returns (uint256 hi, uint256 lo) {
        assembly ("memory-safe") {
            let mm := mulmod(a, b, not(0))
            lo := mul(a, b)
            hi := sub(sub(mm, lo), lt(mm, lo))
        }
    }
}
