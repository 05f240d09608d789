"""The reference ScanGate consent registry (FastAPI + SQLAlchemy).

Serves signed consent records, production rosters, the revocation feed and
registry public keys to rigs, and takes confirmations and signed session
records from them. It may import ``agent`` (the wire schema and signing);
``agent`` never imports this package. See docs/registry.md.
"""
