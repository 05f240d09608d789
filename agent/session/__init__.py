"""The session engine: the only component that may unlock capture."""
