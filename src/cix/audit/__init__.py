"""The tamper-evident audit log: RFC 9162 Merkle tree, checkpoints, proofs, witnesses."""
