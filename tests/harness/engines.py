"""Where scripts/build-engines.sh put the real engines, and how a test runs the Pulumi CLI with them.

The engines are built once per machine into ${PIPEWORKS_ENGINE_CACHE:-~/.cache/pipeworks/engines}
(`make test` builds them first). When they are missing, a test that needs them fails under `make test`/CI
(PIPEWORKS_REQUIRE_ENGINES=1 or CI=true: a missing engine there is a broken toolchain, never a pass) and is
skipped elsewhere with the exact missing path and the command that builds it.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ENGINES_DIR = REPO / "scripts" / "engines"


def versions() -> dict[str, str]:
    """scripts/engines/versions.env as a dict (KEY=value lines; the one source of the pinned versions)."""
    out = {}
    for line in (ENGINES_DIR / "versions.env").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key] = value
    return out


def cache_dir() -> Path:
    return Path(os.environ.get("PIPEWORKS_ENGINE_CACHE") or Path.home() / ".cache" / "pipeworks" / "engines")


@dataclass(frozen=True)
class Engines:
    pulumi: Path
    pulumi_home: Path  # holds the kubernetes plugin installed from our build
    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    language_host_dir: Path  # scripts/engines/bin: pulumi-language-python

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for the CLI: our language host first on PATH, our plugin store, no update checks, no
        downloads of anything at run time."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
        env.update({
            "PATH": os.pathsep.join([str(self.language_host_dir), str(self.pulumi.parent), env.get("PATH", "")]),
            "PULUMI_HOME": str(self.pulumi_home),
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK": "true",
        })
        env.update(extra)
        return env


def locate() -> tuple[Engines | None, str]:
    """The engines, or None and the exact reason they are unusable."""
    v = versions()
    cache = cache_dir()
    k8s_bin = cache / f"kube-apiserver-{v['KUBERNETES_VERSION']}" / "bin"
    engines = Engines(
        pulumi=cache / f"pulumi-{v['PULUMI_VERSION']}" / "bin" / "pulumi",
        pulumi_home=cache / "pulumi-home",
        etcd=cache / f"etcd-{v['ETCD_VERSION']}" / "bin" / "etcd",
        kube_apiserver=k8s_bin / "kube-apiserver",
        kube_controller_manager=k8s_bin / "kube-controller-manager",
        language_host_dir=ENGINES_DIR / "bin",
    )
    plugin = (engines.pulumi_home / "plugins" / f"resource-kubernetes-v{v['KUBERNETES_PLUGIN_VERSION']}"
              / "pulumi-resource-kubernetes")
    for path in (engines.pulumi, engines.etcd, engines.kube_apiserver, engines.kube_controller_manager, plugin):
        if not os.access(path, os.X_OK):
            return None, f"{path} is missing: build the engines with `bash scripts/build-engines.sh` (or `make test`)"
    return engines, ""


def required() -> bool:
    return os.environ.get("PIPEWORKS_REQUIRE_ENGINES") == "1" or os.environ.get("CI") == "true"


def engines_or_skip() -> Engines:
    engines, reason = locate()
    if engines is None:
        if required():
            pytest.fail(f"real-engine tests are required here (make test / CI) but {reason}", pytrace=False)
        pytest.skip(f"real engines not built: {reason}")
    return engines


@dataclass
class PulumiCli:
    """The real CLI in one project directory, logged into a local file backend with a passphrase."""

    engines: Engines
    cwd: Path
    backend: Path
    passphrase: str
    log_dir: Path
    _runs: int = 0

    def run(self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 900,
            **env_extra: str) -> subprocess.CompletedProcess[str]:
        env = self.engines.env(PULUMI_BACKEND_URL=f"file://{self.backend}",
                               PULUMI_CONFIG_PASSPHRASE=self.passphrase, **env_extra)
        proc = subprocess.run([str(self.engines.pulumi), "--non-interactive", "--color", "never", *args],
                              cwd=self.cwd, env=env, input=stdin, capture_output=True, text=True, timeout=timeout)
        name = "-".join(a.strip("-") for a in args[:2] if not a.startswith("/"))
        self._runs += 1
        (self.log_dir / f"{self._runs:03d}-{self.cwd.name}-pulumi-{name}.log").write_text(
            f"$ pulumi {' '.join(args)}\nexit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
        if check and proc.returncode != 0:
            raise AssertionError(f"`pulumi {' '.join(args)}` exited {proc.returncode}:\n"
                                 f"{proc.stdout[-6000:]}\n{proc.stderr[-4000:]}")
        return proc
