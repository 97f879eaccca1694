#!/usr/bin/env bash
# Optional Java check (not part of ./dev test): generate the Java code with buf.gen.yaml, compile
# it against the system's grpc-java and protobuf-java jars, and run smoke/SessionServiceSmoke.java
# against a live session-service. Skips, saying why, when the toolchain is not installed.
# On Debian 12 (offline-friendly, from Debian's own packages):
#   apt-get install protobuf-compiler protobuf-compiler-grpc-java-plugin libgrpc-java \
#     libprotobuf-java libnetty-java libperfmark-java libgoogle-gson-java
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
jars=/usr/share/java

skip() { echo "java check skipped: $1"; exit 0; }
command -v javac >/dev/null || skip "javac not installed"
command -v protoc >/dev/null || skip "protoc not installed (protoc_builtin: java runs it)"
plugin="$(command -v protoc-gen-grpc-java || command -v grpc_java_plugin || true)"
[ -n "$plugin" ] || skip "protoc-gen-grpc-java (Debian: grpc_java_plugin) not installed"
classpath=""
for jar in protobuf grpc-api grpc-context grpc-core grpc-stub grpc-protobuf grpc-protobuf-lite grpc-netty \
           guava failureaccess perfmark-api gson geronimo-annotation-1.3-spec netty-common netty-buffer \
           netty-transport netty-resolver netty-codec netty-codec-http netty-codec-http2 netty-handler \
           netty-handler-proxy netty-codec-socks; do
  if [ -f "$jars/$jar.jar" ]; then classpath="$classpath:$jars/$jar.jar"
  elif [ "$jar" != failureaccess ]; then skip "$jars/$jar.jar not installed"; fi
done
[ -x "$root/.venv/bin/session-service" ] || skip "session-service not built (run ./dev gen)"

work="$(mktemp -d)"; data="$(mktemp -d)"; pid=""
cleanup() { [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null; rm -rf "$work" "$data"; }
trap cleanup EXIT
# buf runs local plugins by name: expose the Debian-named binary under the name buf.gen.yaml uses.
mkdir -p "$work/bin" && ln -s "$plugin" "$work/bin/protoc-gen-grpc-java"
"$root/dev" buf --version >/dev/null  # installs the pinned buf into .tools if needed
# buf.gen.yaml paths are relative to the working directory, so run buf from here.
(cd "$here" && PATH="$work/bin:$PATH" "$root/.tools/node_modules/.bin/buf" generate --template buf.gen.yaml)
javac -nowarn -d "$work/classes" -cp "${classpath#:}" $(find "$here/gen" "$here/smoke" -name '*.java')

port="$("$root/.venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$root/.venv/bin/session-service" serve --host 127.0.0.1 --port "$port" --data-dir "$data" --log-level warning &
pid=$!
# The smoke program waits for the connection itself (gRPC wait-for-ready), so no sleep here.
java -cp "$work/classes$classpath" SessionServiceSmoke "127.0.0.1:$port"
kill -TERM "$pid"
status=0; wait "$pid" || status=$?
pid=""
[ "$status" -eq 0 ] || { echo "session-service exited with $status after SIGTERM"; exit 1; }
echo "java check: generated, compiled and ran against a live service"
