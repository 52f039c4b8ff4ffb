# Sourced by the bench scripts: the shared kit's upstream as the kit runs it (nginx serving
# gen_data.py's posts and users on 127.0.0.1:3000, its request counter on :3002, on CPU 1),
# and the two gateways they compare, on CPU 0 and port 8000 as the kit starts them.
#
#   kit_upstream DIR          # data in DIR/www, nginx's state in DIR/run; appends nginx's pid to PIDS
#   kit_tailcall_command      # TC: the kit's Tailcall (exits when it is not installed in WORK)
#   kit_gateway graft|tailcall DIR   # starts it, output in DIR; sets GW, appends it to PIDS
#   kit_wait_posts NAME       # waits until :8000 answers the posts (exits otherwise)
#
# Needs KIT (the kit's directory), ROOT, WORK (the kit's install directory), BIN (graft) and
# a PIDS array the caller's cleanup kills.

kit_upstream() {
  local dir=$1 tool
  for tool in nginx wrk curl python3 taskset; do
    command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install nginx wrk curl util-linux)" >&2; exit 1; }
  done
  [ "$(nproc)" -ge 2 ] || { echo "needs two CPUs (the gateway on one, the upstream and wrk on the other)" >&2; exit 1; }
  mkdir -p "$dir/run" "$dir/www"
  # nginx's worker runs as nobody: the data must be readable to it (mktemp makes 0700 dirs),
  # or the gateways would be measured answering 404 errors.
  chmod a+rx "$dir" "$dir/www"
  python3 "$KIT/upstream/gen_data.py" "$dir/www" >/dev/null
  sed -e "s#@RUN@#$dir/run#g" -e "s#@WWW@#$dir/www#g" "$KIT/upstream/nginx.conf.tmpl" \
    > "$dir/run/upstream-nginx.conf"
  taskset -c 1 nginx -c "$dir/run/upstream-nginx.conf" -p "$dir/run" > "$dir/run/nginx.out" 2>&1 &
  PIDS+=($!)
}

kit_tailcall_command() {
  local bin="$WORK/tailcall/node_modules/@tailcallhq/core-linux-x64-gnu/bin/tailcall"
  local glibc="$WORK/glibc/usr/lib/x86_64-linux-gnu"
  [ -x "$bin" ] || { echo "Tailcall is not installed in $WORK; run ../shared/bench/run-peers.sh tailcall" >&2; exit 1; }
  TC=("$bin")
  "$bin" --version >/dev/null 2>&1 || TC=("$glibc/ld-linux-x86-64.so.2" --library-path "$glibc" "$bin")
}

kit_gateway() {
  local name=$1 dir=$2
  case "$name" in
    graft)
      UPSTREAM_URL=http://127.0.0.1:3000 taskset -c 0 "$BIN" serve \
        "$ROOT/schemas/bench/posts.graphql" --listen 127.0.0.1:8000 > "$dir/graft.out" 2>&1 &
      ;;
    tailcall)
      (cd "$dir" && TAILCALL_TRACKER=false TC_TRACKER=false TAILCALL_LOG_LEVEL=error \
        exec taskset -c 0 "${TC[@]}" start "$KIT/peers/tailcall.graphql") > "$dir/tailcall.out" 2>&1 &
      ;;
  esac
  GW=$!
  PIDS+=("$GW")
}

kit_wait_posts() {
  local body='{"query":"{posts{id}}"}' answer=""
  for _ in $(seq 1 100); do
    answer=$(curl -fsS -H 'content-type: application/json' -d "$body" http://127.0.0.1:8000/graphql 2>/dev/null) && break
    sleep 0.2
  done
  # A gateway answering errors would be measured on a cheaper path.
  case "$answer" in
    *'"posts":[{"id":1}'*) ;;
    *) echo "$1 does not answer the posts: ${answer:0:200}" >&2; exit 1 ;;
  esac
}
