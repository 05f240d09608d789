"""The agent's consent registry client (protocol scangate.registry/1, over requests).

Modules:

* :mod:`agent.registry_client.settings` — the ``[registry]`` settings.
* :mod:`agent.registry_client.client` — :class:`RegistryClient`: typed, validated,
  size-capped calls with timeouts and bounded retries; key trust from pinned key ids.
* :mod:`agent.registry_client.transport` — the requests.Session, retries, size caps,
  error mapping.
* :mod:`agent.registry_client.errors` — unavailable / auth / protocol / TLS errors.
* :mod:`agent.registry_client.trust` — pinned key ids resolved against GET /v1/keys.
* :mod:`agent.registry_client.lookup` — :class:`ConsentLookup`: lookup + signature +
  policy → Decision, with the optional offline copy.
* :mod:`agent.registry_client.cache` — offline copies on disk (atomic JSON files).
* :mod:`agent.registry_client.poller` — :class:`RevocationPoller` (a thread).
* :mod:`agent.registry_client.roster_source` — the signed roster as a face RosterSource.

This package imports nothing itself, so reading the configuration stays cheap.
See docs/registry-client.md.
"""
