"""Maintainer scripts and lintian overrides of the two packages (debs.py puts them in place).

Both packages provide ``/usr/bin/scangate`` through ``update-alternatives`` (the rig's bundle
wins when both are installed: it has every command, the registry's too), so they can be
installed on one machine. The registry's systemd unit is handled as ``dh_installsystemd``
does (``deb-systemd-helper``, ``deb-systemd-invoke``), except that it is started only once
``scangate registry init`` has created the template key (docs/install.md).
"""

from __future__ import annotations

REGISTRY_UNIT = "scangate-registry.service"
ALTERNATIVE_PRIORITY = {"scangate-rig": 50, "scangate-registry": 20}

_ALTERNATIVE_INSTALL = """if [ "$1" = configure ]; then
    update-alternatives --install /usr/bin/scangate scangate /usr/lib/{package}/scangate {priority}
fi
"""
_ALTERNATIVE_REMOVE = """if [ "$1" = remove ] || [ "$1" = deconfigure ]; then
    update-alternatives --remove scangate /usr/lib/{package}/scangate
fi
"""
_REGISTRY_POSTINST = """if [ "$1" = configure ]; then
    if ! getent passwd scangate-registry >/dev/null; then
        adduser --system --group --home /var/lib/scangate-registry --no-create-home \\
            --gecos "ScanGate consent registry" scangate-registry
    fi
    install -d -m 0700 -o scangate-registry -g scangate-registry /var/lib/scangate-registry
fi
if [ "$1" = configure ] || [ "$1" = abort-upgrade ] || [ "$1" = abort-deconfigure ] || [ "$1" = abort-remove ]; then
    deb-systemd-helper unmask {unit} >/dev/null || true
    if deb-systemd-helper --quiet was-enabled {unit}; then
        deb-systemd-helper enable {unit} >/dev/null || true
    else
        deb-systemd-helper update-state {unit} >/dev/null || true
    fi
    if [ -d /run/systemd/system ]; then
        systemctl --system daemon-reload >/dev/null || true
        # Not started before `scangate registry init` (docs/install.md) has made the template key.
        if [ -e /var/lib/scangate-registry/registry-template.key ]; then
            deb-systemd-invoke restart {unit} >/dev/null || true
        fi
    fi
fi
"""
_REGISTRY_PRERM = """if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
    deb-systemd-invoke stop {unit} >/dev/null || true
fi
"""
_REGISTRY_POSTRM = """if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null || true
fi
if [ "$1" = remove ] && command -v deb-systemd-helper >/dev/null; then
    deb-systemd-helper mask {unit} >/dev/null || true
fi
if [ "$1" = purge ] && command -v deb-systemd-helper >/dev/null; then
    deb-systemd-helper purge {unit} >/dev/null || true
    deb-systemd-helper unmask {unit} >/dev/null || true
fi
"""


def _script(*parts: str) -> str:
    return "#!/bin/sh\nset -e\n" + "".join(parts) + "exit 0\n"


def maintainer_scripts(package: str) -> dict[str, str]:
    """``postinst``, ``prerm`` (and ``postrm``) of ``package``, by file name."""
    names = {"package": package, "priority": ALTERNATIVE_PRIORITY[package], "unit": REGISTRY_UNIT}
    if package == "scangate-registry":
        return {
            "postinst": _script(_REGISTRY_POSTINST.format(**names), _ALTERNATIVE_INSTALL.format(**names)),
            "prerm": _script(_REGISTRY_PRERM.format(**names), _ALTERNATIVE_REMOVE.format(**names)),
            "postrm": _script(_REGISTRY_POSTRM.format(**names)),
        }
    return {
        "postinst": _script(_ALTERNATIVE_INSTALL.format(**names)),
        "prerm": _script(_ALTERNATIVE_REMOVE.format(**names)),
    }


_BUNDLE_REASON = """\
# The program is a PyInstaller bundle: one Python interpreter with the exact libraries its
# Python wheels were built and tested against (OpenCV, Qt, dlib, Pillow's codecs, libpq, ...),
# found through the bundle's own folder at run time, never installed for other programs.
# Debian's copies are other versions and other builds that these modules were not built for,
# so the bundled copies are the point of the package, not an oversight.
"""
_TAGS_OF_BUNDLES = {
    "embedded-library": "the bundled copies above (zlib, bzip2, expat, freetype, libjpeg, ...)",
    "library-not-linked-against-libc": (
        "CPython extension modules that call only the interpreter (e.g. _statistics, _uuid):"
        " the interpreter is linked against libc"
    ),
    "shared-library-lacks-prerequisites": (
        "CPython extension modules with no library dependency of their own: they are loaded into"
        " the bundled interpreter, which provides every symbol they use"
    ),
    "unstripped-binary-or-object": (
        "stripping breaks wheel libraries that auditwheel had rewritten with patchelf (tried:"
        " NumPy's OpenBLAS no longer loads, 'ELF load command address/offset not page-aligned'),"
        " and strip would cut the PyInstaller archive off the executable"
    ),
    "hardening-no-pie": (
        "the executable is PyInstaller's prebuilt bootloader, which only starts the bundled"
        " interpreter; it is not built from this source, and rebuilding it as PIE is PyInstaller's"
        " build, not ours"
    ),
}


_TAGS_OF_THE_RIG = {
    "missing-depends-on-sensible-utils": (
        "the string sensible-pager is in the pager code of the bundled libmount and libblkid"
        " (pulled in through GLib, which Qt links); nothing in the bundle runs a pager"
    ),
}


def lintian_overrides(package: str) -> str:
    """The overrides file of ``package``: each tag with the reason it does not apply to a bundle."""
    tags = _TAGS_OF_BUNDLES | (_TAGS_OF_THE_RIG if package == "scangate-rig" else {})
    lines = [_BUNDLE_REASON]
    for tag, reason in tags.items():
        lines.append(f"# {reason}.\n{package}: {tag} *\n")
    return "\n".join(lines)
