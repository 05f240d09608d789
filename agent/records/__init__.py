"""Signed, hash-chained session records (issue 4).

Modules: ``model`` (the record schema), ``keys`` (the rig's Ed25519 key),
``log`` (the append-only JSON Lines writer), ``verify`` (streaming log
verification), ``checkpoint`` (registry checkpoints), ``outbox`` and
``uploader`` (durable upload to the registry), ``receipt`` (the performer's
take-away summary), ``settings`` (the ``[records]`` config section).
The format and the signature scheme are specified in docs/records.md.
"""
