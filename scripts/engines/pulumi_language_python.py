"""The Python language host of the project's real-engine toolchain (`pulumi-language-python`).

Why this exists: the Go module of Pulumi's own Python language host
(github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3) is not served by the module proxy
at any version, so scripts/build-engines.sh cannot build it. The CLI talks to a language host over the
documented `pulumirpc.LanguageRuntime` gRPC service (proto/pulumi/language.proto), whose generated
stubs ship inside the pinned `pulumi` Python SDK; this host implements the part of it that `pulumi
preview|up|destroy` and policy packs use:

* plugin start-up: the CLI starts `pulumi-language-python [flags] <engine-address>` and reads the
  port of the gRPC server from the first line of its stdout;
* `Run`: runs the program's `__main__` in the virtualenv named by Pulumi.yaml's `runtime.options.virtualenv`
  (run_program.py), with the settings of the RunRequest; exit code 32 means "the program already reported
  its error to the engine" (RunResponse.bail);
* `RunPlugin` with kind `analyzer`: a Python policy pack runs as `<virtualenv>/bin/python -u -m
  pulumi.policy <engine-address> <pack directory>` in the pack's directory, with the virtualenv named by
  its PulumiPolicy.yaml (this is what policies/*/PulumiPolicy.yaml promise);
* `GetPluginInfo`, `GetRequiredPlugins`/`GetRequiredPackages` (empty: every plugin is installed ahead
  of time by scripts/build-engines.sh, nothing is downloaded at run time), `About`,
  `GetProgramDependencies`, `Cancel`.
Everything else (code generation, packing, templates) answers UNIMPLEMENTED.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from concurrent import futures
from pathlib import Path

import grpc
from google.protobuf import empty_pb2
from pulumi.runtime.proto import language_pb2, language_pb2_grpc, plugin_pb2

VERSION = "0.1.0"
BAIL_EXIT_CODE = 32  # run_program.py: the error was already logged to the engine
RUN_PROGRAM = Path(__file__).with_name("run_program.py")


def virtualenv_python(root: str, options: dict) -> str:
    """The interpreter of the virtualenv named by the project's runtime options (relative to `root`)."""
    venv = options.get("virtualenv")
    if not venv:
        return sys.executable
    path = Path(venv) if os.path.isabs(venv) else Path(root) / venv
    python = path / "bin" / "python"
    if not python.exists():
        raise FileNotFoundError(
            f"runtime.options.virtualenv: {path} has no bin/python; create it (make .venv) first"
        )
    return str(python)


def _options(info) -> dict:
    from google.protobuf.json_format import MessageToDict

    return MessageToDict(info.options) if info and info.HasField("options") else {}


class LanguageHost(language_pb2_grpc.LanguageRuntimeServicer):
    def __init__(self, engine_address: str):
        self.engine_address = engine_address
        self._children: set[subprocess.Popen] = set()
        self._lock = threading.Lock()

    def _spawn(self, args, **kwargs) -> subprocess.Popen:
        proc = subprocess.Popen(args, **kwargs)
        with self._lock:
            self._children.add(proc)
        return proc

    def _reap(self, proc: subprocess.Popen) -> int:
        code = proc.wait()
        with self._lock:
            self._children.discard(proc)
        return code

    def Handshake(self, request, context):
        return language_pb2.LanguageHandshakeResponse()

    def GetPluginInfo(self, request, context):
        return plugin_pb2.PluginInfo(version=VERSION)

    def GetRequiredPlugins(self, request, context):
        return language_pb2.GetRequiredPluginsResponse()

    def GetRequiredPackages(self, request, context):
        return language_pb2.GetRequiredPackagesResponse()

    def About(self, request, context):
        python = virtualenv_python(request.info.root_directory, _options(request.info))
        version = subprocess.run([python, "--version"], capture_output=True, text=True).stdout.split()[-1]
        return language_pb2.AboutResponse(executable=python, version=version)

    def GetProgramDependencies(self, request, context):
        python = virtualenv_python(request.info.root_directory, _options(request.info))
        out = subprocess.run(
            [python, "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
            capture_output=True, text=True, check=True,
        ).stdout
        deps = [language_pb2.DependencyInfo(name=d["name"], version=d["version"]) for d in json.loads(out)]
        return language_pb2.GetProgramDependenciesResponse(dependencies=deps)

    def Run(self, request, context):
        info = request.info
        root = info.root_directory or request.pwd
        try:
            python = virtualenv_python(root, _options(info))
        except FileNotFoundError as err:
            return language_pb2.RunResponse(error=str(err))
        env = dict(os.environ)
        env.update({
            "PULUMI_MONITOR": request.monitor_address,
            "PULUMI_ENGINE": self.engine_address,
            "PULUMI_PROJECT": request.project,
            "PULUMI_STACK": request.stack,
            "PULUMI_ORGANIZATION": request.organization or "organization",
            "PULUMI_DRY_RUN": "true" if request.dryRun else "false",
            "PULUMI_PARALLEL": str(request.parallel),
            "PULUMI_ROOT_DIRECTORY": root,
            # The SDK reads the stack's config and which keys are secret from these two variables.
            "PULUMI_CONFIG": json.dumps(dict(request.config)),
            "PULUMI_CONFIG_SECRET_KEYS": json.dumps(list(request.configSecretKeys)),
        })
        program = info.program_directory or request.pwd
        entry = info.entry_point or "."
        proc = self._spawn([python, "-u", str(RUN_PROGRAM), os.path.join(program, entry), *request.args],
                           cwd=request.pwd or root, env=env)
        code = self._reap(proc)
        if code == 0:
            return language_pb2.RunResponse()
        if code == BAIL_EXIT_CODE:
            return language_pb2.RunResponse(bail=True)
        return language_pb2.RunResponse(error=f"the Python program exited with code {code}")

    def RunPlugin(self, request, context):
        if request.kind != "analyzer":
            context.abort(grpc.StatusCode.UNIMPLEMENTED,
                          f"pipeworks' language host runs policy packs only (asked for a {request.kind!r} plugin)")
        pack = request.info.program_directory
        try:
            python = virtualenv_python(pack, _options(request.info))
        except FileNotFoundError as err:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(err))
        env = dict(item.split("=", 1) for item in request.env if "=" in item) or dict(os.environ)
        proc = self._spawn([python, "-u", "-m", "pulumi.policy", *request.args, pack], cwd=pack, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # Stream both pipes as they come: the CLI reads the analyzer's port from its stdout while it runs.
        chunks: list = []
        cond = threading.Condition()

        def pump(pipe, field):
            for data in iter(lambda: os.read(pipe.fileno(), 4096), b""):
                with cond:
                    chunks.append({field: data})
                    cond.notify()
            with cond:
                chunks.append(None)
                cond.notify()

        threads = [threading.Thread(target=pump, args=(proc.stdout, "stdout"), daemon=True),
                   threading.Thread(target=pump, args=(proc.stderr, "stderr"), daemon=True)]
        for t in threads:
            t.start()
        done = 0
        while done < 2:
            with cond:
                while not chunks:
                    cond.wait()
                item = chunks.pop(0)
            if item is None:
                done += 1
            else:
                yield language_pb2.RunPluginResponse(**item)
        yield language_pb2.RunPluginResponse(exitcode=self._reap(proc))

    def Cancel(self, request, context):
        with self._lock:
            for proc in self._children:
                proc.send_signal(signal.SIGINT)
        return empty_pb2.Empty()

    def InstallDependencies(self, request, context):
        context.abort(grpc.StatusCode.UNIMPLEMENTED,
                      "dependencies come from `make` (the project's .venv), not from the language host")


def main(argv: list[str]) -> int:
    positional = [a for a in argv if not a.startswith("-")]
    if not positional:
        print("usage: pulumi-language-python [flags] <engine-address>", file=sys.stderr)
        return 2
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16),
                         options=[("grpc.max_receive_message_length", 400 * 1024 * 1024)])
    language_pb2_grpc.add_LanguageRuntimeServicer_to_server(LanguageHost(positional[-1]), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    # The CLI ends a plugin with SIGINT (then SIGKILL): stop serving quietly instead of a KeyboardInterrupt.
    stopped = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    stopped.wait()
    server.stop(grace=None)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
