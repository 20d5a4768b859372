"""Lint, render and validate the Maitre Helm chart without a `helm` binary or a cluster.

Run through charts/check.sh, which provides the pinned tools (charts/requirements.txt):
- helm-python-sdk: Helm's own Go SDK (lint, values schema, template rendering), bundled;
- kubernetes-validate: the Kubernetes OpenAPI schemas, checked strictly (unknown fields fail).

The chart is rendered twice, with its defaults and with ci/full-values.yaml (every option
on), and each rendering must pass both Kubernetes versions below plus the invariants the
deployment docs promise (non-root, read-only root fs, probes, resources, hook Job, …).
Prints one line per check and exits non-zero when any check fails.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import yaml

CHART_DIR = Path(__file__).resolve().parent / "maitre"
FULL_VALUES = CHART_DIR / "ci" / "full-values.yaml"
# The deployment guide's example values file must keep installing as documented.
GUIDE = CHART_DIR.parent.parent / "docs" / "kubernetes.md"
GUIDE_VALUES_MARK = "# my-values.yaml\n"
# The oldest release the chart supports (Chart.yaml kubeVersion: native gRPC probes are GA
# in 1.27) and the newest whose schemas the pinned kubernetes-validate ships.
KUBE_VERSIONS = ("1.27.0", kubernetes_validate.latest_version())
SERVICES = ("profile", "assignment", "tagging", "notification")
HOOK_EVENTS = "pre-install,pre-upgrade"
# Kinds without a schema in kubernetes-validate (CRDs); checked structurally below.
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}

Manifest = dict[str, Any]


class Report:
    """Collects named check results and prints each as it completes."""

    def __init__(self) -> None:
        self.passed = 0
        self.failures: list[str] = []

    def check(self, name: str, problems: list[str]) -> None:
        if problems:
            self.failures.append(name)
            print(f"FAIL {name}")
            for problem in problems:
                print(f"     - {problem}")
        else:
            self.passed += 1
            print(f"ok   {name}")

    def run(self, name: str, check: Callable[[], list[str]]) -> None:
        """Run a check; an exception is a failure of that check, not a crash."""
        try:
            problems = check()
        except helm.HelmError as err:
            problems = [f"helm: {err}"]
        self.check(name, problems)


def lint(values: dict[str, Any] | None) -> list[str]:
    problems = []
    for kube in KUBE_VERSIONS:
        report = helm.lint(CHART_DIR, values, strict=True, kube_version=f"v{kube}")
        # Severity 1 is informational ("icon is recommended"); warnings fail under strict.
        problems += [
            f"k8s {kube}: {m['path']}: {m['error'].strip()}" for m in report["messages"] if m["severity"] >= 2
        ]
        problems += [f"k8s {kube}: {e.strip()}" for e in report["errors"]]
    return sorted(set(problems))


def render(values: dict[str, Any] | None, release: str) -> list[Manifest]:
    with helm.Chart.load(CHART_DIR) as chart:
        files = chart.render(values, name=release, namespace="crm", is_install=True)
    manifests = []
    for path, text in sorted(files.items()):
        if path.endswith("NOTES.txt"):
            continue
        manifests += [doc for doc in yaml.safe_load_all(text) if doc]
    return manifests


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """A component's settings as the chart computes them: its section over `defaults`."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merged[key] = deep_merge(base[key], value)
        else:
            merged[key] = value
    return merged


def name_of(m: Manifest) -> str:
    return f"{m['kind']}/{m['metadata']['name']}"


def by_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def validate_schemas(manifests: list[Manifest]) -> list[str]:
    problems = []
    for m in manifests:
        if m["kind"] in CRD_KINDS:
            continue
        for kube in KUBE_VERSIONS:
            try:
                kubernetes_validate.validate(m, kube, strict=True)
            except kubernetes_validate.ValidationError as err:
                path = ".".join(str(p) for p in err.path)
                problems.append(f"{name_of(m)} (k8s {kube}) {path}: {err.message}")
            except kubernetes_validate.SchemaNotFoundError as err:
                problems.append(f"{name_of(m)}: {err.message}")
    return problems


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def pod_problems(owner: str, pod: Manifest) -> list[str]:
    """Security, resources and /tmp rules every pod of the chart must follow."""
    problems = []
    if pod.get("securityContext", {}).get("runAsNonRoot") is not True:
        problems.append(f"{owner}: pod securityContext.runAsNonRoot is not true")
    if pod.get("automountServiceAccountToken") is not False:
        problems.append(f"{owner}: mounts a ServiceAccount token")
    tmp_volumes = {v["name"] for v in pod.get("volumes", []) if "emptyDir" in v}
    for c in pod.get("initContainers", []) + pod["containers"]:
        where = f"{owner} container {c['name']}"
        sc = c.get("securityContext", {})
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{where}: readOnlyRootFilesystem is not true")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}: allowPrivilegeEscalation is not false")
        if sc.get("runAsUser", pod["securityContext"].get("runAsUser")) != 10001:
            problems.append(f"{where}: does not run as uid 10001")
        resources = c.get("resources", {})
        if not resources.get("requests", {}).get("memory") or not resources.get("limits", {}).get("memory"):
            problems.append(f"{where}: memory request and limit are required")
        if not resources.get("requests", {}).get("cpu"):
            problems.append(f"{where}: cpu request is required")
        if not any(
            vm["mountPath"] == "/tmp" and vm["name"] in tmp_volumes for vm in c.get("volumeMounts", [])
        ):
            problems.append(f"{where}: /tmp is not an emptyDir")
    return problems


def deployment_problems(manifests: list[Manifest], enabled: list[str]) -> list[str]:
    problems = []
    deployments = by_kind(manifests, "Deployment")
    components = sorted(d["metadata"]["labels"]["app.kubernetes.io/component"] for d in deployments)
    if components != sorted(enabled):
        problems.append(f"expected one Deployment per component, got {components}")
    for d in deployments:
        owner = name_of(d)
        component = d["metadata"]["labels"]["app.kubernetes.io/component"]
        pod = d["spec"]["template"]["spec"]
        problems += pod_problems(owner, pod)
        (c,) = pod["containers"]
        if c.get("args") != ["serve", component]:
            problems.append(f"{owner}: args {c.get('args')} != ['serve', '{component}']")
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            handler = c.get(probe, {})
            if component == "gateway":
                want = {"startupProbe": "/healthz", "livenessProbe": "/healthz", "readinessProbe": "/readyz"}[
                    probe
                ]
                if handler.get("httpGet", {}).get("path") != want:
                    problems.append(f"{owner}: {probe} is not GET {want}")
            elif handler.get("grpc", {}).get("port") != 50051:
                problems.append(f"{owner}: {probe} is not a gRPC health probe on 50051")
        jwt_items = {i["path"] for v in pod["volumes"] if "secret" in v for i in v["secret"].get("items", [])}
        want_keys = {"public.pem"} if component == "gateway" else {"public.pem", "private.pem"}
        if jwt_items != want_keys:
            problems.append(f"{owner}: JWT files {sorted(jwt_items)} != {sorted(want_keys)}")
        env = {e["name"] for e in c.get("env", [])}
        if component != "gateway" and "MAITRE_DATABASE_URL" not in env:
            problems.append(f"{owner}: MAITRE_DATABASE_URL not set from a Secret")
        if "MAITRE_REDIS_URL" not in env:
            problems.append(f"{owner}: MAITRE_REDIS_URL not set from a Secret")
    return problems


def config_problems(manifests: list[Manifest], migrations_enabled: bool) -> list[str]:
    """Every Deployment's ConfigMap exists and carries the binary's contract."""
    problems = []
    configmaps = {m["metadata"]["name"]: m["data"] for m in by_kind(manifests, "ConfigMap")}
    services = {m["metadata"]["name"]: m for m in by_kind(manifests, "Service")}
    for d in by_kind(manifests, "Deployment"):
        component = d["metadata"]["labels"]["app.kubernetes.io/component"]
        (c,) = d["spec"]["template"]["spec"]["containers"]
        refs = [e["configMapRef"]["name"] for e in c.get("envFrom", []) if "configMapRef" in e]
        data = configmaps.get(refs[0]) if refs else None
        if data is None:
            problems.append(f"{name_of(d)}: its ConfigMap {refs} is not rendered")
            continue
        listen = "0.0.0.0:8080" if component == "gateway" else "0.0.0.0:50051"
        expected = {
            "MAITRE_ENV": "production",
            "MAITRE_LISTEN": listen,
            "MAITRE_METRICS_LISTEN": "0.0.0.0:9090",
            "OTEL_SERVICE_NAME": f"maitre-{component}",
        }
        for key, want in expected.items():
            if data.get(key) != want:
                problems.append(f"{name_of(d)}: {key}={data.get(key)!r}, want {want!r}")
        if (component == "gateway") == ("MAITRE_JWT_PRIVATE_KEY_FILE" in data):
            problems.append(f"{name_of(d)}: MAITRE_JWT_PRIVATE_KEY_FILE must be set for services only")
        deployed = {
            m["metadata"]["labels"]["app.kubernetes.io/component"] for m in by_kind(manifests, "Deployment")
        }
        for service in SERVICES:
            url = data.get(f"MAITRE_{service.upper()}_URL", "")
            if service not in deployed:
                # Not deployed: the gateway answers its routes 501 and stays ready.
                if url != "disabled":
                    problems.append(f"{name_of(d)}: MAITRE_{service.upper()}_URL={url!r}, want 'disabled'")
                continue
            host = url.removeprefix("http://").removesuffix(":50051")
            if host not in services or not url.endswith(":50051"):
                problems.append(
                    f"{name_of(d)}: MAITRE_{service.upper()}_URL={url!r} names no Service port 50051"
                )
        want_migrate = "false" if migrations_enabled else "true"
        if component != "gateway" and data.get("MAITRE_MIGRATE_ON_START") != want_migrate:
            problems.append(
                f"{name_of(d)}: MAITRE_MIGRATE_ON_START={data.get('MAITRE_MIGRATE_ON_START')!r}, want {want_migrate!r}"
            )
        # Replicas share each consumer by partition: every service gets the count; once it is
        # cut (more than 1), at least the replica count it may run with.
        if component != "gateway":
            partitions = data.get("MAITRE_EVENT_PARTITIONS", "")
            replicas = d["spec"].get("replicas") or 1
            if not partitions.isdigit() or not 1 <= int(partitions) <= 256:
                problems.append(f"{name_of(d)}: MAITRE_EVENT_PARTITIONS={partitions!r}, want 1–256")
            elif 1 < int(partitions) < replicas:
                problems.append(
                    f"{name_of(d)}: MAITRE_EVENT_PARTITIONS={partitions} is below its {replicas} replicas"
                )
    return problems


CONSOLE_OIDC_KEYS = ("MAITRE_CONSOLE_OIDC_ISSUER", "MAITRE_CONSOLE_OIDC_CLIENT_ID", "MAITRE_CONSOLE_OIDC_SCOPE")


def console_oidc_problems(manifests: list[Manifest], oidc: dict[str, Any]) -> list[str]:
    """The gateway's ConfigMap names the console's issuer exactly when one is configured; no
    service's ConfigMap carries the console's settings."""
    problems = []
    want = (
        dict(zip(CONSOLE_OIDC_KEYS, (oidc["issuer"], oidc["clientId"], oidc.get("scope") or "openid")))
        if oidc.get("issuer")
        else {}
    )
    for m in by_kind(manifests, "ConfigMap"):
        component = m["metadata"]["labels"].get("app.kubernetes.io/component")
        have = {k: v for k, v in (m.get("data") or {}).items() if k in CONSOLE_OIDC_KEYS}
        expected = want if component == "gateway" else {}
        if have != expected:
            problems.append(f"{name_of(m)}: console OIDC settings {have}, want {expected}")
    return problems


def wiring_problems(manifests: list[Manifest], settings: dict[str, dict[str, Any]]) -> list[str]:
    """Services, PDBs and HPAs point at the Deployments they belong to."""
    problems = []
    deployments = {d["metadata"]["name"]: d for d in by_kind(manifests, "Deployment")}
    pod_labels = {n: d["spec"]["template"]["metadata"]["labels"] for n, d in deployments.items()}
    for kind in ("Service", "PodDisruptionBudget"):
        for m in by_kind(manifests, kind):
            selector = m["spec"]["selector"]
            selector = selector.get("matchLabels", {}) if kind != "Service" else selector
            hits = [n for n, labels in pod_labels.items() if selects(selector, labels)]
            if len(hits) != 1:
                problems.append(f"{name_of(m)} selects {hits}, want exactly one Deployment")
    for name in deployments:
        if not any(m["metadata"]["name"] == name for m in by_kind(manifests, "Service")):
            problems.append(f"Deployment/{name} has no Service")
    hpa_targets = {h["spec"]["scaleTargetRef"]["name"] for h in by_kind(manifests, "HorizontalPodAutoscaler")}
    if not hpa_targets <= set(deployments):
        problems.append(f"HPAs target missing Deployments {sorted(hpa_targets - set(deployments))}")
    for name, d in deployments.items():
        component = d["metadata"]["labels"]["app.kubernetes.io/component"]
        want_hpa = settings[component]["autoscaling"]["enabled"]
        if want_hpa != (name in hpa_targets):
            problems.append(f"{name_of(d)}: HPA present={name in hpa_targets}, want {want_hpa}")
        if name in hpa_targets and "replicas" in d["spec"]:
            problems.append(f"{name_of(d)}: sets replicas although an HPA scales it")
    rendered_accounts = {m["metadata"]["name"] for m in by_kind(manifests, "ServiceAccount")}
    for d in deployments.values():
        account = settings[d["metadata"]["labels"]["app.kubernetes.io/component"]]["serviceAccount"]
        used = d["spec"]["template"]["spec"]["serviceAccountName"]
        if account["create"] and used not in rendered_accounts:
            problems.append(f"{name_of(d)}: runs as ServiceAccount/{used}, which is not rendered")
        if not account["create"] and used != (account.get("name") or "default"):
            problems.append(f"{name_of(d)}: runs as {used}, not the configured existing ServiceAccount")
    return problems


def database_ref(container: Manifest) -> tuple[str, str] | None:
    """The (Secret, key) a container reads MAITRE_DATABASE_URL from, if any."""
    for e in container.get("env", []):
        if e["name"] == "MAITRE_DATABASE_URL":
            ref = e["valueFrom"]["secretKeyRef"]
            return (ref["name"], ref["key"])
    return None


def migration_problems(manifests: list[Manifest], enabled: bool) -> list[str]:
    jobs = by_kind(manifests, "Job")
    if not enabled:
        return [f"migrations disabled, yet Jobs {[name_of(j) for j in jobs]}"] if jobs else []
    if len(jobs) != 1:
        return [f"expected one migration Job, got {[name_of(j) for j in jobs]}"]
    (job,) = jobs
    problems = []
    annotations = job["metadata"].get("annotations", {})
    if annotations.get("helm.sh/hook") != HOOK_EVENTS:
        problems.append(
            f"{name_of(job)}: helm.sh/hook={annotations.get('helm.sh/hook')!r}, want {HOOK_EVENTS!r}"
        )
    pod = job["spec"]["template"]["spec"]
    problems += pod_problems(name_of(job), pod)
    steps = pod.get("initContainers", []) + pod["containers"]
    if any(c.get("args") != ["migrate"] for c in steps):
        problems.append(f"{name_of(job)}: a step does not run `maitre migrate`")
    # Every database a service reads is migrated, each exactly once.
    migrated = [database_ref(c) for c in steps]
    read = {
        database_ref(c)
        for d in by_kind(manifests, "Deployment")
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    read.discard(None)
    if len(set(migrated)) != len(migrated) or set(migrated) != read:
        problems.append(f"{name_of(job)} migrates {migrated}, services read {sorted(read)}")
    if any("configMapRef" in e for c in steps for e in c.get("envFrom", [])):
        problems.append(f"{name_of(job)}: reads a ConfigMap that does not exist yet at pre-install")
    # Hooks run before the release's ordinary objects: the Job's ServiceAccount must be a
    # hook too, created earlier (lower weight).
    sa = [
        m for m in by_kind(manifests, "ServiceAccount") if m["metadata"]["name"] == pod["serviceAccountName"]
    ]
    sa_hook = sa[0]["metadata"].get("annotations", {}) if sa else {}
    if sa_hook.get("helm.sh/hook") != HOOK_EVENTS:
        problems.append(f"{name_of(job)}: its ServiceAccount is not a {HOOK_EVENTS} hook")
    elif int(sa_hook.get("helm.sh/hook-weight", 0)) >= int(annotations.get("helm.sh/hook-weight", 0)):
        problems.append(f"{name_of(job)}: its ServiceAccount hook does not run first")
    return problems


def monitoring_problems(manifests: list[Manifest], want_monitor: bool, want_ingress: bool) -> list[str]:
    problems = []
    monitors = by_kind(manifests, "ServiceMonitor")
    if len(monitors) != int(want_monitor):
        problems.append(f"{len(monitors)} ServiceMonitors rendered, want {int(want_monitor)}")
    for sm in monitors:
        if sm["apiVersion"] != "monitoring.coreos.com/v1":
            problems.append(f"{name_of(sm)}: apiVersion {sm['apiVersion']}")
        selector = sm["spec"]["selector"]["matchLabels"]
        scraped = [s for s in by_kind(manifests, "Service") if selects(selector, s["metadata"]["labels"])]
        if len(scraped) != len(by_kind(manifests, "Deployment")):
            problems.append(f"{name_of(sm)} selects {len(scraped)} Services, want one per component")
        ports = [e.get("port") for e in sm["spec"]["endpoints"]]
        for s in scraped:
            if not set(ports) <= {p["name"] for p in s["spec"]["ports"]}:
                problems.append(f"{name_of(sm)}: {name_of(s)} lacks ports {ports}")
    ingresses = by_kind(manifests, "Ingress")
    if len(ingresses) != int(want_ingress):
        problems.append(f"{len(ingresses)} Ingresses rendered, want {int(want_ingress)}")
    gateways = {
        s["metadata"]["name"]
        for s in by_kind(manifests, "Service")
        if s["metadata"]["name"].endswith("-gateway")
    }
    for ing in ingresses:
        for rule in ing["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                if path["backend"]["service"]["name"] not in gateways:
                    problems.append(
                        f"{name_of(ing)}: backend {path['backend']['service']['name']} is not the gateway"
                    )
    return problems


# Where the product records its metrics: every series an alert or a dashboard panel reads must
# be one of these (a renamed metric would otherwise leave a silent alert).
SOURCE_DIRS = (CHART_DIR.parent.parent / "services", CHART_DIR.parent.parent / "gateway")
METRIC_CALL = re.compile(r'(?:counter|gauge|histogram)!\(\s*"([a-z_]+)"')
METRIC_NAME = re.compile(r"\b((?:maitre|grpc_server)_[a-z_]+)")


def recorded_metrics() -> set[str]:
    names: set[str] = set()
    for root in SOURCE_DIRS:
        for path in root.rglob("*.rs"):
            names.update(METRIC_CALL.findall(path.read_text()))
    return names


def read_series(text: str) -> set[str]:
    series = set()
    for name in METRIC_NAME.findall(text):
        for suffix in ("_bucket", "_sum", "_count"):
            name = name.removesuffix(suffix)
        series.add(name)
    return series


def observability_problems(manifests: list[Manifest], want_rule: bool, want_dashboard: bool) -> list[str]:
    problems = []
    recorded = recorded_metrics()
    rules = by_kind(manifests, "PrometheusRule")
    if len(rules) != int(want_rule):
        problems.append(f"{len(rules)} PrometheusRules rendered, want {int(want_rule)}")
    dashboards = [m for m in by_kind(manifests, "ConfigMap") if "maitre.json" in m.get("data", {})]
    if len(dashboards) != int(want_dashboard):
        problems.append(f"{len(dashboards)} dashboard ConfigMaps rendered, want {int(want_dashboard)}")
    texts = [yaml.safe_dump(r["spec"]) for r in rules] + [d["data"]["maitre.json"] for d in dashboards]
    for text in texts:
        for series in sorted(read_series(text) - recorded):
            problems.append(f"{series} is read by an alert or a panel but recorded nowhere in the code")
    policies = {p["metadata"]["name"]: p for p in by_kind(manifests, "NetworkPolicy")}
    for deployment in by_kind(manifests, "Deployment") if policies else []:
        name = deployment["metadata"]["name"]
        policy = policies.get(name)
        if policy is None:
            problems.append(f"{name}: no NetworkPolicy")
            continue
        if name.endswith("-gateway"):
            continue
        for rule in policy["spec"]["ingress"]:
            ports = {p["port"] for p in rule["ports"]}
            peers = rule.get("from", [])
            if "grpc" in ports and not (peers and all(set(peer) == {"podSelector"} for peer in peers)):
                problems.append(f"{name}: gRPC reachable from outside the release: {peers}")
    return problems


def schema_rejects(values: dict[str, Any], why: str) -> Callable[[], list[str]]:
    def check() -> list[str]:
        try:
            render(values, "bad")
        except helm.HelmError:
            return []
        return [f"values with {why} rendered without a schema error"]

    return check


def check_rendering(report: Report, label: str, values: dict[str, Any] | None, release: str) -> None:
    with helm.Chart.load(CHART_DIR) as chart:
        merged = chart.merge_values(values)
    own = {**{s: merged["services"][s] for s in SERVICES}, "gateway": merged["gateway"]}
    settings = {name: deep_merge(merged["defaults"], section) for name, section in own.items()}
    try:
        manifests = render(values, release)
    except helm.HelmError as err:
        report.check(f"{label}: render", [str(err)])
        return
    kinds = sorted({m["kind"] for m in manifests})
    report.check(f"{label}: render ({len(manifests)} objects: {', '.join(kinds)})", [])
    report.run(
        f"{label}: strict Kubernetes schemas {', '.join(KUBE_VERSIONS)}", lambda: validate_schemas(manifests)
    )
    enabled = [name for name, section in own.items() if section.get("enabled", True)]
    report.run(
        f"{label}: Deployments non-root, read-only, probed, resourced",
        lambda: deployment_problems(manifests, enabled),
    )
    migrations = merged["migrations"]["enabled"]
    report.run(
        f"{label}: ConfigMaps carry the binary's contract", lambda: config_problems(manifests, migrations)
    )
    oidc = merged["gateway"]["console"]["oidc"]
    report.run(
        f"{label}: console OIDC {'at ' + oidc['issuer'] if oidc.get('issuer') else 'off'}, in the gateway's ConfigMap only",
        lambda: console_oidc_problems(manifests, oidc),
    )
    report.run(
        f"{label}: Services, PDBs, HPAs wired to Deployments", lambda: wiring_problems(manifests, settings)
    )
    report.run(
        f"{label}: migration Job is a {HOOK_EVENTS} hook covering every database",
        lambda: migration_problems(manifests, merged["migrations"]["enabled"]),
    )
    report.run(
        f"{label}: alerts and dashboard read recorded metrics; services reachable only in the release",
        lambda: observability_problems(
            manifests,
            merged["metrics"]["prometheusRule"]["enabled"],
            merged["metrics"]["grafanaDashboard"]["enabled"],
        ),
    )
    want_monitor = merged["metrics"]["serviceMonitor"]["enabled"]
    want_ingress = merged["gateway"]["ingress"]["enabled"]
    report.run(
        f"{label}: ServiceMonitor={want_monitor}, Ingress={want_ingress} exactly when enabled",
        lambda: monitoring_problems(manifests, want_monitor, want_ingress),
    )


def guide_values() -> dict[str, Any]:
    """The `my-values.yaml` example of docs/kubernetes.md."""
    text = GUIDE.read_text()
    start = text.index(GUIDE_VALUES_MARK)
    return yaml.safe_load(text[start : text.index("```", start)])


def main() -> int:
    started = time.monotonic()
    print(f"helm SDK {helm.helm_sdk_version()}, kubernetes-validate {kubernetes_validate.__version__}")
    full_values = yaml.safe_load(FULL_VALUES.read_text())
    report = Report()
    report.run("helm lint --strict (defaults)", lambda: lint(None))
    report.run("helm lint --strict (ci/full-values.yaml)", lambda: lint(full_values))
    report.run("values schema rejects an unknown key", schema_rejects({"gatway": {}}, "a misspelt key"))
    report.run(
        "values schema rejects a non-integer rate limit",
        schema_rejects({"gateway": {"rateLimitPerMinute": "lots"}}, "a string rate limit"),
    )
    report.run(
        "values schema rejects a console issuer without a client id",
        schema_rejects({"gateway": {"console": {"oidc": {"issuer": "https://id.example.com"}}}}, "no clientId"),
    )
    report.run(
        "values schema rejects a console issuer that is not a URL",
        schema_rejects({"gateway": {"console": {"oidc": {"issuer": "id.example.com", "clientId": "c"}}}}, "a bare host"),
    )
    check_rendering(report, "defaults", None, "maitre")
    check_rendering(report, "full-values", full_values, "full")
    check_rendering(
        report,
        "notification disabled, no migration Job",
        {"services": {"notification": {"enabled": False}}, "migrations": {"enabled": False}},
        "maitre",
    )
    try:
        example = guide_values()
    except (OSError, ValueError, yaml.YAMLError) as err:
        report.check(f"docs example: {GUIDE_VALUES_MARK.strip()} block found in {GUIDE.name}", [str(err)])
    else:
        check_rendering(report, "docs example", example, "maitre")
    failed = len(report.failures)
    print(f"({time.monotonic() - started:.1f}s)")
    print(f"chart-check: {report.passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
