"""Node key pairs (HPKE KEM, signatures) and key stores."""
