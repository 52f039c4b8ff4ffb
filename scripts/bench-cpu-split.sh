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
TAILCALL="$WORK/tailcall/node_modules/@tailcallhq/core-linux-x64-gnu/bin/tailcall"
GLIBC="$WORK/glibc/usr/lib/x86_64-linux-gnu"
[ -x "$TAILCALL" ] || { echo "Tailcall is not installed in $WORK; run ../shared/bench/run-peers.sh tailcall" >&2; exit 1; }

PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$RUN"; }
trap cleanup EXIT
source "$ROOT/scripts/kit-upstream.sh"
kit_upstream "$RUN"

measure() { # $1 = name; the gateway is already starting on :8000
  local body='{"query":"{posts{id}}"}' a b rps answer=""
  for _ in $(seq 1 100); do
    answer=$(curl -fsS -H 'content-type: application/json' -d "$body" http://127.0.0.1:8000/graphql 2>/dev/null) && break
    sleep 0.2
  done
  # A gateway answering errors would be measured on a cheaper path.
  case "$answer" in
    *'"posts":[{"id":1}'*) ;;
    *) echo "$1 does not answer the posts: ${answer:0:200}" >&2; exit 1 ;;
  esac
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

UPSTREAM_URL=http://127.0.0.1:3000 taskset -c 0 "$BIN" serve "$ROOT/schemas/bench/posts.graphql" \
  --listen 127.0.0.1:8000 > "$RUN/graft.out" 2>&1 &
GW=$!; PIDS+=($GW)
measure graft
kill "$GW"; wait "$GW" 2>/dev/null || true

TC=("$TAILCALL"); "$TAILCALL" --version >/dev/null 2>&1 || TC=("$GLIBC/ld-linux-x86-64.so.2" --library-path "$GLIBC" "$TAILCALL")
(cd "$RUN" && TAILCALL_TRACKER=false TC_TRACKER=false TAILCALL_LOG_LEVEL=error \
  exec taskset -c 0 "${TC[@]}" start "$KIT/peers/tailcall.graphql") > "$RUN/tailcall.out" 2>&1 &
GW=$!; PIDS+=($GW)
measure tailcall
