"""What can go wrong talking to the consent registry, split by what to do about it.

==========================  ==========================================  =====================
Error                       Cause                                       What to do
==========================  ==========================================  =====================
RegistryUnavailableError    connection refused/reset, DNS, timeout,     retry later (offline
                            HTTP 5xx, 408, 429                          copy if enabled)
RegistryAuthError           HTTP 401/403: token unknown, revoked, or    re-provision the rig
                            the rig is registered for another           token / fix
                            production                                  production_id
RegistryProtocolError       not JSON, schema violation, oversized       refuse; report to the
                            answer, unexpected status or redirect       registry operator
RegistryTimeError           (a RegistryProtocolError) the registry's    refuse; pin the active
                            time statement is missing, unsigned, for    key / report to the
                            another nonce, or not verifiable            registry operator
RegistryTLSError            certificate not trusted / hostname wrong    refuse; fix ca_bundle
agent.signing.SignatureError  bad signature or unpinned key             refuse
==========================  ==========================================  =====================

None of them ever unlocks capture: the session engine treats each as a
refusal or a fault. All carry *what*, *where* (method and URL) and a *hint*.
"""

from __future__ import annotations

from agent.errors import ScanGateError


class RegistryError(ScanGateError):
    """Base of the registry client's errors."""


class RegistryUnavailableError(RegistryError):
    """The registry could not be reached or answered with a temporary failure: retry later."""


class RegistryAuthError(RegistryError):
    """The registry refused the rig's token (401) or its access to a production (403)."""


class RegistryProtocolError(RegistryError):
    """The registry's answer is not what the protocol allows: refuse it."""


class RegistryTimeError(RegistryProtocolError):
    """The registry's signed time statement is missing, replayed, forged or signed by an untrusted key.

    Without a verified statement the rig cannot know registry time, so no consent is judged.
    """


class RegistryTLSError(RegistryError):
    """The registry's TLS certificate could not be verified: refuse to talk to it."""


class RegistryNotConfiguredError(RegistryError):
    """No registry URL is configured."""
