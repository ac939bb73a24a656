#!/usr/bin/env bash
# A runnable OpenSearch 2.19.6 home from Maven Central (scripts/opensearch/pom.xml), for the log-anomaly
# integration tests (tests/harness/opensearch.py). Maven resolves the server jar and its dependencies into
# ${PIPEWORKS_OPENSEARCH_CACHE:-~/.cache/pipeworks/opensearch}/m2; the home is laid out as the distribution's:
# lib/ (server), modules/transport-netty4/ (the HTTP and transport module with its descriptor and policy).
# Java 17 and Maven from Debian when missing (root only). Idempotent: a complete home is left as it is.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=2.19.6
cache=${PIPEWORKS_OPENSEARCH_CACHE:-$HOME/.cache/pipeworks/opensearch}
home=$cache/opensearch-$version
if [ -f "$home/.complete" ]; then
  echo "setup-opensearch: $home already complete"
  exit 0
fi
missing=()
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "${EUID:-$(id -u)}" -ne 0 ]; then
    echo "setup-opensearch: missing ${missing[*]}; not root, so not installing them (the OpenSearch tests skip)" >&2
    exit 0
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
rm -rf "$home.tmp"
mkdir -p "$home.tmp/lib" "$home.tmp/modules/transport-netty4" "$cache/m2"
mvn -q -B -f "$here/opensearch/pom.xml" -Dmaven.repo.local="$cache/m2" dependency:copy-dependencies \
  -DoutputDirectory="$home.tmp/jars"
for jar in "$home.tmp"/jars/*.jar; do
  case $(basename "$jar") in
    transport-netty4-client-*|netty-*) mv "$jar" "$home.tmp/modules/transport-netty4/" ;;
    *) mv "$jar" "$home.tmp/lib/" ;;
  esac
done
rmdir "$home.tmp/jars"
# What the distribution's build writes next to the module's jars (the Maven artefact carries neither).
cat > "$home.tmp/modules/transport-netty4/plugin-descriptor.properties" <<EOT
description=Netty 4 based transport implementation
version=$version
name=transport-netty4
classname=org.opensearch.transport.Netty4Plugin
java.version=11
opensearch.version=$version
extended.plugins=
has.native.controller=false
EOT
# The module's Java security-manager grants (netty reflects into buffers and opens sockets).
cat > "$home.tmp/modules/transport-netty4/plugin-security.policy" <<'EOT'
grant {
  permission java.lang.RuntimePermission "accessClassInPackage.sun.misc";
  permission java.lang.RuntimePermission "accessDeclaredMembers";
  permission java.lang.reflect.ReflectPermission "suppressAccessChecks";
  permission java.util.PropertyPermission "*", "read,write";
  permission java.net.SocketPermission "*", "accept,connect,listen,resolve";
  permission java.lang.RuntimePermission "getClassLoader";
  permission java.lang.RuntimePermission "setContextClassLoader";
};
EOT
touch "$home.tmp/.complete"
rm -rf "$home"
mv "$home.tmp" "$home"
echo "setup-opensearch: OpenSearch $version home at $home"
