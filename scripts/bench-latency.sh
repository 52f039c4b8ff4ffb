#!/usr/bin/env bash
# Latency spectrum of graft and Tailcall under the kit's load, on a quiet machine and with
# the kit's own peak-RSS sampler running beside it.
#
#   scripts/bench-latency.sh [q1|q2]
#
# Same layout as the kit (../shared/bench): the gateway on CPU 0, nginx and wrk (-t1 -c50)
# on CPU 1, the kit's query scripts. Each gateway gets a 2 s warm-up, then REPEATS runs of
# DURATION seconds quiet and REPEATS with the sampler: a copy of the kit's loop that, once
# a second, lists the gateway's descendants and reads their RSS with `ps`, unpinned as in
# the kit. Percentiles are wrk's, which corrects for coordinated omission before any
# script sees them: a request that took n intervals (the mean time between one
# connection's requests) is counted as if requests had also been sent during it, so the
# tail measures the share of time the client waited, whatever made it wait.
# Tailcall is the kit's (run `../shared/bench/run-peers.sh tailcall` once to install it).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
KIT="${KIT:-$ROOT/../shared/bench}"
QUERY="${1:-q1}"
WORK="${WORK:-/tmp/peers}"
DURATION="${DURATION:-10}"
REPEATS="${REPEATS:-3}"
RUN="$(mktemp -d /tmp/graft-latency.XXXXXX)"
BIN="${BIN:-$ROOT/target/release/graft}"
[ -x "$BIN" ] || cargo build --release -p graft --bin graft --manifest-path "$ROOT/Cargo.toml"

PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$RUN"; }
trap cleanup EXIT
source "$ROOT/scripts/kit-upstream.sh"
kit_tailcall_command
kit_upstream "$RUN"

# The kit's request, with a report of the whole spectrum instead of p50 and p99.
cat > "$RUN/spectrum.lua" <<EOF
dofile("$KIT/wrk/$QUERY.lua")
function done(summary, latency, requests)
  local line = string.format("%8.0f", summary.requests / (summary.duration / 1e6))
  for _, p in ipairs({50, 90, 99, 99.9}) do
    line = line .. string.format("  %6.2f", latency:percentile(p) / 1000.0)
  end
  io.write(string.format("%s  %6.2f\n", line, latency.max / 1000.0))
end
EOF

sampler() { # $1 = the gateway's pid; the kit's peak-RSS loop, for DURATION + 1 s
  local end=$((SECONDS + DURATION + 1)) p c
  while [ $SECONDS -lt $end ]; do
    for p in "$1" $(ps -o pid= --ppid "$1" 2>/dev/null); do
      for c in $(ps -o pid= --ppid "$p" 2>/dev/null); do :; done
      ps -o rss= -p "$p" >/dev/null 2>&1 || true
    done
    sleep 1
  done
}

measure() { # $1 = name, $2 = the gateway's pid; it is already starting on :8000
  local mode i
  kit_wait_posts "$1"
  taskset -c 1 wrk -t1 -c50 -d2s -s "$RUN/spectrum.lua" http://127.0.0.1:8000/graphql >/dev/null
  for mode in quiet sampler; do
    for i in $(seq 1 "$REPEATS"); do
      local load_sampler=""
      if [ "$mode" = sampler ]; then sampler "$2" & load_sampler=$!; fi
      printf '%-9s %-8s %s\n' "$1" "$mode" "$(taskset -c 1 wrk -t1 -c50 -d"${DURATION}s" \
        -s "$RUN/spectrum.lua" http://127.0.0.1:8000/graphql | tail -1)"
      [ -z "$load_sampler" ] || wait "$load_sampler"
    done
  done
}

echo "$QUERY, wrk -t1 -c50 -d${DURATION}s; latency in ms (wrk's corrected histogram)"
echo "gateway   machine      req/s     p50     p90     p99   p99.9     max"
kit_gateway graft "$RUN"
measure graft "$GW"
kill "$GW"; wait "$GW" 2>/dev/null || true

kit_gateway tailcall "$RUN"
measure tailcall "$GW"
