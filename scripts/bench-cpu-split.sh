#!/usr/bin/env bash
# Where a gateway's core goes per request under the kit's load: user, kernel (sys) and
# softirq microseconds per request on the gateway's CPU, read from /proc/stat, for graft and
# for Tailcall one after the other. The loopback network work of a request (its recvfrom, the
# response's writev and the delivery to the client's socket) runs on the gateway's core and
# shows as sys and softirq; user is the gateway's own code.
#
#   scripts/bench-cpu-split.sh [q1|q2]
#
# Same layout as the kit (../shared/bench): the gateway on CPU 0, nginx and wrk (-t1 -c50) on
# CPU 1, a 2 s warm-up, then 3 s of /proc/stat inside a 5 s run. Tailcall is the kit's
# (run `../shared/bench/run-peers.sh tailcall` once to install it into $WORK).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
KIT="${KIT:-$ROOT/../shared/bench}"
QUERY="${1:-q1}"
WORK="${WORK:-/tmp/peers}"
RUN="$(mktemp -d /tmp/graft-cpu-split.XXXXXX)"
BIN="${BIN:-$ROOT/target/release/graft}"
[ -x "$BIN" ] || cargo build --release -p graft --bin graft --manifest-path "$ROOT/Cargo.toml"

PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$RUN"; }
trap cleanup EXIT
source "$ROOT/scripts/kit-upstream.sh"
kit_tailcall_command
kit_upstream "$RUN"

measure() { # $1 = name; the gateway is already starting on :8000
  local a b rps
  kit_wait_posts "$1"
  taskset -c 1 wrk -t1 -c50 -d2s -s "$KIT/wrk/$QUERY.lua" http://127.0.0.1:8000/graphql >/dev/null
  taskset -c 1 wrk -t1 -c50 -d5s -s "$KIT/wrk/$QUERY.lua" http://127.0.0.1:8000/graphql > "$RUN/wrk.out" &
  local load=$!
  sleep 1; a=$(grep '^cpu0 ' /proc/stat); sleep 3; b=$(grep '^cpu0 ' /proc/stat)
  wait "$load"
  rps=$(awk '/Requests\/sec/{print $2}' "$RUN/wrk.out")
  echo "$a $b" | awk -v name="$1" -v rps="$rps" -v hz="$(getconf CLK_TCK)" '{
    user=($13-$2+$14-$3)/hz; sys=($15-$4)/hz; soft=($19-$8)/hz; idle=($16-$5)/hz; n=rps*3;
    printf "%-9s %8.0f req/s  us/request: user %.2f  sys %.2f  softirq %.2f  total %.2f  (idle %.0f%%)\n",
      name, rps, 1e6*user/n, 1e6*sys/n, 1e6*soft/n, 1e6*(user+sys+soft)/n, 100*idle/3 }'
}

kit_gateway graft "$RUN"
measure graft
kill "$GW"; wait "$GW" 2>/dev/null || true

kit_gateway tailcall "$RUN"
measure tailcall
