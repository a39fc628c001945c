// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {SafeTransfer} from "../lib/SafeTransfer.sol";
import {IVaultEngine, ILiquidator, ICollateralAuction} from "./AuctionInterfaces.sol";

/// @title EnglishAuction
/// @notice A rising-bid collateral auction in the style of Maker's Flipper, for one ilk
///         (contracts/AUCTIONS.md, "English auction"). In the first phase (`tend`) bidders
///         offer more stablecoin for the whole lot, each bid at least `minBidIncrease` times
///         the last (or exactly the tab); once a bid reaches the tab, the second phase
///         (`dent`) has them accept less collateral for the full tab, each lot at most the last
///         divided by `minBidIncrease`; the collateral given up goes back to the vault owner.
///         Each bid sets a deadline `bidDuration` ahead; the auction ends at that deadline or
///         at its hard `end`, and then anyone may `deal` it to the winner. An auction that
///         ended without bids is restarted with `tick`. Every bid pays the previous bidder
///         back in full and the increase goes to the engine as proceeds.
contract EnglishAuction is ICollateralAuction {
    using SafeTransfer for address;

    uint256 internal constant WAD = 1e18;

    struct Auction {
        uint256 position; // index in the active list
        uint256 bid; // stablecoin offered by the best bidder
        uint256 lot; // collateral on offer
        address bidder; // best bidder, 0 before the first bid (Maker's guy)
        uint256 bidExpiry; // deadline set by the last bid, 0 before the first (Maker's tic)
        uint256 end; // hard end
        address owner; // the liquidated vault's owner; 0 = no such auction (Maker's usr)
        uint256 tab; // stablecoin to raise
    }

    IVaultEngine public immutable engine;
    ILiquidator public immutable liquidator;
    bytes32 public immutable ilk;
    address public immutable collateral;
    address public immutable stablecoin;
    address public owner;

    uint256 public minBidIncrease = 1.05e18; // wad, Maker's beg
    uint256 public bidDuration = 3 hours; // Maker's ttl
    uint256 public auctionDuration = 2 days; // Maker's tau

    uint256 public kicks;
    uint256[] internal _active;
    mapping(uint256 => Auction) public auctions;

    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    event ParameterSet(bytes32 indexed what, uint256 value);
    event Kick(uint256 indexed id, uint256 lot, uint256 tab, address indexed owner, address indexed keeper, uint256 end);
    event Tend(uint256 indexed id, address indexed bidder, uint256 lot, uint256 bid, uint256 bidExpiry);
    event Dent(uint256 indexed id, address indexed bidder, uint256 lot, uint256 bid, uint256 bidExpiry);
    event Deal(uint256 indexed id, address indexed winner, uint256 lot, uint256 bid);
    event Tick(uint256 indexed id, uint256 end);

    error NotOwner();
    error NotLiquidator();
    error ZeroAddress();
    error InvalidParameter();
    error InvalidAuction();
    error NotRunning(uint256 id);
    error BidExpired();
    error AuctionEnded();
    error LotNotMatching();
    error BidNotMatching();
    error BidAboveTab();
    error BidNotHigher();
    error InsufficientIncrease();
    error TabNotReached();
    error LotNotLower();
    error InsufficientDecrease();
    error NotFinished();
    error HasBids();

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

    // ------------------------------------------------------------------ admin

    function transferOwnership(address newOwner) external onlyOwner {
        if (newOwner == address(0)) revert ZeroAddress();
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    function setMinBidIncrease(uint256 factor) external onlyOwner {
        if (factor < WAD) revert InvalidParameter();
        minBidIncrease = factor;
        emit ParameterSet("minBidIncrease", factor);
    }

    function setBidDuration(uint256 seconds_) external onlyOwner {
        if (seconds_ == 0) revert InvalidParameter();
        bidDuration = seconds_;
        emit ParameterSet("bidDuration", seconds_);
    }

    function setAuctionDuration(uint256 seconds_) external onlyOwner {
        if (seconds_ == 0) revert InvalidParameter();
        auctionDuration = seconds_;
        emit ParameterSet("auctionDuration", seconds_);
    }

    // ------------------------------------------------------------------ auction

    /// @notice Start an auction of `lot` collateral (already sent here) for up to `tab`.
    function kick(uint256 tab, uint256 lot, address vaultOwner, address keeper) external returns (uint256 id) {
        if (msg.sender != address(liquidator)) revert NotLiquidator();
        if (tab == 0 || lot == 0 || vaultOwner == address(0)) revert InvalidAuction();
        id = ++kicks;
        _active.push(id);
        uint256 end = block.timestamp + auctionDuration;
        auctions[id] = Auction({
            position: _active.length - 1,
            bid: 0,
            lot: lot,
            bidder: address(0),
            bidExpiry: 0,
            end: end,
            owner: vaultOwner,
            tab: tab
        });
        emit Kick(id, lot, tab, vaultOwner, keeper, end);
    }

    /// @notice First phase: offer `bid` stablecoin for the whole `lot`.
    function tend(uint256 id, uint256 lot, uint256 bid) external {
        Auction storage a = _open(id);
        if (lot != a.lot) revert LotNotMatching();
        if (bid > a.tab) revert BidAboveTab();
        uint256 previous = a.bid;
        if (bid <= previous) revert BidNotHigher();
        if (bid * WAD < minBidIncrease * previous && bid != a.tab) revert InsufficientIncrease();

        address previousBidder = a.bidder;
        if (previousBidder != msg.sender && previous != 0) {
            stablecoin.safeTransferFrom(msg.sender, previousBidder, previous);
        }
        uint256 increase = bid - previous;
        stablecoin.safeTransferFrom(msg.sender, address(engine), increase);
        engine.recordProceeds(increase);

        a.bidder = msg.sender;
        a.bid = bid;
        a.bidExpiry = block.timestamp + bidDuration;
        emit Tend(id, msg.sender, lot, bid, a.bidExpiry);
    }

    /// @notice Second phase: accept `lot` (less) collateral for the full tab `bid`.
    function dent(uint256 id, uint256 lot, uint256 bid) external {
        Auction storage a = _open(id);
        if (bid != a.bid) revert BidNotMatching();
        if (bid != a.tab) revert TabNotReached();
        uint256 previousLot = a.lot;
        if (lot >= previousLot) revert LotNotLower();
        if (minBidIncrease * lot > previousLot * WAD) revert InsufficientDecrease();

        address previousBidder = a.bidder;
        if (previousBidder != msg.sender) stablecoin.safeTransferFrom(msg.sender, previousBidder, bid);
        collateral.safeTransfer(a.owner, previousLot - lot);

        a.bidder = msg.sender;
        a.lot = lot;
        a.bidExpiry = block.timestamp + bidDuration;
        emit Dent(id, msg.sender, lot, bid, a.bidExpiry);
    }

    /// @notice Settle a finished auction: the lot goes to the best bidder (anyone may call).
    function deal(uint256 id) external {
        Auction storage a = auctions[id];
        if (a.owner == address(0)) revert NotRunning(id);
        uint256 expiry = a.bidExpiry;
        if (expiry == 0 || (expiry >= block.timestamp && a.end >= block.timestamp)) revert NotFinished();
        address winner = a.bidder;
        uint256 lot = a.lot;
        uint256 bid = a.bid;
        liquidator.removeDebtUnderAuction(ilk, a.tab);
        _remove(id);
        collateral.safeTransfer(winner, lot);
        emit Deal(id, winner, lot, bid);
    }

    /// @notice Restart an auction that reached its end without a bid.
    function tick(uint256 id) external {
        Auction storage a = auctions[id];
        if (a.owner == address(0)) revert NotRunning(id);
        if (a.end >= block.timestamp) revert NotFinished();
        if (a.bidExpiry != 0) revert HasBids();
        uint256 end = block.timestamp + auctionDuration;
        a.end = end;
        emit Tick(id, end);
    }

    // ------------------------------------------------------------------ views

    function count() external view returns (uint256) {
        return _active.length;
    }

    /// @notice Ids of the running auctions (in no particular order).
    function list() external view returns (uint256[] memory) {
        return _active;
    }

    // ------------------------------------------------------------------ internals

    /// @dev A running auction still taking bids: `bidExpiry > now` (or no bid yet) and `end > now`.
    function _open(uint256 id) private view returns (Auction storage a) {
        a = auctions[id];
        if (a.owner == address(0)) revert NotRunning(id);
        uint256 expiry = a.bidExpiry;
        if (expiry != 0 && expiry <= block.timestamp) revert BidExpired();
        if (a.end <= block.timestamp) revert AuctionEnded();
    }

    function _remove(uint256 id) private {
        uint256 last = _active[_active.length - 1];
        if (id != last) {
            uint256 position = auctions[id].position;
            _active[position] = last;
            auctions[last].position = position;
        }
        _active.pop();
        delete auctions[id];
    }
}
