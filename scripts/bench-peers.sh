#!/usr/bin/env bash
# Load-tests graft side by side with Tailcall using the shared kit (../shared/bench).
#
#   scripts/bench-peers.sh            # graft serve (dedupe on) vs tailcall (dedupe on)
#   scripts/bench-peers.sh nodedupe   # graft serve, cross-request and operation dedupe off,
#                                     # vs tailcall with dedupe: false
#
# The kit starts `graft serve schemas/bench/posts.graphql --listen 127.0.0.1:8000` (the real
# binary). GRAFT=example uses the engine's bench front instead (engine/examples/bench_serve.rs:
# axum + Gateway::execute_rendered, nothing else), to separate server from executor costs.
# Knobs of the kit (DURATION, REPEATS, QUERIES, PIN, ...) pass through the environment.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
KIT="${KIT:-$ROOT/../shared/bench}"
MODE="${1:-dedupe}"
GRAFT="${GRAFT:-serve}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
WORK="${WORK:-/tmp/peers}"
export WORK
mkdir -p "$WORK"

if [ "$GRAFT" = serve ]; then
  cargo build --release -p graft --bin graft --manifest-path "$ROOT/Cargo.toml"
  BIN=("$CARGO_TARGET_DIR/release/graft" serve)
  # Dedupe off is configuration for the real server.
  printf 'execution:\n  dedupe_requests: false\n  dedupe_operations: false\n' > "$WORK/graft-nodedupe.yaml"
  NODEDUPE="--config $WORK/graft-nodedupe.yaml"
else
  cargo build --release -p engine --example bench_serve --manifest-path "$ROOT/Cargo.toml"
  BIN=("$CARGO_TARGET_DIR/release/examples/bench_serve")
  NODEDUPE="--no-dedupe"
fi

FLAGS=""
[ "$MODE" = nodedupe ] && FLAGS="$NODEDUPE"
export GATEWAY_URL=http://127.0.0.1:8000/graphql

case "$MODE" in
  dedupe)
    GATEWAY_CMD="env -C $ROOT ${BIN[*]} schemas/bench/posts.graphql --listen 127.0.0.1:8000" \
      "$KIT/run-peers.sh" gateway tailcall
    ;;
  nodedupe)
    GATEWAY_CMD="env -C $ROOT ${BIN[*]} schemas/bench/posts.graphql --listen 127.0.0.1:8000 $FLAGS" \
      "$KIT/run-peers.sh" gateway
    # Tailcall with dedupe off, run as the kit's "gateway" peer with a copy of its config.
    "$KIT/run-peers.sh" --install tailcall
    CFG="$WORK/tailcall-nodedupe.graphql"
    sed 's/dedupe: true/dedupe: false/g' "$KIT/peers/tailcall.graphql" > "$CFG"
    LIBS="$WORK/glibc/usr/lib/x86_64-linux-gnu"
    TC="$WORK/tailcall/node_modules/@tailcallhq/core-linux-x64-gnu/bin/tailcall"
    if [ -x "$LIBS/ld-linux-x86-64.so.2" ]; then
      TC_CMD="$LIBS/ld-linux-x86-64.so.2 --library-path $LIBS $TC"
    else
      TC_CMD="$TC"
    fi
    GATEWAY_CMD="env TAILCALL_TRACKER=false TC_TRACKER=false TAILCALL_LOG_LEVEL=error $TC_CMD start $CFG" \
      "$KIT/run-peers.sh" gateway
    ;;
  *) echo "usage: $0 [dedupe|nodedupe]" >&2; exit 2 ;;
esac
