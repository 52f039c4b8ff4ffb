#!/usr/bin/env bash
# Starts the Lambda emulators for trying graft by hand (the tests start their own):
#   cargo-lambda's emulator running tests/lambda-functions (graft-ok, graft-fail, graft-slow,
#   graft-text) on 127.0.0.1:${LAMBDA_PORT:-9001}, and moto's Lambda API (ListFunctions, tags;
#   docker-less) on 127.0.0.1:${MOTO_PORT:-5000}. Needs `pip install cargo-lambda "moto[server]"`.
# Stops both on Ctrl-C. Example:
#   AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x AWS_ENDPOINT_URL_LAMBDA=http://127.0.0.1:9001 \
#     graft serve schema.graphql
set -euo pipefail
cd "$(dirname "$0")/.."
lambda_port="${LAMBDA_PORT:-9001}"
moto_port="${MOTO_PORT:-5000}"
export CARGO_TARGET_DIR="$PWD/target/lambda-functions"

(cd tests/lambda-functions && cargo build --quiet --locked)
(cd tests/lambda-functions && exec cargo lambda watch -A 127.0.0.1 -P "$lambda_port") &
lambda_pid=$!
moto_server -H 127.0.0.1 -p "$moto_port" &
moto_pid=$!
trap 'kill "$lambda_pid" "$moto_pid" 2>/dev/null || true' EXIT INT TERM

for _ in $(seq 1 100); do
  curl -fsS -X POST "http://127.0.0.1:$moto_port/moto-api/config" \
    -d '{"lambda":{"use_docker":false}}' >/dev/null 2>&1 && break
  sleep 0.2
done
echo "cargo-lambda: http://127.0.0.1:$lambda_port  moto: http://127.0.0.1:$moto_port"
wait
