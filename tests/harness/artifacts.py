"""The Java artifacts the real-service harnesses run, pinned with SHA-256 in scripts/artifacts/jars.lock.

Two sets, each a flat list of jars (no resolution at fetch time: what runs is exactly what is locked):
- ``kafka``: the Apache Kafka broker (``org.apache.kafka:kafka_2.13``) and its runtime closure, plus a
  log4j2 binding for slf4j so the broker writes a log (tests/harness/kafka.py);
- ``spark``: what pyspark's own jars lack for ``s3a://`` and the Kafka source/sink (tests/harness/spark.py);
  the same file is the source of the jars infra/services/spark/image/Dockerfile adds (a test checks).

``python3 -m tests.harness.artifacts fetch [SET...]`` (run by scripts/setup-services.sh, so by ``make test``)
downloads them from Maven Central with Maven into ``${PIPEWORKS_JAR_CACHE:-~/.cache/pipeworks/jars}``:
Maven's local repository (the download cache) under ``maven/`` and each set's jars, checked against the lock,
under ``<set>-<digest of its lock lines>/``. A cached set is reused; a mismatching digest fails the fetch.
``python3 -m tests.harness.artifacts resolve G:A:V...`` prints lock lines for a new runtime closure.

Standard library only: the setup script runs it before (and independently of) the project's venv.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

REPO = Path(__file__).resolve().parents[2]
LOCK = REPO / "scripts" / "artifacts" / "jars.lock"
MAVEN_CENTRAL = "https://repo1.maven.org/maven2"


@dataclass(frozen=True)
class Jar:
    """One locked artifact: Maven coordinates and the SHA-256 of its jar."""

    group: str
    artifact: str
    version: str
    sha256: str

    @property
    def coordinate(self) -> str:
        return f"{self.group}:{self.artifact}:{self.version}"

    @property
    def file_name(self) -> str:
        return f"{self.artifact}-{self.version}.jar"

    @property
    def url(self) -> str:
        """Where Maven Central serves it (what the Spark image's Dockerfile ADDs)."""
        return f"{MAVEN_CENTRAL}/{self.group.replace('.', '/')}/{self.artifact}/{self.version}/{self.file_name}"


class LockError(ValueError):
    """scripts/artifacts/jars.lock is malformed."""


def parse_lock(text: str, source: str = "scripts/artifacts/jars.lock") -> dict[str, tuple[Jar, ...]]:
    """``SET GROUP:ARTIFACT:VERSION SHA256`` lines (``#`` comments) -> jars by set, in file order."""
    sets: dict[str, list[Jar]] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        coordinate = fields[1].split(":") if len(fields) == 3 else []
        if len(coordinate) != 3 or not all(coordinate):
            raise LockError(f"{source}:{number}: expected `SET GROUP:ARTIFACT:VERSION SHA256`, got {raw.strip()!r}")
        sha = fields[2].lower()
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise LockError(f"{source}:{number}: {fields[1]}: the checksum must be 64 hex digits (SHA-256)")
        jar = Jar(*coordinate, sha256=sha)
        if any(j.file_name == jar.file_name for j in sets.get(fields[0], ())):
            raise LockError(f"{source}:{number}: {fields[1]} appears twice in set {fields[0]!r}")
        sets.setdefault(fields[0], []).append(jar)
    return {name: tuple(jars) for name, jars in sets.items()}


def locked(set_name: str) -> tuple[Jar, ...]:
    sets = parse_lock(LOCK.read_text())
    if set_name not in sets:
        raise LockError(f"scripts/artifacts/jars.lock has no set {set_name!r} (sets: {', '.join(sets)})")
    return sets[set_name]


def version_of(set_name: str, group: str, artifact: str) -> str:
    """The locked version of one artifact of a set (KeyError naming it when absent)."""
    for jar in locked(set_name):
        if (jar.group, jar.artifact) == (group, artifact):
            return jar.version
    raise KeyError(f"scripts/artifacts/jars.lock set {set_name!r} has no {group}:{artifact}")


def cache_root() -> Path:
    return Path(os.environ.get("PIPEWORKS_JAR_CACHE") or Path.home() / ".cache" / "pipeworks" / "jars")


def set_dir(set_name: str, jars: tuple[Jar, ...] | None = None) -> Path:
    """Where a set's jars live: named by a digest of its lock lines, so a changed lock never reuses old jars."""
    jars = locked(set_name) if jars is None else jars
    digest = hashlib.sha256("\n".join(f"{j.coordinate} {j.sha256}" for j in jars).encode()).hexdigest()[:12]
    return cache_root() / f"{set_name}-{digest}"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def missing_reason(set_name: str) -> str:
    """Empty when every jar of the set is in the cache (fetched and verified), else why not and the fix."""
    directory = set_dir(set_name)
    if not (directory / ".complete").is_file():
        return (f"the {set_name} jars are not fetched ({directory} is missing): run `bash scripts/setup-services.sh` "
                "(or `make test`)")
    return ""


def classpath(set_name: str) -> list[Path]:
    directory = set_dir(set_name)
    return [directory / jar.file_name for jar in locked(set_name)]


def _pom(jars: tuple[Jar, ...], transitive: bool) -> str:
    """A throwaway POM whose dependencies are the jars (each without its own dependencies unless resolving)."""
    exclude = "" if transitive else "<exclusions><exclusion><groupId>*</groupId><artifactId>*</artifactId></exclusion></exclusions>"
    deps = "".join(
        f"<dependency><groupId>{escape(j.group)}</groupId><artifactId>{escape(j.artifact)}</artifactId>"
        f"<version>{escape(j.version)}</version>{exclude}</dependency>" for j in jars)
    return ('<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
            "<groupId>pipeworks.local</groupId><artifactId>jars</artifactId><version>0</version>"
            f"<packaging>pom</packaging><dependencies>{deps}</dependencies></project>")


def _mvn(pom_dir: Path, *goals: str) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise SystemExit("artifacts: Maven (`mvn`) is not on PATH; install it (Debian package `maven`)")
    # --strict-checksums: Maven refuses a download whose .sha1 from Central does not match (the lock's SHA-256
    # is checked afterwards as well); -B -q: no progress bars in `make test` output.
    # Every repository a POM names (Spark's parent adds a Google mirror) goes to Maven Central instead: the only
    # Maven registry the project's machines reach, and one place the lock's checksums were taken from.
    (pom_dir / "settings.xml").write_text(
        "<settings><mirrors><mirror><id>central-only</id><mirrorOf>*</mirrorOf>"
        f"<url>{MAVEN_CENTRAL}</url></mirror></mirrors></settings>")
    cmd = [mvn, "-B", "-q", "--strict-checksums", "-s", str(pom_dir / "settings.xml"),
           f"-Dmaven.repo.local={cache_root() / 'maven'}", *goals]
    result = subprocess.run(cmd, cwd=pom_dir, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise SystemExit(f"artifacts: `mvn {' '.join(goals)}` exited {result.returncode}:\n"
                         f"{(result.stdout + result.stderr)[-3000:]}")


def fetch(set_name: str) -> Path:
    """Download a set into the cache and verify every jar against the lock; returns the set's directory."""
    jars = locked(set_name)
    directory = set_dir(set_name, jars)
    cache_root().mkdir(parents=True, exist_ok=True)
    # One fetch at a time per cache: several work trees (or CI beside a developer) share it.
    with (cache_root() / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (directory / ".complete").is_file():
            print(f"artifacts: {set_name} cached ({directory})")
            return directory
        return _fetch(set_name, jars, directory)


def _fetch(set_name: str, jars: tuple[Jar, ...], directory: Path) -> Path:
    start = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix=f".{set_name}-", dir=cache_root()))
    try:
        (work / "pom.xml").write_text(_pom(jars, transitive=False))
        _mvn(work, "dependency:copy-dependencies", "-DoutputDirectory=jars", "-DexcludeTransitive=true")
        got = {p.name for p in (work / "jars").glob("*.jar")}
        for jar in jars:
            path = work / "jars" / jar.file_name
            if jar.file_name not in got:
                raise SystemExit(f"artifacts: Maven did not produce {jar.file_name} ({jar.coordinate})")
            actual = sha256_of(path)
            if actual != jar.sha256:
                raise SystemExit(f"artifacts: {jar.coordinate}: SHA-256 {actual} does not match "
                                 f"scripts/artifacts/jars.lock ({jar.sha256}); not using it")
        extra = got - {j.file_name for j in jars}
        if extra:
            raise SystemExit(f"artifacts: unexpected jars for set {set_name}: {sorted(extra)}")
        size = sum((work / "jars" / j.file_name).stat().st_size for j in jars)
        (work / "jars" / ".complete").write_text(
            f"{len(jars)} jars, {size / 2**20:.1f} MiB, fetched in {time.monotonic() - start:.1f} s\n")
        shutil.rmtree(directory, ignore_errors=True)
        (work / "jars").rename(directory)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"artifacts: {set_name} fetched into {directory}: {(directory / '.complete').read_text().strip()}")
    return directory


def resolve(coordinates: list[str], set_name: str) -> str:
    """Lock lines for the runtime closure of the coordinates (for updating jars.lock by hand)."""
    roots = tuple(Jar(*c.split(":"), sha256="0" * 64) for c in coordinates)
    work = Path(tempfile.mkdtemp(prefix=".resolve-", dir=cache_root()))
    try:
        (work / "pom.xml").write_text(_pom(roots, transitive=True))
        _mvn(work, "dependency:copy-dependencies", "-DoutputDirectory=jars", "-DincludeScope=runtime",
             "-Dmdep.useRepositoryLayout=true")
        lines = []
        for path in sorted((work / "jars").rglob("*.jar")):
            rel = path.relative_to(work / "jars").parts  # group/.../artifact/version/file
            group, artifact, version = ".".join(rel[:-3]), rel[-3], rel[-2]
            lines.append(f"{set_name} {group}:{artifact}:{version} {sha256_of(path)}")
        return "\n".join(lines)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m tests.harness.artifacts", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_fetch = sub.add_parser("fetch", help="download and verify the locked jars (all sets by default)")
    p_fetch.add_argument("sets", nargs="*")
    p_resolve = sub.add_parser("resolve", help="print lock lines for the runtime closure of G:A:V coordinates")
    p_resolve.add_argument("--set", required=True)
    p_resolve.add_argument("coordinates", nargs="+")
    args = parser.parse_args(argv)
    try:
        if args.command == "resolve":
            cache_root().mkdir(parents=True, exist_ok=True)
            print(resolve(args.coordinates, args.set))
            return 0
        for name in args.sets or list(parse_lock(LOCK.read_text())):
            fetch(name)
    except LockError as exc:
        print(f"artifacts: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
