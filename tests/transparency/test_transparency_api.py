"""The package's public face: pinned exports and the error hierarchy."""

from __future__ import annotations

import revstream.transparency as transparency
from revstream.transparency import (  # noqa: F401  the import the issue names
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
    verify_note,
)

EXPECTED_ALL = {
    "CHECKPOINT_EXTENSIONS_MAX", "EMPTY_ROOT", "HASH_SIZE", "JSON_DEPTH_MAX", "JSON_INT_MAX",
    "NOTE_SIGNATURES_MAX", "PROOF_HASHES_MAX", "TREE_SIZE_MAX",
    "CanonicalJSONError", "Checkpoint", "FormatError", "MerkleTree", "ProofError", "ProofPlan",
    "Subtree", "SubtreeSource", "TransparencyError", "TreeRangeError", "VerifierKey",
    "canonical_json", "consistency_plan", "consistency_proof", "format_checkpoint", "generate_key",
    "inclusion_plan", "inclusion_proof", "leaf_hash", "node_hash", "parse_checkpoint",
    "parse_verifier_key", "proof_from_plan", "root_hash", "sign_note", "subtree_root",
    "verify_checkpoint", "verify_checkpoint_consistency", "verify_consistency", "verify_inclusion",
    "verify_note", "CompactRange", "compact_range",
    # C2SP tlog-cosignature (_cosignature)
    "COSIGNATURE_TIMESTAMP_MAX", "Cosignature", "append_signatures", "cosign_checkpoint",
    "cosignature_message", "cosigner_vkey", "generate_cosigner_key", "parse_cosigner_key",
    "select_signatures", "verify_cosignatures", "verify_cosigned_checkpoint",
    # C2SP tlog-tiles (_tiles)
    "ENTRY_BUNDLE_LEVEL", "ENTRY_SIZE_MAX", "TILE_CACHE_TILES_MAX", "TILE_HEIGHT", "TILE_LEVEL_MAX",
    "TILE_WIDTH", "TILED_ENTRIES_MAX", "Tile", "TileFetch", "TileReader", "build_tiles", "entry_bundle",
    "new_tiles", "parse_entry_bundle", "parse_tile_path", "tile_data", "tile_hash", "tile_hashes",
    "tile_path", "tile_subtrees", "tiles_for_size", "verify_tiled_entries",
}


def test_all_is_pinned() -> None:
    assert set(transparency.__all__) == EXPECTED_ALL
    assert len(transparency.__all__) == len(EXPECTED_ALL)
    for name in transparency.__all__:
        assert hasattr(transparency, name), name


def test_modules_are_private() -> None:
    public_modules = [name for name in dir(transparency) if not name.startswith("_")
                      and type(getattr(transparency, name)).__name__ == "module"]
    assert public_modules == []


def test_error_hierarchy() -> None:
    base = transparency.TransparencyError
    assert issubclass(base, Exception)
    for error in (transparency.ProofError, transparency.TreeRangeError, transparency.FormatError,
                  transparency.CanonicalJSONError):
        assert issubclass(error, base)
    for error in (transparency.TreeRangeError, transparency.FormatError, transparency.CanonicalJSONError):
        assert issubclass(error, ValueError)
    assert not issubclass(ProofError, ValueError)
