"""Signed, hash-chained session records (issue 4). Format and scheme: docs/records.md.

- ``model``: the record schema (``scangate.session-record/1``) and drafts;
- ``keys``: the rig's Ed25519 key (created on first use, owner-only);
- ``log``: the append-only JSON Lines writer (lock, fsync, torn-tail recovery);
- ``linecheck``, ``chain``, ``verify``: streaming verification with named problems;
- ``checkpoint``: reading the registry's signed checkpoint (detects a cut tail);
- ``uploader``, ``outbox``: durable, ordered, exactly-once upload to the registry;
- ``recorder``: the one object the session controller writes records through;
- ``receipt``: the performer's take-away summary and QR code;
- ``settings``: the ``[records]`` config section (fsync helpers are in :mod:`agent.durable`).
"""
