#!/usr/bin/env bash
# Builds, once per machine, the real engines the e2e tests (tests/e2e) run: the Pulumi CLI,
# pulumi-resource-kubernetes, kube-apiserver and etcd, from the Go module proxy at the versions in
# scripts/engines/versions.env, each from a small tools module under scripts/engines/<tool>/.
# Everything (binaries, GOPATH, module and build caches) lives OUTSIDE the work tree, under
#   ${PIPEWORKS_ENGINE_CACHE:-$HOME/.cache/pipeworks/engines}/<tool>-<version>/
# so a second run (or another clone) is a no-op: a tool is rebuilt only when its go.mod/go.sum change.
# Each build records its wall time and disk use in <tool>-<version>/build.json (docs/ARCHITECTURE.md).
# Usage: scripts/build-engines.sh [tool...]   (tools: pulumi kubernetes-provider kube-apiserver etcd)
# Exit status: 0 all built (or cached); 1 a build failed (its log: <cache>/logs/<tool>.log).
set -euo pipefail

command -v go >/dev/null || { echo "build-engines: no Go toolchain on PATH (the engines are built from Go modules)" >&2; exit 1; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ENGINES="$ROOT/scripts/engines"
CACHE=${PIPEWORKS_ENGINE_CACHE:-$HOME/.cache/pipeworks/engines}
# shellcheck source=engines/versions.env
. "$ENGINES/versions.env"

export GOPATH="$CACHE/go" GOMODCACHE="$CACHE/go/pkg/mod" GOCACHE="$CACHE/go/cache"
export GOFLAGS="-mod=mod -buildvcs=false -p=2" CGO_ENABLED=0 GOTOOLCHAIN=local
mkdir -p "$CACHE/logs"
# One build at a time per cache: several work trees (or CI beside a developer) may share it.
exec 9>"$CACHE/.lock"
flock 9

# build NAME VERSION BINARY "PACKAGE..." LDFLAGS [SRCDIR]   (BINARY: the first package's; all land in
# <tool>-<version>/bin/; SRCDIR: where to build, default the tools module itself)
build() {
    local tool=$1 version=$2 binary=$3 packages=$4 ldflags=$5 srcdir=${6:-}
    local out="$CACHE/$tool-$version" dir="$ENGINES/$tool"
    local stamp
    stamp=$(cat "$dir"/go.mod "$dir"/go.sum "$dir"/*.go 2>/dev/null | cksum | cut -d' ' -f1)
    if [[ -x "$out/bin/$binary" && "$(cat "$out/.stamp" 2>/dev/null)" == "$stamp" ]]; then
        echo "build-engines: $tool $version cached ($out)"
        return 0
    fi
    echo "build-engines: building $tool $version (log: $CACHE/logs/$tool.log) ..."
    rm -rf "$out.tmp" && mkdir -p "$out.tmp/bin"
    local start mod_before mod_after cache_before cache_after
    start=$(date +%s)
    mod_before=$(du -sk "$GOMODCACHE" 2>/dev/null | cut -f1 || echo 0)
    cache_before=$(du -sk "$GOCACHE" 2>/dev/null | cut -f1 || echo 0)
    # one package: the binary gets BINARY's name (the plugin file name the CLI expects); several: their own
    local target="$out.tmp/bin/"
    [[ $packages == *" "* ]] || target="$out.tmp/bin/$binary"
    # shellcheck disable=SC2086 # $packages is a list
    if ! (cd "${srcdir:-$dir}" && nice -n 15 go build -trimpath -ldflags "-s -w $ldflags" \
            -o "$target" $packages) >"$CACHE/logs/$tool.log" 2>&1; then
        echo "build-engines: $tool $version FAILED; last lines of $CACHE/logs/$tool.log:" >&2
        tail -20 "$CACHE/logs/$tool.log" >&2
        return 1
    fi
    # go build may have completed go.sum (-mod=mod): keep the tools module's copy and the stamp in step
    [[ -z $srcdir ]] || cp "$srcdir/go.sum" "$dir/go.sum"
    stamp=$(cat "$dir"/go.mod "$dir"/go.sum "$dir"/*.go 2>/dev/null | cksum | cut -d' ' -f1)
    mod_after=$(du -sk "$GOMODCACHE" | cut -f1)
    cache_after=$(du -sk "$GOCACHE" | cut -f1)
    local secs=$(( $(date +%s) - start )) bin_kb
    bin_kb=$(du -sk "$out.tmp/bin" | cut -f1)
    # module and build-cache growth: what this tool added to the shared caches (a later tool reuses them)
    printf '{"tool": "%s", "version": "%s", "build_seconds": %d, "binary_kib": %d, "module_download_kib": %d, "build_cache_kib": %d, "go": "%s"}\n' \
        "$tool" "$version" "$secs" "$bin_kb" "$(( mod_after - mod_before ))" "$(( cache_after - cache_before ))" "$(go env GOVERSION)" > "$out.tmp/build.json"
    echo "$stamp" > "$out.tmp/.stamp"
    rm -rf "$out" && mv "$out.tmp" "$out"
    echo "build-engines: $tool $version built in ${secs}s ($(cat "$out/build.json"))"
}

# The provider's main package embeds JSON files its Makefile generates: build our main.go in a directory under
# the cache with the tools module's go.mod/go.sum and those files generated from the module's schema.json (its
# version set, as upstream's generate.go does) and terraform-mapping.json. Prints the directory.
prepare_kubernetes_provider() {
    local src="$CACHE/src/kubernetes-provider" dir="$ENGINES/kubernetes-provider" mod
    mkdir -p "$src"
    cp "$dir/go.mod" "$dir/go.sum" "$dir/main.go" "$src/"
    mod=$(cd "$src" && go mod download -json "github.com/pulumi/pulumi-kubernetes/provider/v4" \
          | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])') || return 1
    python3 - "$mod/cmd/pulumi-resource-kubernetes" "$src" "$KUBERNETES_PROVIDER_BUILD" <<'PY' || return 1
import json, sys
mod, src, version = sys.argv[1:]
schema = json.load(open(f"{mod}/schema.json"))
schema["version"] = version
json.dump(schema, open(f"{src}/schema-embed.json", "w"), separators=(",", ":"))
json.dump(json.load(open(f"{mod}/terraform-mapping.json")), open(f"{src}/terraform-mapping-embed.json", "w"),
          separators=(",", ":"))
PY
    echo "$src"
}

# Installs the provider into the CLI's plugin store (PULUMI_HOME under the cache), from the file we
# built, so the engine never downloads a plugin at run time.
install_plugins() {
    local home="$CACHE/pulumi-home" pulumi="$CACHE/pulumi-$PULUMI_VERSION/bin/pulumi"
    local plugin="$home/plugins/resource-kubernetes-v$KUBERNETES_PLUGIN_VERSION"
    local built="$CACHE/kubernetes-provider-$KUBERNETES_PROVIDER_BUILD/bin/pulumi-resource-kubernetes"
    if [[ -x "$plugin/pulumi-resource-kubernetes" ]] && cmp -s "$built" "$plugin/pulumi-resource-kubernetes"; then
        return 0
    fi
    PULUMI_HOME="$home" PULUMI_SKIP_UPDATE_CHECK=1 "$pulumi" plugin install resource kubernetes \
        "$KUBERNETES_PLUGIN_VERSION" --file "$built" --reinstall >"$CACHE/logs/plugin-install.log" 2>&1 \
        || { cat "$CACHE/logs/plugin-install.log" >&2; return 1; }
    echo "build-engines: plugin kubernetes v$KUBERNETES_PLUGIN_VERSION installed in $home"
}

tools=("$@")
[[ ${#tools[@]} -gt 0 ]] || tools=(etcd kube-apiserver pulumi kubernetes-provider)
status=0
for tool in "${tools[@]}"; do
    case $tool in
    pulumi)
        build pulumi "$PULUMI_VERSION" pulumi github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
            "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" || status=1 ;;
    kubernetes-provider)
        src=$(prepare_kubernetes_provider) || { status=1; continue; }
        build kubernetes-provider "$KUBERNETES_PROVIDER_BUILD" pulumi-resource-kubernetes \
            pipeworks.local/engines/kubernetes-provider \
            "-X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$KUBERNETES_PROVIDER_BUILD" "$src" \
            || status=1 ;;
    kube-apiserver)
        # the controller-manager too: without its namespace controller and garbage collector a deleted
        # namespace never goes away, so `pulumi destroy` could not be checked as on a real cluster.
        build kube-apiserver "$KUBERNETES_VERSION" kube-apiserver \
            "k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager" \
            "-X k8s.io/component-base/version.gitVersion=v$KUBERNETES_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(cut -d. -f2 <<<"$KUBERNETES_VERSION")" || status=1 ;;
    etcd)
        build etcd "$ETCD_VERSION" etcd pipeworks.local/engines/etcd "" || status=1 ;;
    *) echo "build-engines: unknown tool '$tool' (valid: pulumi kubernetes-provider kube-apiserver etcd)" >&2; exit 2 ;;
    esac
done
if [[ $status -eq 0 && -x "$CACHE/pulumi-$PULUMI_VERSION/bin/pulumi" \
      && -x "$CACHE/kubernetes-provider-$KUBERNETES_PROVIDER_BUILD/bin/pulumi-resource-kubernetes" ]]; then
    install_plugins || status=1
fi
exit $status
