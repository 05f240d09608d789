"""Content Credentials (C2PA) on captured files: the consent travels with the scan.

* :mod:`agent.provenance.assertions` — what a manifest says (actions, the CAWG
  training-and-data-mining assertion, the ScanGate consent assertion);
* :mod:`agent.provenance.embed` — signing one file (embedded, or a sidecar ``.c2pa``);
* :mod:`agent.provenance.certificates` — the rig's certificate chain from the registry;
* :mod:`agent.provenance.service` — the worker thread that signs after capture;
* :mod:`agent.provenance.verify` — what ``scangate provenance`` checks.

See docs/provenance.md.
"""
