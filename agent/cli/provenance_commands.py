"""``scangate provenance``: check the Content Credentials a scan carries, and whether its consent still holds.

Exit status: 0 every file is valid, signed by a rig of its production and (with
``--registry``) still permitted; 1 a problem with at least one file; 2 a usage error or a
file that cannot be read. One JSON object per file with ``--json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from agent.provenance.assertions import CONSENT_LABEL
from agent.provenance.registry_lookup import RegistryLookup, RegistryLookupError
from agent.provenance.verify import (
    ProvenanceInputError,
    ProvenanceReport,
    TrustAnchor,
    anchor_from_file,
    judge_terms,
    read_manifest,
)

_TEXT_USE = {
    "notAllowed": "not allowed",
    "constrained": "allowed only as the consent says",
    "allowed": "allowed",
}


@click.command("provenance")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file, one per line.")
@click.option(
    "--registry",
    "registry_url",
    metavar="URL",
    help="The consent registry: fetch the production CA (and CRL) and check the consent is still active now.",
)
@click.option(
    "--ca",
    "ca_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The production CA: a PEM certificate, or the saved answer of GET /v1/productions/ID/ca.",
)
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def provenance(as_json: bool, registry_url: str | None, ca_file: Path | None, files: tuple[Path, ...]) -> int:
    """Validate the C2PA Content Credentials of captured FILEs and show what uses are permitted.

    Checks each file's manifest (embedded, or the sidecar FILE.c2pa) and its hash binding, the
    signer against the production's CA (--ca, or fetched with --registry), the ScanGate consent
    assertion and, with --registry, that the consent is still active and not past destroy-by.
    """
    fixed_anchor = anchor_from_file(ca_file) if ca_file is not None else None
    lookup = RegistryLookup(registry_url) if registry_url else None
    status = 0
    try:
        for path in files:
            try:
                report = _check(path, fixed_anchor, lookup)
            except ProvenanceInputError as exc:
                _emit({"file": str(path), "ok": False, "error": exc.message()}, as_json, error=True)
                status = 2
                continue
            if not report.ok:
                status = max(status, 1)
            _emit(report.as_json(), as_json)
    finally:
        if lookup is not None:
            lookup.close()
    return status


def _check(path: Path, fixed_anchor: TrustAnchor | None, lookup: RegistryLookup | None) -> ProvenanceReport:
    anchor = fixed_anchor
    manifest, report = read_manifest(path, anchor)
    if lookup is not None and anchor is None and manifest is not None:
        # The production is named inside the manifest: read it, fetch that production's CA, read again.
        production_id = _production_of(manifest)
        if production_id is not None:
            try:
                anchor = lookup.anchor(production_id)
                manifest, report = read_manifest(path, anchor)
            except RegistryLookupError as exc:
                report.problem("registry_unreachable", exc.message())
    if manifest is None:
        return report
    consent = judge_terms(report, manifest, anchor)
    if lookup is not None and consent is not None:
        try:
            lookup.check_consent(report, consent)
        except RegistryLookupError as exc:
            report.problem("registry_unreachable", exc.message())
    return report


def _production_of(manifest: dict[str, Any]) -> str | None:
    for assertion in manifest.get("assertions", []):
        if isinstance(assertion, dict) and assertion.get("label") == CONSENT_LABEL:
            value = (assertion.get("data") or {}).get("production_id")
            return value if isinstance(value, str) else None
    return None


def _emit(line: dict[str, Any], as_json: bool, *, error: bool = False) -> None:
    if as_json:
        click.echo(json.dumps(line, sort_keys=True))
        return
    if error:
        click.echo(f"{line['file']}: ERROR {line['error']}", err=True)
        return
    verdict = "OK" if line["ok"] else "PROBLEMS"
    click.echo(f"{line['file']}: {verdict}")
    click.echo(
        f"  credentials: {line['credentials']}  state: {line['validation_state']}  trust: {line['trust']}"
    )
    consent = line.get("consent")
    if consent:
        click.echo(
            f"  consent {consent['consent_id']} v{consent['consent_version']} · production"
            f" {consent['production_id']} · performer {consent['performer_id']} · {consent['capture_type']}"
        )
        click.echo(f"  uses: {', '.join(consent['use_categories'])}; destroy by {consent['destroy_by']}")
    for use, value in sorted(line["permitted_uses"].items()):
        click.echo(f"  {use}: {_TEXT_USE.get(value, value)}")
    if line.get("registry"):
        click.echo(f"  registry now: {line['registry'].get('status')}")
    for problem in line["problems"]:
        click.echo(f"  problem {problem['code']}: {problem['message']}")
    for notice in line["notices"]:
        click.echo(f"  notice {notice['code']}: {notice['message']}")
