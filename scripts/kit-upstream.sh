# Sourced by the bench scripts: the shared kit's upstream as the kit runs it (nginx serving
# gen_data.py's posts and users on 127.0.0.1:3000, its request counter on :3002, on CPU 1).
#
#   kit_upstream DIR   # data in DIR/www, nginx's state in DIR/run; appends nginx's pid to PIDS
#
# Needs KIT (the kit's directory) and a PIDS array the caller's cleanup kills.

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
