#!/usr/bin/env bash
# The whole test suite (the README's test command): installs the outside programs the tests
# talk to, fetches the real-world OpenAPI specs, then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh
[ -f target/real-specs/microsoft-graph-beta.json ] || scripts/fetch-real-specs.sh target/real-specs
export GRAFT_REAL_SPECS="$PWD/target/real-specs"

cargo test --workspace --locked "$@"
