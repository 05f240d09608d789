"""The capture gate: locked by default, unlocked only under a signed token and a live lease.

Modules:

* :mod:`agent.gate.base` — :class:`~agent.gate.base.CaptureGate`, the interface and the
  lease/watchdog/reconciliation logic every backend shares.
* :mod:`agent.gate.models` — ``UnlockGrant``, ``GateStatus``, ``CaptureEvent``.
* :mod:`agent.gate.token` — signed capture tokens (mint / verify).
* :mod:`agent.gate.windows` — ``UnlockWindows`` and the quarantine helper.
* :mod:`agent.gate.reconcile` — turns captures into ``CaptureEvent`` (placement, hash, quarantine).
* :mod:`agent.gate.guardian` — the lease guardian process (locks the rig if the agent dies).
* :mod:`agent.gate.settings` — the ``[gate]`` settings.
* :mod:`agent.gate.factory` — ``build_gate(settings, ...)``; it loads OpenCV, pyserial,
  pyzmq or http.server only for the backend chosen.
* Backends: ``builtin``, ``command``, ``triggerbox``, ``smartshooter``, ``http_api``.

This package imports nothing itself, so reading the configuration stays cheap.
"""
