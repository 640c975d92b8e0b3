"""Transparency log core: RFC 9162 Merkle trees, proofs, C2SP checkpoints and signed notes.

Pure code, no storage or HTTP: the host appends each usage record's canonical
JSON as a leaf, publishes signed checkpoints, and serves proofs; a licensor's
verifier checks them with the ``verify_*`` functions. Errors form one hierarchy
under :class:`TransparencyError` (see ``_errors``).
"""

from ._canonical import JSON_DEPTH_MAX, JSON_INT_MAX, canonical_json
from ._checkpoint import (
    CHECKPOINT_EXTENSIONS_MAX,
    Checkpoint,
    format_checkpoint,
    parse_checkpoint,
    verify_checkpoint,
    verify_checkpoint_consistency,
)
from ._errors import CanonicalJSONError, FormatError, ProofError, TransparencyError, TreeRangeError
from ._merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    PROOF_HASHES_MAX,
    TREE_SIZE_MAX,
    MerkleTree,
    ProofPlan,
    Subtree,
    SubtreeSource,
    consistency_plan,
    consistency_proof,
    inclusion_plan,
    inclusion_proof,
    leaf_hash,
    node_hash,
    proof_from_plan,
    root_hash,
    subtree_root,
)
from ._note import NOTE_SIGNATURES_MAX, VerifierKey, generate_key, parse_verifier_key, sign_note, verify_note
from ._range import CompactRange, compact_range
from ._verify import verify_consistency, verify_inclusion

__all__ = (
    "CHECKPOINT_EXTENSIONS_MAX",
    "EMPTY_ROOT",
    "HASH_SIZE",
    "JSON_DEPTH_MAX",
    "JSON_INT_MAX",
    "NOTE_SIGNATURES_MAX",
    "PROOF_HASHES_MAX",
    "TREE_SIZE_MAX",
    "CanonicalJSONError",
    "Checkpoint",
    "CompactRange",
    "FormatError",
    "MerkleTree",
    "ProofError",
    "ProofPlan",
    "Subtree",
    "SubtreeSource",
    "TransparencyError",
    "TreeRangeError",
    "VerifierKey",
    "canonical_json",
    "compact_range",
    "consistency_plan",
    "consistency_proof",
    "format_checkpoint",
    "generate_key",
    "inclusion_plan",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "parse_checkpoint",
    "parse_verifier_key",
    "proof_from_plan",
    "root_hash",
    "sign_note",
    "subtree_root",
    "verify_checkpoint",
    "verify_checkpoint_consistency",
    "verify_consistency",
    "verify_inclusion",
    "verify_note",
)
