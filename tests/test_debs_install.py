"""Both .deb packages install on a clean Debian 12 and work there (``packaging/check_debs.py``).

Marked ``slow``: a debootstrapped chroot (cached after the first run), ``dpkg -i`` +
``apt-get -f install`` of about 360 MB of packages, the registry service until ``/v1/health``
answers, and the rig's headless rehearsal, verification and identification: minutes on 2
cores (docs/install.md). Needs root and debootstrap, and the packages built beforehand
(``packaging/build.py rig``, ``registry``, ``deb``, or ``$SCANGATE_DIST_DIR``); skips, saying
which is missing, otherwise.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow


def test_both_packages_install_with_their_depends_and_work_on_a_clean_debian(faces_dir: Path) -> None:
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("needs root: debootstrap, chroot and mounting /proc")
    if shutil.which("debootstrap") is None:
        pytest.skip("needs debootstrap (apt-get install debootstrap)")
    dist = Path(os.environ.get("SCANGATE_DIST_DIR", REPO_ROOT / "dist"))
    for package in ("scangate-rig", "scangate-registry"):
        if not any(dist.glob(f"{package}_*.deb")):
            pytest.skip(
                f"no {package}_*.deb in {dist}: build it first with `python3 packaging/build.py rig`,"
                " `... registry` and `... deb` (minutes each; packaging/README.md)"
            )
    result = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "packaging" / "check_debs.py"),
            "--dist",
            str(dist),
            "--faces",
            str(faces_dir),
            "--cache",  # the user's cache, not the per-test one tests/conftest.py sets
            str(Path(pwd.getpwuid(os.getuid()).pw_dir) / ".cache" / "scangate" / "check-debs"),
        ],
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    print(result.stdout)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "PASS: both packages install on a clean Debian 12" in result.stdout
