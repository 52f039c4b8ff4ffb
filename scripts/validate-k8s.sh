#!/usr/bin/env bash
# Validates every manifest under k8s/, offline. Installs nothing; expects:
#   kubernetes-validate   pip install kubernetes-validate   (required)
#   kubectl               for `kubectl kustomize`           (required when CI=true)
#
# What it checks, failing (exit 1) on the first class of problem it finds:
#  1. every document of every *.yaml/*.yml file under k8s/ with
#     `kubernetes-validate --strict` (unknown fields are errors), against the oldest
#     Kubernetes version the manifests support ($K8S_MIN_VERSION, default 1.30: the preStop
#     `sleep` action) and against the newest version the tool knows;
#  2. documents the tool has no schema for: allowed only for kustomize's Kustomization
#     (checked by building it, step 4) and for custom resources whose
#     CustomResourceDefinition is itself under k8s/; anything else (a typo in apiVersion or
#     kind) is an error, where the tool alone would only warn;
#  3. custom resources (e.g. GraphQLSchema) against the openAPIV3Schema of their CRD under
#     k8s/, strictly: an object with `properties` accepts no other keys unless it says
#     x-kubernetes-preserve-unknown-fields (the API server would prune them silently);
#     plus, when a generated graft config JSON Schema exists under schemas/, the config.yaml
#     carried by ConfigMaps under k8s/ against it;
#  4. `kubectl kustomize` of every directory under k8s/ holding a kustomization.yaml, and
#     the rendered output again with `kubernetes-validate --strict`.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

K8S_MIN_VERSION="${K8S_MIN_VERSION:-1.30}"
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
note() { echo "==> $*"; }

if ! command -v kubernetes-validate >/dev/null 2>&1; then
  echo "error: kubernetes-validate not found; install it with: pip install kubernetes-validate" >&2
  exit 1
fi

# The Python that has kubernetes-validate's dependencies (PyYAML, jsonschema).
py=""
for candidate in python3 python; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import yaml, jsonschema' 2>/dev/null; then
    py="$candidate"
    break
  fi
done
if [[ -z "$py" ]]; then
  echo "error: no python with PyYAML and jsonschema (kubernetes-validate's dependencies) on PATH" >&2
  exit 1
fi

mapfile -t files < <(find k8s -type f \( -name '*.yaml' -o -name '*.yml' \) | LC_ALL=C sort)
if [[ ${#files[@]} -eq 0 ]]; then
  echo "error: no YAML files under k8s/" >&2
  exit 1
fi
note "${#files[@]} YAML files under k8s/"

# --- steps 2 and 3: custom resources, kinds without a schema, config ------------------------
# Prints the "kind apiVersion" pairs that are handled here (so their warnings from
# kubernetes-validate are expected); exits non-zero on an invalid custom resource.
handled_file="$(mktemp)"
trap 'rm -f "$handled_file"' EXIT
note "custom resources against their CRDs under k8s/"
if ! "$py" - "$handled_file" "${files[@]}" <<'PY'
import copy, glob, json, sys
import jsonschema, yaml

handled_path, files = sys.argv[1], sys.argv[2:]
docs = []
ok = True
for f in files:
    try:
        with open(f) as fh:
            for i, d in enumerate(yaml.safe_load_all(fh)):
                if d:
                    docs.append((f, i, d))
    except yaml.YAMLError as e:
        print(f"FAIL: {f}: not YAML: {e}")
        ok = False

def closed(schema):
    """Mirror the API server's pruning as an error: objects with properties are closed."""
    s = copy.deepcopy(schema)
    def walk(n):
        if not isinstance(n, dict):
            return
        if n.get("type") == "object" and "properties" in n \
                and "additionalProperties" not in n \
                and not n.get("x-kubernetes-preserve-unknown-fields"):
            n["additionalProperties"] = False
        for k in ("properties", "patternProperties"):
            for v in n.get(k, {}).values():
                walk(v)
        for k in ("items", "additionalProperties", "not"):
            if isinstance(n.get(k), dict):
                walk(n[k])
        for k in ("allOf", "anyOf", "oneOf"):
            for v in n.get(k, []):
                walk(v)
    walk(s)
    # The API server owns these top-level fields; CRD schemas do not declare them.
    s.setdefault("properties", {})
    s["properties"].setdefault("apiVersion", {"type": "string"})
    s["properties"].setdefault("kind", {"type": "string"})
    s["properties"].setdefault("metadata", {"type": "object"})
    return s

crds = {}  # (apiVersion, kind) -> (schema, scope, crd file)
for f, _, d in docs:
    if d.get("kind") == "CustomResourceDefinition" and str(d.get("apiVersion", "")).startswith("apiextensions.k8s.io/"):
        spec = d.get("spec", {})
        for v in spec.get("versions", []):
            schema = (v.get("schema") or {}).get("openAPIV3Schema")
            key = (f"{spec.get('group')}/{v.get('name')}", spec.get("names", {}).get("kind"))
            crds[key] = (schema, spec.get("scope"), f)

handled = {("kustomize.config.k8s.io/v1beta1", "Kustomization"),
           ("kustomize.config.k8s.io/v1alpha1", "Component")}
checked = 0
for f, i, d in docs:
    key = (d.get("apiVersion"), d.get("kind"))
    if key not in crds:
        continue
    handled.add(key)
    schema, scope, crd_file = crds[key]
    name = (d.get("metadata") or {}).get("name")
    where = f"{f} (document {i + 1}, {key[1]}/{name})"
    if not name:
        print(f"FAIL: {where}: metadata.name is missing"); ok = False
    if scope == "Cluster" and (d.get("metadata") or {}).get("namespace"):
        print(f"FAIL: {where}: cluster-scoped kind has metadata.namespace"); ok = False
    if schema is None:
        print(f"FAIL: {where}: CRD in {crd_file} has no openAPIV3Schema for {key[0]}"); ok = False
        continue
    errors = sorted(jsonschema.Draft7Validator(closed(schema)).iter_errors(d), key=lambda e: list(e.path))
    for e in errors:
        path = ".".join(str(p) for p in e.path) or "(root)"
        print(f"FAIL: {where}: {path}: {e.message}")
        ok = False
    if not errors:
        print(f"ok   {where} against {crd_file}")
    checked += 1
print(f"     {checked} custom resource(s) checked against {len(crds)} CRD version(s)")

# The graft config carried by ConfigMaps, when the server crate has generated its schema.
config_schemas = sorted(glob.glob("schemas/*config*.schema.json") + glob.glob("schemas/**/*config*.schema.json", recursive=True))
if config_schemas:
    with open(config_schemas[0]) as fh:
        cschema = json.load(fh)
    for f, i, d in docs:
        if d.get("kind") == "ConfigMap" and "config.yaml" in (d.get("data") or {}):
            cfg = yaml.safe_load(d["data"]["config.yaml"]) or {}
            errors = list(jsonschema.validators.validator_for(cschema)(cschema).iter_errors(cfg))
            for e in errors:
                path = ".".join(str(p) for p in e.path) or "(root)"
                print(f"FAIL: {f}: config.yaml: {path}: {e.message} (schema {config_schemas[0]})")
                ok = False
            if not errors:
                print(f"ok   {f}: config.yaml against {config_schemas[0]}")
else:
    print("     no schemas/*config*.schema.json yet: graft config in ConfigMaps not checked")

with open(handled_path, "w") as fh:
    for api_version, kind in sorted(handled):
        fh.write(f"{kind}\t{api_version}\n")
sys.exit(0 if ok else 1)
PY
then
  fail "custom resources or config (see above)"
fi

# --- step 1 and 2: kubernetes-validate --strict on every file -------------------------------
# $1: label; the rest: kubernetes-validate arguments. Errors fail; warnings fail unless they
# are "no schema" warnings for a kind handled above.
run_validate() {
  local label="$1"; shift
  local out rc=0
  out="$(kubernetes-validate --strict --quiet "$@" 2>&1)" || rc=$?
  local line kind api unexpected=0
  while IFS= read -r line; do
    [[ -z "$line" ]] && continue
    if [[ "$line" =~ ^WARN\ .*Couldn\'t\ find\ schema\ for\ kind\ ([^ ]+)\ with\ api\ version\ ([^ ]+)\ for ]]; then
      kind="${BASH_REMATCH[1]}"; api="${BASH_REMATCH[2]}"
      if grep -qxF "$kind"$'\t'"$api" "$handled_file"; then
        continue
      fi
      echo "$line" >&2
      echo "      ^ $kind $api has no schema in kubernetes-validate and no CRD under k8s/" >&2
      unexpected=1
    else
      echo "$line" >&2
      [[ "$line" == WARN* ]] && unexpected=1
    fi
  done <<<"$out"
  if [[ $rc -ne 0 || $unexpected -ne 0 ]]; then
    fail "$label"
  else
    echo "ok   $label"
  fi
}

note "kubernetes-validate --strict, every document of every file (Kubernetes $K8S_MIN_VERSION and the tool's newest)"
for f in "${files[@]}"; do
  run_validate "$f @ $K8S_MIN_VERSION" -k "$K8S_MIN_VERSION" "$f"
  run_validate "$f @ newest" "$f"
done

# --- step 4: kustomize builds ----------------------------------------------------------------
note "kubectl kustomize"
mapfile -t kdirs < <(find k8s -type f \( -name kustomization.yaml -o -name kustomization.yml -o -name Kustomization \) -exec dirname {} \; | LC_ALL=C sort)
if ! command -v kubectl >/dev/null 2>&1; then
  if [[ "${CI:-}" == "true" ]]; then
    fail "kubectl is not installed, and CI=true requires the kustomize builds (${kdirs[*]}) to be checked; install kubectl 1.21 or later (kustomize v4+; Debian bookworm's kubernetes-client 1.20 is too old)"
  else
    echo "SKIP kubectl not found: kustomize builds of ${kdirs[*]} not checked (required when CI=true)"
  fi
else
  for dir in "${kdirs[@]}"; do
    rendered="$(mktemp)"
    if kubectl kustomize "$dir" >"$rendered" 2>"$rendered.err"; then
      echo "ok   kubectl kustomize $dir ($(grep -c '^kind:' "$rendered") resources)"
      run_validate "kubectl kustomize $dir | kubernetes-validate @ $K8S_MIN_VERSION" -k "$K8S_MIN_VERSION" "$rendered"
      run_validate "kubectl kustomize $dir | kubernetes-validate @ newest" "$rendered"
    else
      cat "$rendered.err" >&2
      fail "kubectl kustomize $dir"
    fi
    rm -f "$rendered" "$rendered.err"
  done
fi

if [[ $failures -ne 0 ]]; then
  echo "validate-k8s: $failures check(s) failed" >&2
  exit 1
fi
echo "validate-k8s: all manifests valid"
