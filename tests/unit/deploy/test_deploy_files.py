"""docker-compose.yml, the Dockerfile and the Kubernetes manifests speak of real things:
commands the CLI has, settings that exist, and the ports the settings use."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from contracts.exceptions import SettingsError
from contracts.settings import PREFIX, Settings, describe
from streamml.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[3]
DEFAULTS = Settings()
PORT_OF_COMMAND = {"process": DEFAULTS.scoring_port, "join": DEFAULTS.joiner_port,
                   "monitor": DEFAULTS.monitor_port}


def known_variables() -> set[str]:
    names = {variable for _, variable, _, _ in describe()}
    secrets = {f"{PREFIX}{n.upper()}_FILE" for n in ("model_private_key", "model_public_keys",
                                                     "sasl_password", "ssl_key_password",
                                                     "http_token", "alert_private_key",
                                                     "alert_public_keys")}
    return names | secrets | {"KAFKA_BOOTSTRAP_SERVERS"}


def assert_real_command(args: list[str], where: str) -> None:
    try:
        build_parser().parse_args(args)
    except SystemExit:
        pytest.fail(f"{where}: `streamml {' '.join(args)}` is not a command streamml has")


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def streamml_services() -> dict[str, dict]:
    return {name: s for name, s in compose()["services"].items()
            if s.get("image", "").startswith("streamml")}


def k8s_documents() -> list[tuple[str, dict]]:
    return [(path.name, doc) for path in sorted((ROOT / "deploy" / "k8s").glob("*.yaml"))
            for doc in yaml.safe_load_all(path.read_text()) if doc]


def test_every_compose_service_runs_a_real_command_with_real_settings():
    services = streamml_services()
    assert {"topic-init", "scoring", "joiner", "monitor", "retrainer", "simulator"} <= set(services)
    for name, service in services.items():
        assert_real_command(service["command"], f"docker-compose.yml service {name}")
        unknown = set(service.get("environment", {})) - known_variables()
        assert not unknown, f"service {name} sets variables no setting reads: {unknown}"


def test_compose_ports_are_the_ports_the_settings_use():
    for name, service in streamml_services().items():
        port = PORT_OF_COMMAND.get(service["command"][0])
        published = [str(p).split(":")[-1] for p in service.get("expose", [])
                     + service.get("ports", [])]
        if port is not None and published:
            assert published == [str(port)], f"service {name} exposes {published}, not {port}"


def test_the_private_key_is_a_secret_only_the_publishers_get():
    assert "PRIVATE_KEY" not in (ROOT / "Dockerfile").read_text()
    for name, service in streamml_services().items():
        env = service.get("environment", compose()["x-streamml"]["environment"])
        assert "STREAMML_MODEL_PRIVATE_KEY" not in env
        assert env["STREAMML_MODEL_PUBLIC_KEYS_FILE"].startswith("/run/secrets/")
        holds = "STREAMML_MODEL_PRIVATE_KEY_FILE" in env
        assert holds == (name in {"bootstrap-model", "retrainer"}), name
        assert ("model_private_key" in service.get("secrets", [])) == holds, name


def test_the_alert_key_is_a_secret_only_the_monitor_and_the_retrainer_get():
    for name, service in streamml_services().items():
        env = service.get("environment", compose()["x-streamml"]["environment"])
        holds = env.get("STREAMML_ALERT_PRIVATE_KEY_FILE") == "/run/secrets/alert_private_key"
        assert holds == (service["command"][0] in {"monitor", "retrain"}), name
        assert ("alert_private_key" in service.get("secrets", [])) == holds, name
    for manifest in ("monitor.yaml", "retrainer.yaml"):
        assert "STREAMML_ALERT_PRIVATE_KEY_FILE" in (ROOT / "deploy/k8s" / manifest).read_text()


def test_only_the_retrainer_mounts_the_signing_key_in_kubernetes():
    mounting = {doc["metadata"]["name"] for _, doc in k8s_documents()
                if doc["kind"] == "Deployment" and any(
                    v.get("secret", {}).get("secretName") == "streamml-signing-key"
                    for v in doc["spec"]["template"]["spec"].get("volumes", []))}
    assert mounting == {"streamml-retrainer"}
    config = next(doc for _, doc in k8s_documents() if doc["kind"] == "ConfigMap")
    assert "STREAMML_MODEL_PRIVATE_KEY_FILE" not in config["data"]


@pytest.mark.parametrize("variable, value", [
    ("STREAMML_MODEL_PUBLIC_KEYS", "configmap"), ("STREAMML_MODEL_PRIVATE_KEY", "secret")])
def test_the_placeholder_keys_shipped_are_refused(variable: str, value: str) -> None:
    docs = dict(k8s_documents())
    shipped = (docs["configmap.yaml"]["data"]["STREAMML_MODEL_PUBLIC_KEYS"] if value == "configmap"
               else next(d for n, d in k8s_documents() if n == "secret.yaml"
                         and d["metadata"]["name"] == "streamml-signing-key")
               ["stringData"]["model_private_key"])
    with pytest.raises(SettingsError, match="placeholder"):
        Settings.from_mapping({variable: shipped})


def test_the_dockerfile_is_multi_stage_pinned_and_runs_as_a_user():
    dockerfile = (ROOT / "Dockerfile").read_text()
    bases = re.findall(r"^FROM (\S+)", dockerfile, re.M)
    assert len(bases) >= 2
    assert all(re.search(r":\d+\.\d+\.\d+", base) for base in bases), bases
    user = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert user and user[-1] not in ("root", "0")
    assert 'ENTRYPOINT ["streamml"]' in dockerfile


def test_every_manifest_runs_a_real_command_with_real_settings_and_ports():
    config = next(doc for _, doc in k8s_documents() if doc["kind"] == "ConfigMap")
    unknown = set(config["data"]) - known_variables()
    assert not unknown, f"the ConfigMap sets variables no setting reads: {unknown}"
    deployments = [(f, d) for f, d in k8s_documents() if d["kind"] == "Deployment"]
    assert {d["metadata"]["name"] for _, d in deployments} >= {
        "streamml-scoring", "streamml-joiner", "streamml-monitor", "streamml-retrainer"}
    for file, deployment in deployments:
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert_real_command(container["args"], f"deploy/k8s/{file}")
            ports = [p["containerPort"] for p in container.get("ports", [])]
            expected = PORT_OF_COMMAND.get(container["args"][0])
            if expected is not None:
                assert ports == [expected], f"{file}: ports {ports}, settings use {expected}"
                probes = (container["readinessProbe"]["httpGet"]["path"],
                          container["livenessProbe"]["httpGet"]["path"])
                assert probes == ("/ready", "/live"), f"{file}: probes {probes}"
            assert container["resources"]["limits"] and container["resources"]["requests"]


def test_compose_publishes_ports_on_loopback_only():
    services = compose()["services"]
    for name, service in services.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond localhost"
    assert "ports" not in services["alertmanager"]
    assert [str(p) for p in services["kafka"]["ports"]] == ["127.0.0.1:29092:29092"]


def test_grafana_asks_for_a_login_with_a_password_from_a_secret():
    grafana = compose()["services"]["grafana"]
    env = grafana["environment"]
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert "GF_SECURITY_ADMIN_PASSWORD" not in env
    path = env["GF_SECURITY_ADMIN_PASSWORD__FILE"]
    assert path == "/run/secrets/grafana_admin_password"
    assert grafana["secrets"] == ["grafana_admin_password"]
    assert "grafana_admin_password" in compose()["secrets"]


MOUNTED = "/var/run/secrets/streamml"


def pod_specs() -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc["spec"]["template"]["spec"] for _, doc in k8s_documents()
            if doc["kind"] in ("Deployment", "Job")}


def test_kubernetes_clients_use_sasl_ssl_with_credentials_from_the_secret():
    config = next(doc for _, doc in k8s_documents() if doc["kind"] == "ConfigMap")["data"]
    assert config["STREAMML_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert config["STREAMML_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert config["STREAMML_SASL_PASSWORD_FILE"] == f"{MOUNTED}/sasl_password"
    assert config["STREAMML_SSL_CA_LOCATION"] == f"{MOUNTED}/ca.pem"
    assert "STREAMML_SASL_PASSWORD" not in config
    shipped = next(d for _, d in k8s_documents() if d["metadata"]["name"] == "streamml-secrets")
    assert not shipped.get("stringData") and not shipped.get("data")
    users = set()
    for name, spec in pod_specs().items():
        (container,) = spec["containers"]
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        users.add(env["STREAMML_SASL_USERNAME"])
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        volume = next(v for v in spec["volumes"] if mounts.get(v["name"]) == MOUNTED)
        items = {i["path"]: i["key"] for i in volume["secret"]["items"]}
        assert volume["secret"]["secretName"] == "streamml-secrets", name
        # Each pod holds its own password only, readable by its user (fsGroup).
        assert items["sasl_password"].endswith("_sasl_password") and items["ca.pem"] == "ca.pem"
        assert [k for k in items.values() if k.endswith("_sasl_password")] == [
            items["sasl_password"]], name
        assert spec["securityContext"]["fsGroup"] == spec["securityContext"]["runAsUser"]
    assert len(users) == len(pod_specs()), "components share a Kafka user"


def test_the_http_token_reaches_the_processor_and_the_monitor_from_the_secret():
    specs = pod_specs()
    for name in ("streamml-scoring", "streamml-monitor"):
        (container,) = specs[name]["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["STREAMML_HTTP_TOKEN_FILE"] == f"{MOUNTED}/http_token", name
        volume = next(v for v in specs[name]["volumes"] if v["name"] == "secrets")
        assert {"key": "http_token", "path": "http_token"} in volume["secret"]["items"]


def test_network_policies_let_only_prometheus_reach_the_metrics_ports():
    policies = [d for _, d in k8s_documents() if d["kind"] == "NetworkPolicy"]
    deny = [p for p in policies if p["spec"]["podSelector"] == {
        "matchLabels": {"app.kubernetes.io/part-of": "streamml"}}]
    assert len(deny) == 1 and "ingress" not in deny[0]["spec"]
    assert deny[0]["spec"]["policyTypes"] == ["Ingress"]
    scraped = {d["spec"]["selector"]["app.kubernetes.io/name"]:
               int(d["metadata"]["annotations"]["prometheus.io/port"])
               for _, d in k8s_documents() if d["kind"] == "Service"}
    assert set(scraped) == {"streamml-scoring", "streamml-joiner", "streamml-monitor"}
    opened = {}
    for policy in policies:
        app = policy["spec"]["podSelector"]["matchLabels"].get("app.kubernetes.io/name")
        for rule in policy["spec"].get("ingress", []):
            assert rule["from"] == [{
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}}]
            opened[app] = [p["port"] for p in rule["ports"]]
    assert opened == {app: [port] for app, port in scraped.items()}


def test_the_processor_runs_three_replicas_with_an_autoscaler():
    docs = dict(((d["kind"], d["metadata"]["name"]), d) for _, d in k8s_documents())
    assert docs[("Deployment", "streamml-scoring")]["spec"]["replicas"] == 3
    hpa = docs[("HorizontalPodAutoscaler", "streamml-scoring")]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "streamml-scoring"


def exported_series() -> set[str]:
    """Every series name the processor, the joiner and the monitor expose on /metrics."""
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from monitor.config import load_config
    from monitor.dispatch import Dispatcher
    from monitor.exposition import MonitorCollector, Progress, monitor_registry
    from monitor.pipeline import MonitorPipeline
    from monitor.sinks import MemorySink
    from stream_processors.metrics import joiner_metrics, scoring_metrics

    monitor = MonitorCollector(MonitorPipeline(load_config(), model="conversion"),
                               Dispatcher([MemorySink()]), Progress())
    suffixes = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count"),
                "gauge": ("",)}
    names = set()
    for registry in (scoring_metrics("conversion").registry, joiner_metrics().registry,
                     monitor_registry(monitor)):
        for family in text_string_to_metric_families(generate_latest(registry).decode()):
            names.update(family.name + s for s in suffixes.get(family.type, ("",)))
    return names


def queried_metrics(text: str) -> set[str]:
    return set(re.findall(r"\bstreamml_[a-z0-9_]+\b", text))


def test_every_dashboard_query_reads_a_metric_the_code_exports():
    import json

    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/streamml.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert len(exprs) >= 10
    unknown = queried_metrics(" ".join(exprs)) - exported_series()
    assert not unknown, f"the dashboard queries metrics nothing exports: {unknown}"


def test_every_shipped_prometheus_rule_reads_a_metric_the_code_exports():
    rules = (ROOT / "deploy/prometheus/streamml-rules.yml").read_text()
    unknown = queried_metrics(rules) - exported_series()
    assert not unknown, f"the rules read metrics nothing exports: {unknown}"
