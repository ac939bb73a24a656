"""A real single-node Ceph cluster with an S3 gateway (RGW) for integration tests.

Starts the Debian Ceph daemons (installed by scripts/setup-ceph.sh) in a fresh temporary directory:
one monitor, one manager, one memstore OSD and one radosgw, with cephx auth (radosgw never
authenticates without it, harness-facts §4f), on free loopback ports so concurrent runs never
collide. Every daemon is a direct child killed on teardown, on failure while starting, and by the
kernel if this process dies first. The S3 secrets it creates are never logged.

Run ``python -m tests.harness.ceph`` to start a cluster once and print how long each step took.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ctypes
import fcntl
import json
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from workloads.common.bucketpolicy import rgw_user_arn
from tests.harness.ports import free_port

log = logging.getLogger(__name__)

# Binaries the harness runs, and the Debian package each comes from (for the skip message).
REQUIRED_BINARIES = {
    "ceph-authtool": "ceph-common",
    "ceph": "ceph-common",
    "radosgw-admin": "ceph-common",
    "ceph-mon": "ceph-mon",
    "monmaptool": "ceph-base",
    "ceph-mgr": "ceph-mgr",
    "ceph-osd": "ceph-osd",
    "radosgw": "radosgw",
}

START_TIMEOUT_S = 90.0  # failure detection only; a healthy start takes ~10 s
_CLI_TIMEOUT_S = 60.0
REGION = "us-east-1"


# Our short daemon names -> the Ceph entity each runs as (its log file is log/<entity>.log).
_ENTITY = {"mon": "mon.a", "mgr": "mgr.x", "osd": "osd.0", "rgw": "client.rgw.a"}


class CephStartError(RuntimeError):
    """A daemon or admin command failed while the cluster was starting."""


def missing_binaries() -> list[str]:
    """The required Ceph binaries that are not on PATH (empty when the harness can run)."""
    return [name for name in REQUIRED_BINARIES if shutil.which(name) is None]


def _die_with_parent() -> None:
    """Runs in the child before exec: the kernel SIGKILLs it if the test process dies first."""
    PR_SET_PDEATHSIG = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "<no log>"


def _config(base: Path, fsid: str, mon_port: int, rgw_port: int) -> str:
    return f"""\
[global]
fsid = {fsid}
mon host = v2:127.0.0.1:{mon_port}
mon initial members = a
public network = 127.0.0.0/8
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
auth allow insecure global id reclaim = false
keyring = {base}/keyring
run dir = {base}/run
admin socket = {base}/run/$name.asok
log file = {base}/log/$name.log
pid file = {base}/run/$name.pid
mon data = {base}/mon/$name
osd data = {base}/osd/$name
mgr data = {base}/mgr/$name
ms bind ipv6 = false
# One OSD: every pool has a single replica and CRUSH places it on the one host.
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 1
mon max pg per osd = 1000
# Maps change many times while RGW creates its pools; proposing them sooner and ticking (which
# sends PG-create messages) more often is what makes a cold start and the first bucket quick.
paxos propose interval = 0.05
mon tick interval = 1
osd mon report interval = 1
osd objectstore = memstore
memstore device bytes = 2147483648
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:{rgw_port}
rgw data = {base}/rgw/$name
rgw thread pool size = 64
"""


@dataclass
class CephCluster:
    """The daemons of one throwaway cluster and the admin commands run against it."""

    base: Path
    mon_port: int
    rgw_port: int
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def conf(self) -> Path:
        return self.base / "ceph.conf"

    @property
    def rgw_url(self) -> str:
        return f"http://127.0.0.1:{self.rgw_port}"

    # -- processes ----------------------------------------------------------------------------

    def _run(self, *args: str, what: str, timeout: float = _CLI_TIMEOUT_S) -> str:
        """Run a short admin command; its stdout is returned, never logged (it may hold keys)."""
        try:
            result = subprocess.run(
                list(args), cwd=self.base, capture_output=True, text=True, timeout=timeout,
                stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent,
            )
        except subprocess.TimeoutExpired:
            raise CephStartError(f"{what}: `{args[0]}` did not finish within {timeout:.0f} s") from None
        if result.returncode != 0:
            raise CephStartError(f"{what}: `{' '.join(args[:3])} ...` exited {result.returncode}: {result.stderr[-2000:]}")
        return result.stdout

    def _ceph(self, *args: str, what: str) -> str:
        return self._run("ceph", "-c", str(self.conf), "--connect-timeout", "30", *args, what=what)

    def _spawn(self, name: str, *args: str) -> None:
        """Start a daemon in the foreground (-f) as our direct child, output to its own file."""
        with (self.base / "log" / f"{name}.out").open("wb") as out:
            self.processes[name] = subprocess.Popen(
                [*args, "-f", "-c", str(self.conf)], cwd=self.base, stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
            )

    def _check_alive(self) -> None:
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                raise CephStartError(
                    f"{name} exited with status {proc.returncode} while the cluster was starting; "
                    f"its log ({self.base}/log):\n{_tail(self.base / 'log' / f'{name}.out', 800)}"
                    f"{_tail(self._daemon_log(name))}"
                )

    def _daemon_log(self, name: str) -> Path:
        return self.base / "log" / f"{_ENTITY[name]}.log"

    def _mark(self, step: str, since: float) -> float:
        now = time.monotonic()
        self.timings[step] = round(now - since, 2)
        return now

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self, deadline_s: float = START_TIMEOUT_S) -> None:
        """Bring up mon, mgr, OSD and RGW; raises CephStartError (after stopping) on failure."""
        try:
            self._start(time.monotonic() + deadline_s)
        except BaseException:
            self.stop()
            raise

    def _start(self, deadline: float) -> None:
        t0 = t = time.monotonic()
        for sub in ("run", "log", "mon/mon.a", "mgr/mgr.x", "osd/osd.0", "rgw/client.rgw.a"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        fsid = str(uuid.uuid4())
        self.conf.write_text(_config(self.base, fsid, self.mon_port, self.rgw_port))

        # One keyring with every entity and its caps. `ceph-mon --mkfs` imports all of it, so no
        # `ceph auth get-or-create` round trips are needed, and the OSD's key exists before its
        # mkfs (which otherwise fails with "failed to fetch mon config", harness-facts §4f).
        keyring = str(self.base / "keyring")
        entities = {
            "mon.": ["mon", "allow *"],
            "client.admin": ["mon", "allow *", "osd", "allow *", "mgr", "allow *", "mds", "allow *"],
            "mgr.x": ["mon", "allow profile mgr", "osd", "allow *", "mds", "allow *"],
            "osd.0": ["mon", "allow profile osd", "mgr", "allow profile osd", "osd", "allow *"],
            "client.rgw.a": ["mon", "allow rw", "osd", "allow rwx", "mgr", "allow rw"],
        }
        for i, (entity, caps) in enumerate(entities.items()):
            cap_args = [a for pair in zip(caps[::2], caps[1::2]) for a in ("--cap", *pair)]
            create = ["--create-keyring"] if i == 0 else []
            self._run("ceph-authtool", keyring, *create, "--gen-key", "-n", entity, *cap_args, what=f"key for {entity}")
        # An explicit monmap pins the monitor to our free port (msgr v2 only); built from the
        # config alone it would take the default ports 3300/6789 and collide with other runs.
        monmap = str(self.base / "monmap")
        self._run("monmaptool", "--create", "--addv", "a", f"[v2:127.0.0.1:{self.mon_port}]", "--fsid", fsid, monmap,
                  what="monmaptool --create")
        self._run("ceph-mon", "-c", str(self.conf), "--mkfs", "-i", "a", "--monmap", monmap, "--keyring", keyring,
                  what="ceph-mon --mkfs")
        t = self._mark("keys+mon mkfs", t)

        self._spawn("mon", "ceph-mon", "-i", "a")
        self._spawn("mgr", "ceph-mgr", "-i", "x")
        osd_uuid = str(uuid.uuid4())
        osd_id = self._ceph("osd", "new", osd_uuid, what="ceph osd new").strip()
        if osd_id != "0":
            raise CephStartError(f"ceph osd new returned id {osd_id!r}, expected 0 on a fresh cluster")
        t = self._mark("mon up + osd new", t)
        self._run("ceph-osd", "-c", str(self.conf), "-i", "0", "--mkfs", "--osd-uuid", osd_uuid, what="ceph-osd --mkfs")
        self._spawn("osd", "ceph-osd", "-i", "0")
        # RGW waits for the OSD by itself; starting it now overlaps its own initialisation.
        self._spawn("rgw", "radosgw", "-n", "client.rgw.a")
        t = self._mark("osd mkfs+spawn", t)

        self._wait_rgw(deadline)
        self._mark("rgw answering", t)
        self.timings["total start"] = round(time.monotonic() - t0, 2)

    def _wait_rgw(self, deadline: float) -> None:
        while True:
            self._check_alive()
            try:
                # Anonymous ListBuckets: any HTTP answer means the gateway serves S3.
                with urllib.request.urlopen(self.rgw_url + "/", timeout=2):
                    return
            except urllib.error.HTTPError:
                return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise CephStartError(
                    f"radosgw did not answer on {self.rgw_url} in time; RGW log:\n{_tail(self._daemon_log('rgw'))}"
                )
            time.sleep(0.2)

    def stop(self) -> None:
        """Kill every daemon this cluster started and delete its directory (idempotent)."""
        # SIGKILL, not SIGTERM: the data is throwaway, and a memstore OSD would spend its
        # shutdown saving every object to disk.
        for proc in self.processes.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
        for name, proc in self.processes.items():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL does not get ignored
                log.error("ceph %s (pid %s) survived SIGKILL", name, proc.pid)
        self.processes.clear()
        shutil.rmtree(self.base, ignore_errors=True)

    # -- users --------------------------------------------------------------------------------

    def create_user(self, uid: str, display_name: str | None = None) -> tuple[str, str]:
        """Create an RGW user with generated S3 keys; returns (access_key, secret_key)."""
        out = self._run(
            "radosgw-admin", "-c", str(self.conf), "user", "create", f"--uid={uid}",
            f"--display-name={display_name or uid}", what=f"radosgw-admin user create {uid}",
        )
        try:
            key = next(k for k in json.loads(out)["keys"] if k["user"] == uid)
            return str(key["access_key"]), str(key["secret_key"])
        except (ValueError, KeyError, StopIteration):
            # Do not echo `out`: it contains the new user's secret key.
            raise CephStartError(f"radosgw-admin user create {uid}: output had no S3 key for the user") from None


@dataclass(frozen=True)
class RgwEndpoint:
    """A ready S3 endpoint on the throwaway cluster, with one user (``uid``) and its keys."""

    url: str
    uid: str
    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    cluster: CephCluster = field(repr=False, compare=False)
    region: str = REGION
    startup_seconds: float = 0.0
    warmup_seconds: float = 0.0

    @property
    def user_arn(self) -> str:
        """The principal ARN of this endpoint's user, as RGW bucket policies spell it."""
        return rgw_user_arn(self.uid)

    def create_user(self, uid: str) -> tuple[str, str]:
        """Another S3 user on the same cluster: (access_key, secret_key)."""
        return self.cluster.create_user(uid)

    def boto3_client(self, access_key: str | None = None, secret_key: str | None = None) -> Any:
        """A plain boto3 S3 client for this endpoint (this user's keys unless others are given)."""
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            "s3", endpoint_url=self.url, region_name=self.region,
            aws_access_key_id=access_key or self.access_key, aws_secret_access_key=secret_key or self.secret_key,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                          request_checksum_calculation="when_required", response_checksum_validation="when_required"),
        )


_DIR_PREFIX = "pipeworks-ceph-"
_STALE_AFTER_S = 120.0


def _lock_dir(base: Path) -> int:
    """Hold an exclusive lock on ``base/.lock`` for the cluster's lifetime (the kernel drops it
    when this process dies), which tells later runs whether a directory is still in use."""
    fd = os.open(base / ".lock", os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def reap_stale_dirs(root: Path | None = None) -> list[Path]:
    """Delete directories left by runs that were killed before their cleanup could run.

    A directory is stale when its lock is free and it is older than a couple of minutes; the
    daemons of such a run are already gone (they die with their parent, see _die_with_parent).
    """
    reaped = []
    for path in (root or Path(tempfile.gettempdir())).glob(f"{_DIR_PREFIX}*"):
        try:
            if time.time() - path.stat().st_mtime < _STALE_AFTER_S or not (path / ".lock").exists():
                continue
            fd = os.open(path / ".lock", os.O_RDWR | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # a live run holds it
        finally:
            os.close(fd)
        shutil.rmtree(path, ignore_errors=True)
        reaped.append(path)
    return reaped


@contextlib.contextmanager
def running_rgw(uid: str = "pipeworks-test") -> Iterator[RgwEndpoint]:
    """Start a cluster, create ``uid``, warm RGW up; stop and delete everything on exit."""
    missing = missing_binaries()
    if missing:
        packages = sorted({REQUIRED_BINARIES[b] for b in missing})
        raise FileNotFoundError(f"Ceph binaries not installed: {', '.join(missing)} (packages {', '.join(packages)})")
    t0 = time.monotonic()
    for path in reap_stale_dirs():
        log.info("removed %s left behind by a killed run", path)
    base = Path(tempfile.mkdtemp(prefix=_DIR_PREFIX))
    lock_fd = _lock_dir(base)
    cluster = CephCluster(base=base, mon_port=free_port(), rgw_port=free_port())
    try:
        cluster.start()
        access_key, secret_key = cluster.create_user(uid)
        started = time.monotonic()
        cluster.timings["user create"] = round(started - t0 - cluster.timings["total start"], 2)
        endpoint = RgwEndpoint(url=cluster.rgw_url, uid=uid, access_key=access_key, secret_key=secret_key,
                               cluster=cluster, startup_seconds=round(started - t0, 2))
        _warm_up(endpoint)
        endpoint = dataclasses.replace(endpoint, warmup_seconds=round(time.monotonic() - started, 2))
        log.info("Ceph RGW ready at %s in %.1f s (+%.1f s first-bucket warm-up); steps: %s",
                 endpoint.url, endpoint.startup_seconds, endpoint.warmup_seconds, cluster.timings)
        yield endpoint
    finally:
        cluster.stop()
        os.close(lock_fd)


def _warm_up(endpoint: RgwEndpoint) -> None:
    """Create and delete a bucket, so tests start on a ready store: the first bucket makes RGW
    create and peer its bucket index and data pools (6 s with Ceph's default map timings, about
    0.5 s with the ones in _config)."""
    client = endpoint.boto3_client()
    bucket = f"warmup-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key="k", Body=b"warm")
    client.delete_object(Bucket=bucket, Key="k")
    client.delete_bucket(Bucket=bucket)


@pytest.fixture(scope="session")
def ceph_rgw() -> Iterator[RgwEndpoint]:
    """A warmed-up Ceph RGW for the whole session; skipped when Ceph is not installed."""
    missing = missing_binaries()
    if missing:
        pytest.skip(
            f"Ceph is not installed (missing {', '.join(missing)}); run scripts/setup-ceph.sh as root "
            "to install ceph-mon ceph-mgr ceph-osd radosgw ceph-common from Debian"
        )
    with running_rgw() as endpoint:
        yield endpoint


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with running_rgw() as ep:
        print(f"RGW {ep.url} user={ep.uid} start={ep.startup_seconds}s warm-up={ep.warmup_seconds}s")
        print("steps:", json.dumps(ep.cluster.timings))
