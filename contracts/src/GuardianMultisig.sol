// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title GuardianMultisig
/// @notice M-of-N owners propose calls and confirm them; a call runs as soon as it has
///         `threshold` confirmations. Used as the lending pool's guardian (pause/unpause
///         liquidations), it can call any target.
/// @dev The submitter's confirmation counts. If the call reverts, the confirming transaction
///      reverts with the same data, so the proposal stays pending and can be confirmed again.
contract GuardianMultisig {
    struct Proposal {
        address target;
        bytes data;
        uint256 confirmations;
        bool executed;
    }

    address[] internal _owners;
    mapping(address => bool) public isOwner;
    uint256 public immutable threshold;

    Proposal[] internal _proposals;
    mapping(uint256 id => mapping(address owner => bool)) public isConfirmed;

    bool private transient _executing;

    event Submitted(uint256 indexed id, address indexed owner, address indexed target, bytes data);
    event Confirmed(uint256 indexed id, address indexed owner);
    event Revoked(uint256 indexed id, address indexed owner);
    event Executed(uint256 indexed id, bytes result);

    error NotOwner();
    error InvalidOwner(address owner);
    error DuplicateOwner(address owner);
    error InvalidThreshold(uint256 threshold, uint256 owners);
    error ZeroTarget();
    error UnknownProposal(uint256 id);
    error AlreadyExecuted(uint256 id);
    error AlreadyConfirmed(uint256 id);
    error NotConfirmed(uint256 id);
    error ReentrantCall();
    error CallFailed(uint256 id);

    modifier onlyOwner() {
        if (!isOwner[msg.sender]) revert NotOwner();
        _;
    }

    constructor(address[] memory owners_, uint256 threshold_) {
        if (threshold_ == 0 || threshold_ > owners_.length) revert InvalidThreshold(threshold_, owners_.length);
        for (uint256 i; i < owners_.length; ++i) {
            address o = owners_[i];
            if (o == address(0) || o == address(this)) revert InvalidOwner(o);
            if (isOwner[o]) revert DuplicateOwner(o);
            isOwner[o] = true;
            _owners.push(o);
        }
        threshold = threshold_;
    }

    /// @notice Propose `target.call(data)`; the submitter's confirmation counts (and may execute it).
    function submit(address target, bytes calldata data) external onlyOwner returns (uint256 id) {
        if (target == address(0)) revert ZeroTarget();
        id = _proposals.length;
        Proposal storage p = _proposals.push();
        p.target = target;
        p.data = data;
        emit Submitted(id, msg.sender, target, data);
        _confirm(id, p);
    }

    function confirm(uint256 id) external onlyOwner {
        _confirm(id, _pending(id));
    }

    function revoke(uint256 id) external onlyOwner {
        Proposal storage p = _pending(id);
        if (!isConfirmed[id][msg.sender]) revert NotConfirmed(id);
        isConfirmed[id][msg.sender] = false;
        p.confirmations -= 1;
        emit Revoked(id, msg.sender);
    }

    // ------------------------------------------------------------------ views

    function getOwners() external view returns (address[] memory) {
        return _owners;
    }

    function proposalCount() external view returns (uint256) {
        return _proposals.length;
    }

    function confirmations(uint256 id) external view returns (uint256) {
        if (id >= _proposals.length) revert UnknownProposal(id);
        return _proposals[id].confirmations;
    }

    function proposals(uint256 id)
        external
        view
        returns (address target, bytes memory data, uint256 confirmations_, bool executed)
    {
        if (id >= _proposals.length) revert UnknownProposal(id);
        Proposal storage p = _proposals[id];
        return (p.target, p.data, p.confirmations, p.executed);
    }

    // ------------------------------------------------------------------ internal

    function _pending(uint256 id) internal view returns (Proposal storage p) {
        if (id >= _proposals.length) revert UnknownProposal(id);
        p = _proposals[id];
        if (p.executed) revert AlreadyExecuted(id);
    }

    function _confirm(uint256 id, Proposal storage p) internal {
        if (_executing) revert ReentrantCall();
        if (isConfirmed[id][msg.sender]) revert AlreadyConfirmed(id);
        isConfirmed[id][msg.sender] = true;
        uint256 count = p.confirmations + 1;
        p.confirmations = count;
        emit Confirmed(id, msg.sender);
        if (count >= threshold) _execute(id, p);
    }

    function _execute(uint256 id, Proposal storage p) internal {
        p.executed = true;
        _executing = true;
        (bool ok, bytes memory result) = p.target.call(p.data);
        _executing = false;
        if (!ok) {
            if (result.length == 0) revert CallFailed(id);
            assembly ("memory-safe") {
                revert(add(result, 32), mload(result))
            }
        }
        emit Executed(id, result);
    }
}
