#!/usr/bin/env bash
# Instructions per request of `graft serve` under load, counted by callgrind: repeatable for
# the same binary and load, whatever else the machine is doing, so a change of 1 % shows
# (the kit's req/s varies by several % between runs).
#
#   scripts/bench-instructions.sh [q1|q2] [OUT]   # OUT: callgrind file (default /tmp/graft.cg)
#
# Uses the shared kit's upstream (nginx serving its generated posts/users on 127.0.0.1:3000,
# request counter on :3002) and its wrk scripts: a 3 s warm-up, then counters are zeroed and
# wrk -t1 -c50 runs for 8 s. As in the kit, graft runs on CPU 0 and nginx and wrk on CPU 1. Prints requests, upstream calls and instructions per request;
# `callgrind_annotate OUT.1` (or any callgrind reader) shows where they go. Requests take
# ~15x longer under callgrind, so execution sharing differs a little from a real run. Compare
# counts at equal upstream calls per request: on Q1 each 0.001 more calls per request (one
# more shared execution per 1000 requests, ~0.7M instructions each) adds ~700 per request.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
KIT="${KIT:-$ROOT/../shared/bench}"
QUERY="${1:-q1}"
OUT="${2:-/tmp/graft.cg}"
WORK="${WORK:-/tmp/graft-instructions}"
BIN="${BIN:-$ROOT/target/release/graft}"
for tool in valgrind callgrind_control; do
  command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install valgrind)" >&2; exit 1; }
done
[ -x "$BIN" ] || cargo build --release -p graft --bin graft --manifest-path "$ROOT/Cargo.toml"

PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT
source "$ROOT/scripts/kit-upstream.sh"
kit_upstream "$WORK"
rm -f "$OUT" "$OUT".*
UPSTREAM_URL=http://127.0.0.1:3000 taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$OUT" \
  "$BIN" serve "$ROOT/schemas/bench/posts.graphql" --listen 127.0.0.1:8000 \
  > "$WORK/run/graft.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 120); do
  curl -fsS -o /dev/null http://127.0.0.1:8000/healthz 2>/dev/null && break
  sleep 1
done
load() { timeout $(($1 + 10)) taskset -c 1 wrk -t1 -c50 -d"${1}s" -s "$KIT/wrk/$QUERY.lua" http://127.0.0.1:8000/graphql; }
upstream_calls() { curl -fsS http://127.0.0.1:3002/status | awk 'NR==3{print $3}'; }
load 3 >/dev/null
callgrind_control -z >/dev/null 2>&1
before=$(upstream_calls)
requests=$(load 8 | awk '/requests in/{print $1}')
calls=$(( $(upstream_calls) - before - 1 )) # the status request itself counts
callgrind_control -d >/dev/null 2>&1
total=$(awk '/^summary:/{print $2}' "$OUT".1)
echo "$QUERY: requests=$requests upstream_calls=$calls" \
  "upstream_per_request=$(awk -v c="$calls" -v r="$requests" 'BEGIN{printf "%.3f", c/r}')" \
  "instructions_per_request=$((total / requests))"
