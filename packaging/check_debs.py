#!/usr/bin/env python3
"""Install both .deb packages in a clean Debian 12 chroot and check they work there.

Usage (as root, on Debian or Ubuntu with ``debootstrap``; after ``build.py rig``,
``build.py registry`` and ``build.py deb``):

    python3 packaging/check_debs.py [--dist DIST] [--faces DIR] [--keep]

What it does, printing each step and a final PASS or FAIL (exit status 0 or 1; 2 when it
cannot run here):

1. A minimal Debian 12 (``debootstrap --variant=minbase bookworm``) in a fresh folder under
   /var/tmp. The debootstrapped tree is cached as a tar file in the user cache folder
   (``$XDG_CACHE_HOME/scangate/check-debs``), so a rerun unpacks it in seconds.
2. ``dpkg -i`` both packages, then ``apt-get -f install`` with recommends off: the declared
   ``Depends`` alone must make both packages installed.
3. ``ldd`` over every shared library and executable in both bundles, with the bundle's own
   folder on the library path as the PyInstaller bootloader sets it: no ``not found``
   (a Qt platform plugin missing libxcb-icccm4, libGL, ... shows up here, not at a user's).
4. The registry: the documented one-time ``scangate registry init`` (docs/install.md) as
   the service user, then the service started as its systemd unit says (the installed unit
   file's ``ExecStart``, ``User``, ``Group``, ``Environment``, ``EnvironmentFile`` and
   ``WorkingDirectory``: systemd itself cannot run in a chroot), until it answers
   ``GET /v1/health``.
5. The rig, as an ordinary user, with only the package's ``/usr/bin/scangate`` on the PATH:
   ``demo --headless --scenario confirm --out DIR``, ``verify DIR/sessions.jsonl --key
   DIR/rig-public.pem``, and ``enrol`` two photos + ``identify`` a third one of one person
   from the shared face set (copied into the chroot's /tmp only, deleted with the chroot).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from systemd_unit import ServiceCommand, service_command  # the sibling module, on the path set above

ROOT = Path(__file__).resolve().parent.parent
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
SOURCES = (
    f"deb {MIRROR} {SUITE} main\n"
    f"deb {MIRROR} {SUITE}-updates main\n"
    f"deb http://deb.debian.org/debian-security {SUITE}-security main\n"
)
REGISTRY_UNIT = "/usr/lib/systemd/system/scangate-registry.service"
REGISTRY_ENV = "/etc/scangate/registry.env"
REGISTRY_INIT_SCRIPT = "set -a && . /etc/scangate/registry.env && exec scangate registry init"
"""The one-time step of docs/install.md: ``sudo -u scangate-registry sh -c '...'`` there, runuser here."""
OPERATOR = "technician"
PASSPHRASE_ENV = "SCANGATE_TEMPLATE_PASSPHRASE"
"""agent.faces.sealing.DEFAULT_PASSPHRASE_ENV (tests/test_packages.py keeps the two equal)."""
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png"}
_NOT_FOUND = re.compile(r"^\s*(\S+) => not found", re.MULTILINE)


class CheckFailedError(Exception):
    """A step found a problem; the message says what."""


class Report:
    """Prints each step with its time, and remembers failures and measurements."""

    def __init__(self) -> None:
        self.failures: list[str] = []
        self.measured: dict[str, str] = {}

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        """Run one step: print its title, then 'ok' with its time, or 'FAILED' with why."""
        print(f"\n==> {title}", flush=True)
        started = time.monotonic()
        try:
            yield
        except (CheckFailedError, subprocess.CalledProcessError, OSError) as exc:
            self.failures.append(f"{title}: {exc}")
            print(f"    FAILED ({time.monotonic() - started:.1f} s): {exc}", flush=True)
        else:
            print(f"    ok ({time.monotonic() - started:.1f} s)", flush=True)

    def measure(self, what: str, value: str) -> None:
        """Note a measurement for the summary."""
        self.measured[what] = value
        print(f"    {what}: {value}", flush=True)


def cache_dir() -> Path:
    """Where the debootstrapped tree is kept between runs (never inside the repository)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "scangate" / "check-debs"


def _run(*args: str | Path, timeout: float = 1800, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise CheckFailedError(
            f"`{' '.join(str(a) for a in args)}` exited {result.returncode}:\n{_tail(result.stdout + result.stderr)}"
        )
    return result


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join("      " + line for line in text.strip().splitlines()[-lines:])


class Chroot:
    """A Debian tree under /var/tmp, with /proc mounted while it is in use."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.mounted: list[Path] = []

    def run(
        self,
        *command: str,
        user: str | None = None,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        timeout: float = 1800,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` inside, with exactly ``env`` (PATH and LANG by default)."""
        environment = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG": "C.UTF-8",
        }
        environment.update(env or {})
        chroot = ["chroot", *([f"--userspec={user}"] if user else []), str(self.path)]
        chdir = [f"--chdir={cwd}"] if cwd else []
        assignments = [f"{key}={value}" for key, value in environment.items()]
        return _run(
            *chroot, "/usr/bin/env", "-i", *chdir, *assignments, *command, timeout=timeout, check=check
        )

    def mount(self) -> None:
        """Mount /proc (apt, ldd and the bundles need it) and give the tree this machine's DNS."""
        shutil.copyfile("/etc/resolv.conf", self.path / "etc" / "resolv.conf")
        _run("mount", "-t", "proc", "proc", self.path / "proc")
        self.mounted.append(self.path / "proc")

    def remove(self) -> None:
        """Unmount and delete the tree."""
        for point in reversed(self.mounted):
            if _run("umount", point, check=False).returncode != 0:
                _run("umount", "-l", point, check=False)
        self.mounted.clear()
        if f" {self.path}/" in Path("/proc/mounts").read_text(encoding="utf-8"):
            raise CheckFailedError(f"something is still mounted under {self.path}; not deleting it")
        shutil.rmtree(self.path, ignore_errors=True)


def make_chroot(report: Report, cache: Path) -> Chroot:
    """A fresh minimal Debian 12 tree: unpacked from ``cache``, or debootstrapped (and cached there)."""
    cached = cache / f"{SUITE}-minbase-{_run('dpkg', '--print-architecture').stdout.strip()}.tar"
    path = Path(tempfile.mkdtemp(prefix="scangate-check-debs-", dir="/var/tmp"))
    path.chmod(0o755)
    if cached.exists():
        _run("tar", "--numeric-owner", "-xpf", cached, "-C", path)
        report.measure("chroot from cache", str(cached))
    else:
        started = time.monotonic()
        _run("debootstrap", "--variant=minbase", SUITE, path, MIRROR, timeout=3600)
        report.measure("debootstrap (first run)", f"{time.monotonic() - started:.0f} s")
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(".partial")
        _run("tar", "--numeric-owner", "-cpf", partial, "-C", path, ".")
        partial.replace(cached)
    (path / "etc" / "apt" / "sources.list").write_text(SOURCES, encoding="ascii")
    return Chroot(path)


def newest_deb(dist: Path, package: str) -> Path:
    """The most recently built ``package_*.deb`` in ``dist``."""
    found = sorted(dist.glob(f"{package}_*.deb"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise CheckFailedError(f"no {package}_*.deb in {dist}: run `python3 packaging/build.py deb` first")
    return found[-1]


def install(chroot: Chroot, debs: list[Path], report: Report) -> None:
    """``dpkg -i`` (unmet dependencies expected), then ``apt-get -f install``: both packages installed."""
    inside = []
    for deb in debs:
        shutil.copyfile(deb, chroot.path / "tmp" / deb.name)
        inside.append(f"/tmp/{deb.name}")
    apt_env = {"DEBIAN_FRONTEND": "noninteractive"}
    started = time.monotonic()
    dpkg = chroot.run("dpkg", "-i", *inside, env=apt_env, check=False)  # stops at the missing dependencies
    report.measure("dpkg -i (both)", f"{time.monotonic() - started:.1f} s")
    started = time.monotonic()
    chroot.run("apt-get", "update", "-q", env=apt_env)
    report.measure("apt-get update", f"{time.monotonic() - started:.1f} s")
    started = time.monotonic()
    result = chroot.run(
        "apt-get", "-f", "install", "-y", "-q", "--no-install-recommends", env=apt_env, timeout=3600
    )
    report.measure("apt-get -f install", f"{time.monotonic() - started:.1f} s")
    added = re.search(r"(\d+) newly installed", result.stdout)
    report.measure("packages pulled in by Depends", added.group(1) if added else "?")
    space = re.search(r"After this operation, (.+) of additional disk space will be used", result.stdout)
    report.measure("disk space they take", space.group(1) if space else "?")
    for deb in debs:
        package = deb.name.split("_")[0]
        status = chroot.run("dpkg-query", "-W", "-f=${Status}", package, check=False).stdout
        if status != "install ok installed":
            raise CheckFailedError(
                f"{package} is not installed after apt-get -f install: {status!r}\n"
                f"    dpkg -i said:\n{_tail(dpkg.stdout + dpkg.stderr)}\n    apt-get said:\n{_tail(result.stdout)}"
            )
    for deb in debs:
        chroot.path.joinpath("tmp", deb.name).unlink()


def unresolved_libraries(chroot: Chroot, bundle: str) -> dict[str, list[str]]:
    """Libraries ``ldd`` cannot find for the bundle's files: soname -> files needing it."""
    script = (
        f"cd {bundle} && find . -type f \\( -name '*.so' -o -name '*.so.*' -o -name scangate \\)"
        f" -print0 | LD_LIBRARY_PATH={bundle}/_internal xargs -0 -n 40 ldd 2>&1; true"
    )
    output = chroot.run("/bin/sh", "-c", script, timeout=1800).stdout
    missing: dict[str, list[str]] = {}
    current = ""
    for line in output.splitlines():
        if line and not line[0].isspace() and line.endswith(":"):
            current = line[:-1]
        for soname in _NOT_FOUND.findall(line):
            missing.setdefault(soname, []).append(current)
    return missing


def check_libraries(chroot: Chroot, report: Report) -> None:
    """Every library of both bundles resolves in the clean system plus the declared Depends."""
    problems = []
    for bundle in ("/usr/lib/scangate-rig", "/usr/lib/scangate-registry"):
        files = chroot.run("/bin/sh", "-c", f"find {bundle} -type f -name '*.so*' | wc -l").stdout.strip()
        missing = unresolved_libraries(chroot, bundle)
        report.measure(f"shared libraries checked in {bundle}", files)
        for soname, needers in sorted(missing.items()):
            problems.append(f"{soname} (needed by {len(needers)} file(s), e.g. {bundle}/{needers[0]})")
    if problems:
        raise CheckFailedError("ldd: not found:\n      " + "\n      ".join(problems))


def free_port() -> int:
    """A TCP port free on loopback now (the machine is shared: 8765 may be taken)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def registry_service(chroot: Chroot, report: Report) -> None:
    """The documented init, then the unit's command as its user, until /v1/health answers."""
    env_file = chroot.path / REGISTRY_ENV.lstrip("/")
    port = free_port()
    settings = env_file.read_text(encoding="utf-8")
    edited, count = re.subn(
        r"^SCANGATE_REGISTRY_SERVE_ARGS=.*$",
        f'SCANGATE_REGISTRY_SERVE_ARGS="--host 127.0.0.1 --port {port}"',
        settings,
        flags=re.MULTILINE,
    )
    if count != 1:
        raise CheckFailedError(f"{REGISTRY_ENV} has no SCANGATE_REGISTRY_SERVE_ARGS line to edit")
    env_file.write_text(edited, encoding="utf-8")  # as the administrator would, with sudoedit

    unit = service_command(
        (chroot.path / REGISTRY_UNIT.lstrip("/")).read_text(encoding="utf-8"),
        lambda path: (chroot.path / path.lstrip("/")).read_text(encoding="utf-8"),
    )
    print(f"    unit: User={unit.user} Group={unit.group} WorkingDirectory={unit.working_directory}")
    print(f"    unit: ExecStart -> {' '.join(unit.argv)}")
    started = time.monotonic()
    user = unit.user or "root"
    init = chroot.run("runuser", "-u", user, "--", "sh", "-c", REGISTRY_INIT_SCRIPT)
    report.measure("registry init", f"{time.monotonic() - started:.1f} s")
    print(_tail(re.sub(r"shown only now: \S+", "shown only now: <redacted>", init.stdout), 6))
    if not (chroot.path / "var/lib/scangate-registry/registry-template.key").exists():
        raise CheckFailedError("registry init did not create the template key where registry.env says")
    _serve_until_healthy(chroot, unit, port, report)


def _serve_until_healthy(chroot: Chroot, unit: ServiceCommand, port: int, report: Report) -> None:
    userspec = f"{unit.user}:{unit.group or unit.user}" if unit.user else None
    environment = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
    environment.update(unit.environment)
    command = [
        "chroot", *([f"--userspec={userspec}"] if userspec else []), str(chroot.path), "/usr/bin/env", "-i",
        *([f"--chdir={unit.working_directory}"] if unit.working_directory else []),
        *(f"{key}={value}" for key, value in environment.items()), *unit.argv,
    ]  # fmt: skip
    log_path = chroot.path / "tmp" / "registry-service.log"
    with log_path.open("w", encoding="utf-8") as log:
        started = time.monotonic()
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            answer = _wait_for_health(port, server, deadline=started + 120)
            report.measure("service start until /v1/health answers", f"{time.monotonic() - started:.1f} s")
            print(f"    GET http://127.0.0.1:{port}/v1/health -> {answer}")
            owner = int(_run("ps", "-o", "uid=", "-p", str(server.pid)).stdout)
            if unit.user and owner != _uid_in(chroot, unit.user):
                raise CheckFailedError(f"the service runs as uid {owner}, not as {unit.user}")
        except CheckFailedError as exc:
            raise CheckFailedError(f"{exc}\n    service output:\n{_tail(log_path.read_text())}") from None
        finally:
            os.killpg(server.pid, 15)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, 9)
                server.wait()


def _uid_in(chroot: Chroot, user: str) -> int:
    for line in (chroot.path / "etc" / "passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == user:
            return int(fields[2])
    raise CheckFailedError(f"no user {user} in the chroot")


def _wait_for_health(port: int, server: subprocess.Popen[bytes], deadline: float) -> str:
    url = f"http://127.0.0.1:{port}/v1/health"
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise CheckFailedError(f"the service exited with status {server.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                body = response.read().decode()
                if response.status == 200:
                    return f"{response.status} {body}"
        except OSError:
            pass
        time.sleep(0.1)
    raise CheckFailedError(f"no answer on {url} within 120 s")


def rig_commands(chroot: Chroot, faces: Path, report: Report) -> None:
    """The headless rehearsal, verification and identification as an ordinary user of the rig."""
    chroot.run("useradd", "--create-home", "--shell", "/bin/sh", OPERATOR)
    people = sorted(p for p in (faces / "identities").iterdir() if p.is_dir())
    photos = sorted(p for p in people[0].iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)[:3]
    if len(photos) < 3:
        raise CheckFailedError(f"need three photos of {people[0].name} in {faces}")
    photo_dir = chroot.path / "tmp" / "faces"
    photo_dir.mkdir(mode=0o755)
    for photo in photos:
        shutil.copyfile(photo, photo_dir / photo.name)
        (photo_dir / photo.name).chmod(0o644)
    inside = [f"/tmp/faces/{photo.name}" for photo in photos]
    home = f"/home/{OPERATOR}"
    env = {"HOME": home, "PATH": "/usr/bin:/bin", PASSPHRASE_ENV: "check-debs-passphrase"}

    def scangate(*args: str) -> str:
        started = time.monotonic()
        result = chroot.run("scangate", *args, user=OPERATOR, env=env, cwd=home, timeout=900)
        report.measure(f"scangate {args[0]}", f"{time.monotonic() - started:.1f} s")
        return result.stdout

    if chroot.run("/bin/sh", "-c", "command -v python3 || true").stdout.strip():
        raise CheckFailedError("python3 is installed in the chroot: the rig must not need it")
    print(f"    {scangate('--version').strip()}")
    out = f"{home}/sg"
    played = scangate("demo", "--headless", "--scenario", "confirm", "--out", out)
    if "scenario confirm: as expected" not in played:
        raise CheckFailedError(f"the rehearsal did not end as expected:\n{_tail(played)}")
    verified = scangate("verify", f"{out}/sessions.jsonl", "--key", f"{out}/rig-public.pem")
    if "VERDICT: INTACT" not in verified:
        raise CheckFailedError(f"verify did not find the log intact:\n{_tail(verified)}")
    store = f"{home}/store"
    scangate("enrol", "--store", store, "--performer", "p1", *inside[:2])
    answer = json.loads(scangate("identify", "--store", store, "--json", inside[2]).splitlines()[0])
    print(
        f"    identify {photos[2].parent.name}/{photos[2].name}: {answer['decision']} {answer.get('performer_id')}"
    )
    if answer["decision"] != "match" or answer.get("performer_id") != "p1":
        raise CheckFailedError(f"identify did not match the enrolled person: {answer}")


def main(argv: list[str]) -> int:
    """Run every step; 0 when all pass, 1 when any fails, 2 when the check cannot run here."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="folder of the .deb files")
    default_faces = Path(os.environ.get("SCANGATE_FACES_DIR", ROOT.parent / "shared" / "faces"))
    parser.add_argument("--faces", type=Path, default=default_faces, help="the shared face photo set")
    parser.add_argument("--cache", type=Path, default=cache_dir(), help="folder of the cached Debian tree")
    parser.add_argument(
        "--keep", action="store_true", help="keep the chroot afterwards (its path is printed)"
    )
    args = parser.parse_args(argv)
    if os.geteuid() != 0 or shutil.which("debootstrap") is None or shutil.which("chroot") is None:
        print("check_debs needs root, chroot and debootstrap (apt-get install debootstrap).", file=sys.stderr)
        return 2
    try:
        debs = [newest_deb(args.dist, "scangate-rig"), newest_deb(args.dist, "scangate-registry")]
    except CheckFailedError as exc:
        print(exc, file=sys.stderr)
        return 2
    report = Report()
    report.measure("load average at start (1, 5, 15 min)", " ".join(f"{v:.1f}" for v in os.getloadavg()))
    for deb in debs:
        report.measure(deb.name, f"{deb.stat().st_size / 1e6:.0f} MB")
    chroot: Chroot | None = None
    try:
        with report.step(f"clean Debian 12 ({SUITE}, minbase)"):
            chroot = make_chroot(report, args.cache)
            chroot.mount()
        if chroot is not None and not report.failures:
            with report.step("dpkg -i both packages, then apt-get -f install (declared Depends only)"):
                install(chroot, debs, report)
        if chroot is not None and not report.failures:
            with report.step("ldd over every library of both bundles: nothing 'not found'"):
                check_libraries(chroot, report)
            with report.step("registry: documented init, then the systemd unit's command, until /v1/health"):
                registry_service(chroot, report)
            with report.step("rig: demo --headless, verify, enrol + identify, as a user, no Python"):
                rig_commands(chroot, args.faces, report)
    finally:
        if chroot is not None:
            if args.keep:
                print(f"\nchroot kept at {chroot.path} (/proc is still mounted there)")
            else:
                chroot.remove()
    report.measure("load average at end (1, 5, 15 min)", " ".join(f"{v:.1f}" for v in os.getloadavg()))
    print("\nSummary:")
    for what, value in report.measured.items():
        print(f"  {what}: {value}")
    if report.failures:
        print("\nFAIL:\n  " + "\n  ".join(failure.splitlines()[0] for failure in report.failures))
        return 1
    print("\nPASS: both packages install on a clean Debian 12 and work there.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
