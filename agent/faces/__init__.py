"""Face identification: detection, quality gate, encoding, matching, voting."""
