#!/usr/bin/env python3
"""Offline checks of the Kubernetes manifests (run by scripts/k8s-validate.sh).

    check_manifests.py --root REPO --kustomize BIN [--kubernetes-version 1.37.0] OVERLAY...

Renders each overlay of k8s/overlays with kustomize, validates every object
against the Kubernetes schemas (kubernetes-validate, strict) and then checks
the properties a schema cannot see: probes on the paths the services really
serve, resources, the restricted security profile, the topic catalogue and k6
scripts byte for byte, PDBs, HPAs, broker counts, what is reachable from
outside the cluster, the admin token's way from the Secret to the services,
Prometheus's way to /metrics (NetworkPolicy, ServiceMonitor), and on the
operators' overlay the Strimzi topics and users against kafka-setup/ and the
services' credentials. Prints one "ok - ..." or
"FAIL - ..." line per check, then "k8s: N passed, M failed"; exits 1 if any
failed. Needs only the standard library and PyYAML (plus kubernetes-validate).
"""

import argparse
import re
import subprocess
import sys
from pathlib import Path

import yaml

import operator_schemas

SERVICES = ("order-service", "billing-service", "notification-service")
AUTOSCALED = ("order-service", "billing-service")
# What each overlay promises about Kafka: brokers and topic replication factor.
EXPECTED_BROKERS = {"minikube": 1, "local": 1, "gke": 3}
# Overlays on Strimzi and CloudNativePG instead of the in-cluster StatefulSets.
OPERATOR_OVERLAYS = ("gke",)
K6_ENTRY = "load-test.js"
# The one Service that may be reached from outside the cluster (never from the
# internet: a LoadBalancer must be an internal one).
ENTRY_POINT = "order-service"
INTERNAL_LB = ("networking.gke.io/load-balancer-type", "Internal")
# Their HTTP APIs are for in-namespace callers only (the admin token guards
# billing's writes besides).
IN_NAMESPACE_ONLY = ("billing-service", "notification-service")
# Where the scrape check expects Prometheus: the labels of its namespace and
# pods, as k8s/base/network-policies.yaml admits them (change both together).
PROMETHEUS_NAMESPACE = {"kubernetes.io/metadata.name": "monitoring"}
PROMETHEUS_POD = {"app.kubernetes.io/name": "prometheus"}
# Objects that publish a Service outside the cluster by naming it.
ROUTES = ("Ingress", "Gateway", "HTTPRoute", "GRPCRoute", "TCPRoute", "TLSRoute", "UDPRoute")

results = []


def check(ok, message):
    results.append(bool(ok))
    print(f"{'ok' if ok else 'FAIL'} - {message}")
    return ok


def served_health_paths(root):
    """Liveness and readiness paths as routed in common/src/health.rs."""
    source = (root / "common/src/health.rs").read_text()
    routes = re.findall(r'\.route\(\s*"(/[^"]+)"', source)
    live = [r for r in routes if "live" in r]
    ready = [r for r in routes if "ready" in r]
    if len(live) != 1 or len(ready) != 1:
        sys.exit(f"cannot tell the health routes apart in common/src/health.rs: {routes}")
    return live[0], ready[0]


def served_routes(root):
    """Every literal path routed in the shared crate (health, metrics, ...)."""
    return {route for path in sorted((root / "common/src").glob("*.rs"))
            for route in re.findall(r'\.route\(\s*"(/[^"]+)"', path.read_text())}


def min_admin_token_chars(root):
    """The shortest admin token a service accepts (common/src/config.rs)."""
    found = re.search(r"MIN_ADMIN_TOKEN_CHARS: usize = (\d+);", (root / "common/src/config.rs").read_text())
    if not found:
        sys.exit("cannot find MIN_ADMIN_TOKEN_CHARS in common/src/config.rs")
    return int(found.group(1))


def pod_spec(obj):
    kind = obj.get("kind")
    if kind in ("Deployment", "StatefulSet", "Job", "DaemonSet", "ReplicaSet"):
        return obj["spec"]["template"]["spec"]
    if kind == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    if kind == "Pod":
        return obj["spec"]
    return None


def containers(spec):
    return list(spec.get("initContainers") or []) + list(spec.get("containers") or [])


def env_value(container, name):
    for entry in container.get("env") or []:
        if entry["name"] == name:
            return entry.get("value")
    return None


def find(objects, kind, name=None, prefix=None):
    for obj in objects:
        if obj.get("kind") != kind:
            continue
        obj_name = obj["metadata"]["name"]
        if name is not None and obj_name == name:
            return obj
        if prefix is not None and obj_name.startswith(prefix):
            return obj
    return None


def config_map_mounted_at(objects, spec, container, mount_path):
    """The ConfigMap behind the volume that `container` mounts at mount_path."""
    for mount in container.get("volumeMounts") or []:
        if mount["mountPath"] != mount_path:
            continue
        for volume in spec.get("volumes") or []:
            if volume["name"] == mount["name"] and "configMap" in volume:
                return find(objects, "ConfigMap", name=volume["configMap"]["name"])
    return None


def check_schemas(overlay, objects, version):
    for obj in objects:
        ident = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        try:
            what = operator_schemas.validate(obj, version)  # custom resources: their operators' schemas
            check(True, f"{overlay}: {ident} matches {what} (strict)")
        except Exception as error:  # ValidationError, SchemaNotFoundError, ...
            first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
            check(False, f"{overlay}: {ident} fails its schema: {first_line}")


def check_workloads(overlay, objects, live, ready, routes):
    for obj in objects:
        spec = pod_spec(obj)
        if spec is None:
            continue
        ident = f"{obj['kind']}/{obj['metadata']['name']}"
        pod_security = spec.get("securityContext") or {}
        for c in containers(spec):
            where = f"{overlay}: {ident} container {c['name']}"
            res = c.get("resources") or {}
            missing = [
                f"{part}.{resource}"
                for part in ("requests", "limits")
                for resource in ("cpu", "memory")
                if resource not in (res.get(part) or {})
            ]
            check(not missing, f"{where} has cpu+memory requests and limits"
                  + (f" (missing {', '.join(missing)})" if missing else ""))

            # Container settings win over the pod's, as in Kubernetes.
            sec = c.get("securityContext") or {}
            non_root = sec.get("runAsNonRoot", pod_security.get("runAsNonRoot")) is True
            uid = sec.get("runAsUser", pod_security.get("runAsUser"))
            seccomp = (sec.get("seccompProfile") or pod_security.get("seccompProfile") or {}).get("type")
            problems = []
            if not non_root or uid == 0:
                problems.append("not runAsNonRoot")
            if sec.get("readOnlyRootFilesystem") is not True:
                problems.append("root filesystem writable")
            if sec.get("allowPrivilegeEscalation") is not False:
                problems.append("privilege escalation allowed")
            if "ALL" not in ((sec.get("capabilities") or {}).get("drop") or []):
                problems.append("capabilities not dropped")
            if seccomp not in ("RuntimeDefault", "Localhost"):
                problems.append("no seccomp profile")
            check(not problems, f"{where} runs non-root, read-only root fs, restricted profile"
                  + (f" ({'; '.join(problems)})" if problems else ""))

            # $(VAR) only expands when VAR is defined earlier in the same env list.
            defined, late = set(), []
            for entry in c.get("env") or []:
                for ref in re.findall(r"(?<!\$)\$\(([A-Za-z_][A-Za-z0-9_]*)\)", entry.get("value") or ""):
                    if ref not in defined and f"{entry['name']} uses $({ref})" not in late:
                        late.append(f"{entry['name']} uses $({ref})")
                defined.add(entry["name"])
            if c.get("env"):
                check(not late, f"{where}: every $(VAR) in env is defined before use"
                      + (f" ({'; '.join(late)})" if late else ""))

            for probe_kind in ("startupProbe", "livenessProbe", "readinessProbe"):
                probe = c.get(probe_kind) or {}
                if "httpGet" in probe:
                    want = ready if probe_kind == "readinessProbe" else live
                    got = probe["httpGet"].get("path")
                    check(got == want, f"{where} {probe_kind} GET {got} (served: {want})")

    for name in SERVICES:
        deployment = find(objects, "Deployment", name=name)
        if not check(deployment, f"{overlay}: Deployment {name} exists"):
            continue
        c = deployment["spec"]["template"]["spec"]["containers"][0]
        paths = {k: (c.get(k) or {}).get("httpGet", {}).get("path")
                 for k in ("startupProbe", "livenessProbe", "readinessProbe")}
        check(paths == {"startupProbe": live, "livenessProbe": live, "readinessProbe": ready},
              f"{overlay}: {name} has startup+liveness on {live} and readiness on {ready}")
        check((env_value(c, "DATABASE_URL") or "").find("$(DB_PASSWORD)") > 0
              or (env_value(c, "DATABASE_URL_FILE") and env_value(c, "DATABASE_URL") is None),
              f"{overlay}: {name} takes the database password from a Secret ($(DB_PASSWORD) or DATABASE_URL_FILE)")

        grace = deployment["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30)
        config = find(objects, "ConfigMap", prefix="saga-config")
        shutdown = int((config or {}).get("data", {}).get("SHUTDOWN_TIMEOUT_SECS", 25))
        check(grace > shutdown + 5,
              f"{overlay}: {name} grace period {grace}s > SHUTDOWN_TIMEOUT_SECS {shutdown}s + preStop 5s")

        annotations = deployment["spec"]["template"]["metadata"].get("annotations") or {}
        port = str(next((p["containerPort"] for p in c.get("ports", []) if p.get("name") == "http"), ""))
        scrape_path = annotations.get("prometheus.io/path")
        check(annotations.get("prometheus.io/scrape") == "true"
              and annotations.get("prometheus.io/port") == port and scrape_path in routes,
              f"{overlay}: {name} is scraped on port {port} at {scrape_path}, a path the service serves")

        labels = deployment["spec"]["template"]["metadata"]["labels"]
        pdbs = [o for o in objects if o["kind"] == "PodDisruptionBudget" and all(
            labels.get(k) == v for k, v in o["spec"]["selector"].get("matchLabels", {}).items())]
        check(pdbs, f"{overlay}: {name} has a PodDisruptionBudget")

        hpas = [o for o in objects if o["kind"] == "HorizontalPodAutoscaler"
                and o["spec"]["scaleTargetRef"]["kind"] == "Deployment"
                and o["spec"]["scaleTargetRef"]["name"] == name]
        if name in AUTOSCALED:
            cpu = [m for h in hpas for m in h["spec"].get("metrics", [])
                   if m.get("type") == "Resource" and m["resource"]["name"] == "cpu"]
            check(hpas and hpas[0]["apiVersion"] == "autoscaling/v2" and cpu,
                  f"{overlay}: {name} has an autoscaling/v2 CPU HorizontalPodAutoscaler")
        else:
            check(not hpas, f"{overlay}: {name} has no HorizontalPodAutoscaler")


def check_topics(overlay, objects, root):
    catalogue = (root / "kafka-setup/topics.conf").read_bytes()
    job = find(objects, "Job", prefix="kafka-topics-")
    if not check(job, f"{overlay}: Job kafka-topics-<hash> exists"):
        return
    # A Job's pod template is immutable: what it runs changes only with its name.
    name = job["metadata"]["name"]
    patch = (root / "k8s/components/in-cluster-kafka-postgres/generated/job-name.yaml").read_text()
    check(re.fullmatch(r"kafka-topics-[0-9a-f]{8}", name) and patch.endswith(f"value: {name}\n"),
          f"{overlay}: the topics Job {name} is named by generated/job-name.yaml (a hash of what it runs)")
    spec = job["spec"]["template"]["spec"]
    main = spec["containers"][0]
    path = env_value(main, "TOPIC_CATALOGUE") or ""
    mount_dir, _, key = path.rpartition("/")
    config_map = config_map_mounted_at(objects, spec, main, mount_dir)
    data = (config_map or {}).get("data", {})
    check(key == "topics.conf" and data.get(key, "").encode() == catalogue,
          f"{overlay}: the topics Job's catalogue ({path}) equals kafka-setup/topics.conf byte for byte")
    script = (root / "kafka-setup/ensure-topics.sh").read_bytes()
    check(data.get("ensure-topics.sh", "").encode() == script,
          f"{overlay}: the topics Job runs kafka-setup/ensure-topics.sh unchanged")

    brokers = EXPECTED_BROKERS.get(overlay)
    kafka = find(objects, "StatefulSet", name="kafka")
    if brokers is None or not check(kafka, f"{overlay}: StatefulSet kafka exists"):
        return
    replicas = kafka["spec"].get("replicas", 1)
    check(replicas == brokers, f"{overlay}: Kafka runs {replicas} broker(s), expected {brokers}")
    broker = kafka["spec"]["template"]["spec"]["containers"][0]
    voters = (env_value(broker, "KAFKA_CONTROLLER_QUORUM_VOTERS") or "").split(",")
    ids = sorted(int(v.split("@")[0]) for v in voters if "@" in v)
    check(ids == list(range(replicas)),
          f"{overlay}: KAFKA_CONTROLLER_QUORUM_VOTERS lists node ids {ids} = the pod ordinals 0..{replicas - 1}")
    factors = {c["name"]: env_value(c, "TOPIC_REPLICATION_FACTOR") for c in containers(spec)}
    check(set(factors.values()) == {str(brokers)},
          f"{overlay}: TOPIC_REPLICATION_FACTOR={brokers} in the topics Job ({factors})")
    # ensure-topics.sh caps the catalogue's min.insync.replicas at the replication factor.
    effective = sorted({min(int(line.split()[3]), brokers)
                        for line in catalogue.decode().splitlines()
                        if line.strip() and not line.lstrip().startswith("#")})
    check(effective == [min(2, brokers)],
          f"{overlay}: topics get min.insync.replicas {effective} with {brokers} broker(s)")


def secret_file(spec, container, path):
    """(Secret name, key) behind the file `path` of `container`, or None."""
    mount_dir, _, file_name = path.rpartition("/")
    mount = next((m for m in container.get("volumeMounts") or [] if m["mountPath"] == mount_dir), None)
    volume = next((v for v in spec.get("volumes") or [] if mount and v["name"] == mount["name"]), {})
    secret = volume.get("secret") or {}
    keys = [i["key"] for i in secret.get("items") or [] if i["path"] == file_name]
    return (secret.get("secretName"), keys[0]) if keys and mount.get("readOnly") else None


def check_operators(overlay, objects, root):
    """Strimzi and CloudNativePG instead of our StatefulSets: topics equal to the
    catalogue, one user per service with the ACL table's rights, each service
    with its own credentials as files."""
    ours = [f"{o['kind']}/{o['metadata']['name']}" for o in objects if o["kind"] in ("StatefulSet", "Job")]
    check(not ours, f"{overlay}: no Kafka/Postgres StatefulSet or topics Job of ours ({', '.join(ours) or 'none'})")
    brokers = EXPECTED_BROKERS[overlay]
    pools = [o for o in objects if o["kind"] == "KafkaNodePool"]
    check(sum(p["spec"]["replicas"] for p in pools) == brokers
          and all(sorted(p["spec"]["roles"]) == ["broker", "controller"] for p in pools),
          f"{overlay}: Strimzi runs {brokers} broker+controller nodes")
    kafka = find(objects, "Kafka", prefix="") or {"metadata": {"name": "?"}, "spec": {"kafka": {}}}
    cluster, spec = kafka["metadata"]["name"], kafka["spec"]["kafka"]
    config = spec.get("config") or {}
    check({k: config.get(k) for k in ("min.insync.replicas", "default.replication.factor",
                                      "offsets.topic.replication.factor")} ==
          {"min.insync.replicas": 2, "default.replication.factor": 3, "offsets.topic.replication.factor": 3}
          and (spec.get("authorization") or {}).get("type") == "simple"
          and any(l.get("tls") and l["port"] == 9093 and l.get("authentication", {}).get("type") == "scram-sha-512"
                  for l in spec.get("listeners") or []),
          f"{overlay}: Kafka {cluster}: TLS+SCRAM listener on 9093, ACLs enforced, RF 3, min ISR 2")
    topics = {o["metadata"]["name"]: (o["spec"]["partitions"], o["spec"]["replicas"],
                                      o["spec"]["config"]["retention.ms"], o["spec"]["config"]["min.insync.replicas"])
              for o in objects if o["kind"] == "KafkaTopic"}
    lines = [line.split() for line in (root / "kafka-setup/topics.conf").read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    catalogue = {n: (int(p), brokers, int(r), min(int(m), brokers)) for n, p, r, m in lines}
    check(topics == catalogue, f"{overlay}: the {len(topics)} KafkaTopics equal kafka-setup/topics.conf")
    table = {}
    for line in (root / "kafka-setup/acls.conf").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#") and line.split()[1:] != ["*"] * 3:
            principal, writes, reads, group = line.split()
            names = lambda column: [] if column == "-" else column.split(",")  # noqa: E731
            table[principal] = ({("topic", t, op) for t in names(writes) for op in ("Write", "Describe")}
                                | {("topic", t, op) for t in names(reads) for op in ("Read", "Describe")}
                                | {("group", g, "Read") for g in names(group)})
    users = {o["metadata"]["name"]: {(a["resource"]["type"], a["resource"]["name"], op)
                                     for a in o["spec"]["authorization"]["acls"] for op in a["operations"]
                                     if a["resource"].get("patternType", "literal") == "literal"
                                     and a.get("type", "allow") == "allow"}
             for o in objects if o["kind"] == "KafkaUser"
             and o["spec"]["authentication"]["type"] == "scram-sha-512"}
    check(users == table,
          f"{overlay}: the {len(users)} KafkaUsers (SCRAM) have exactly the ACLs of kafka-setup/acls.conf")
    pg = find(objects, "Cluster", prefix="") or {"metadata": {"name": "?"}, "spec": {}}
    roles = {r["name"] for r in (pg["spec"].get("managed") or {}).get("roles") or []}
    databases = {o["spec"]["name"]: o["spec"]["owner"] for o in objects if o["kind"] == "Database"}
    check(pg["spec"].get("instances") == 3 and pg["spec"].get("postgresql", {}).get("synchronous") ==
          {"method": "any", "number": 1} and databases == {r: r for r in roles} and roles,
          f"{overlay}: CNPG Cluster {pg['metadata']['name']}: 3 instances, quorum commit, "
          "a role owning a database per service")
    for name in SERVICES:
        deployment = find(objects, "Deployment", name=name)
        if deployment is None:
            continue
        pod, c = deployment["spec"]["template"]["spec"], deployment["spec"]["template"]["spec"]["containers"][0]
        config_map = find(objects, "ConfigMap", prefix="saga-config")["data"]
        env = {**config_map, **{e["name"]: e.get("value") for e in c.get("env") or []}}
        files = {v: secret_file(pod, c, env.get(v) or "") for v in
                 ("KAFKA_SASL_PASSWORD_FILE", "KAFKA_SSL_CA_LOCATION", "DATABASE_URL_FILE")}
        check(env.get("KAFKA_SASL_USERNAME") == name and name in users
              and env.get("KAFKA_BOOTSTRAP_SERVERS") == f"{cluster}-kafka-bootstrap:9093"
              and env.get("KAFKA_SECURITY_PROTOCOL") == "sasl_ssl"
              and files["KAFKA_SASL_PASSWORD_FILE"] == (name, "password")
              and files["KAFKA_SSL_CA_LOCATION"] == (f"{cluster}-cluster-ca-cert", "ca.crt"),
              f"{overlay}: {name} is KafkaUser {name} over SASL_SSL, password and CA from Strimzi's Secrets as files")
        ca = next((m["mountPath"] for m in c.get("volumeMounts") or [] if secret_file(
            pod, c, m["mountPath"] + "/ca.crt") == (f"{pg['metadata']['name']}-ca", "ca.crt")), None)
        check(files["DATABASE_URL_FILE"] and files["DATABASE_URL_FILE"][1] == "url" and ca,
              f"{overlay}: {name} reads DATABASE_URL_FILE from a Secret's url key, CNPG's CA mounted at {ca}")


def check_k6(overlay, objects, root):
    cron = find(objects, "CronJob", prefix="k6")
    if not check(cron, f"{overlay}: the k6 CronJob exists"):
        return
    check(cron["spec"].get("concurrencyPolicy") == "Forbid", f"{overlay}: k6 CronJob has concurrencyPolicy Forbid")
    spec = pod_spec(cron)
    k6 = spec["containers"][0]
    script = next((a for a in k6.get("args") or [] if a.endswith(".js")), "")
    mount_dir, _, entry = script.rpartition("/")
    config_map = config_map_mounted_at(objects, spec, k6, mount_dir)
    data = (config_map or {}).get("data", {})
    files = {p.name: p.read_bytes() for p in sorted((root / "k6").glob("*.js"))}
    check(entry == K6_ENTRY and entry in data, f"{overlay}: k6 runs {script}, which the scripts ConfigMap holds")
    check(sorted(data) == sorted(files),
          f"{overlay}: the k6 ConfigMap holds exactly the scripts in k6/ ({', '.join(sorted(files))})")
    for name, content in files.items():
        check(data.get(name, "").encode() == content, f"{overlay}: k6 ConfigMap {name} equals k6/{name} byte for byte")


def check_exposure(overlay, objects):
    """Only order-service leaves the cluster, and never on a public address."""
    for svc in (o for o in objects if o["kind"] == "Service"):
        name, spec = svc["metadata"]["name"], svc["spec"]
        kind = spec.get("type", "ClusterIP")
        annotations = svc["metadata"].get("annotations") or {}
        if name == ENTRY_POINT:
            check(kind != "LoadBalancer" or annotations.get(INTERNAL_LB[0]) == INTERNAL_LB[1],
                  f"{overlay}: Service {name} ({kind}) is no public load balancer"
                  + (f" ({INTERNAL_LB[0]}: {INTERNAL_LB[1]})" if kind == "LoadBalancer" else ""))
        else:
            check(kind == "ClusterIP", f"{overlay}: Service {name} is ClusterIP, reachable in the cluster only"
                  + ("" if kind == "ClusterIP" else f" (it is {kind})"))
        check(not spec.get("externalIPs"), f"{overlay}: Service {name} has no externalIPs")
    for route in (o for o in objects if o["kind"] in ROUTES):
        text = yaml.safe_dump(route)
        named = [n for n in SERVICES if n != ENTRY_POINT and re.search(rf"\b{n}\b", text)]
        check(not named, f"{overlay}: {route['kind']}/{route['metadata']['name']} publishes no internal API"
              + (f" (names {', '.join(named)})" if named else ""))
    for name in IN_NAMESPACE_ONLY:
        policies = [p for p in objects if p["kind"] == "NetworkPolicy"
                    and p["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name") == name]
        sources = [peer for p in policies for rule in p["spec"].get("ingress") or []
                   for peer in rule.get("from") or [{"anywhere": True}]]
        check(policies and sources and all(list(peer) == ["podSelector"] for peer in sources),
              f"{overlay}: {name} admits only pods of its own namespace (NetworkPolicy)")


def check_admin_token(overlay, objects, min_chars):
    """Each service reads ADMIN_TOKEN_FILE from the Secret's admin-token key,
    mounted for its user only; the development Secret's token is long enough."""
    for name in SERVICES:
        deployment = find(objects, "Deployment", name=name)
        if deployment is None:
            continue
        spec = deployment["spec"]["template"]["spec"]
        c = spec["containers"][0]
        path = env_value(c, "ADMIN_TOKEN_FILE") or ""
        mount_dir, _, file_name = path.rpartition("/")
        mount = next((m for m in c.get("volumeMounts") or [] if m["mountPath"] == mount_dir), None)
        volume = next((v for v in spec.get("volumes") or [] if mount and v["name"] == mount["name"]), {})
        secret = volume.get("secret") or {}
        items = {i["key"]: i["path"] for i in secret.get("items") or []}
        check(path and secret.get("secretName") == "saga-db" and items == {"admin-token": file_name}
              and mount.get("readOnly") is True,
              f"{overlay}: {name} reads ADMIN_TOKEN_FILE={path}, only the key admin-token of Secret saga-db, read-only")
        check(all(e["name"] != "ADMIN_TOKEN" for e in c.get("env") or []),
              f"{overlay}: {name} gets no ADMIN_TOKEN variable (the token stays out of the environment)")
        mode = secret.get("defaultMode", 0o644)
        group = (spec.get("securityContext") or {}).get("fsGroup")
        check(group is not None and mode & 0o040 and not mode & 0o007,
              f"{overlay}: {name}'s token file is mode {mode:o}, group {group}: its user reads it, others cannot")
    dev = find(objects, "Secret", name="saga-db")
    if dev is not None:
        token = (dev.get("stringData") or {}).get("admin-token", "")
        check(len(token) >= min_chars and all(33 <= ord(ch) <= 126 for ch in token),
              f"{overlay}: the development Secret's admin-token is {min_chars}+ visible ASCII characters")


def check_scraping(overlay, objects, root, kustomize):
    """With the monitoring component rendered: a NetworkPolicy admits the
    monitoring namespace's Prometheus to each service's metrics port, and the
    ServiceMonitor of k8s/monitoring/operator scrapes a named port of each
    Service that leads to that port, at /metrics."""
    if find(objects, "ConfigMap", prefix="saga-prometheus-scrape-config") is None:
        return

    def selects(selector, labels):
        # An absent selector selects everything, as in a NetworkPolicy peer.
        if selector is None:
            return True
        ops = {"In": lambda e: labels.get(e["key"]) in e["values"],
               "NotIn": lambda e: labels.get(e["key"]) not in e["values"],
               "Exists": lambda e: e["key"] in labels, "DoesNotExist": lambda e: e["key"] not in labels}
        return (all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())
                and all(ops[e["operator"]](e) for e in selector.get("matchExpressions") or []))

    built = subprocess.run([kustomize, "build", str(root / "k8s/monitoring/operator")], capture_output=True, text=True)
    monitors = [o for o in yaml.safe_load_all(built.stdout) if o and o["kind"] == "ServiceMonitor"]
    check(built.returncode == 0 and monitors, f"{overlay}: k8s/monitoring/operator renders a ServiceMonitor")
    for name in SERVICES:
        deployment, service = find(objects, "Deployment", name=name), find(objects, "Service", name=name)
        if deployment is None or service is None:
            continue
        template = deployment["spec"]["template"]
        labels = template["metadata"]["labels"]
        number = int((template["metadata"].get("annotations") or {}).get("prometheus.io/port", 0))
        port = next((p for p in template["spec"]["containers"][0].get("ports") or [] if p["containerPort"] == number), {})
        # A rule without `from` admits every source; without `ports`, or a port entry without `port`, every port.
        admitted = [p["metadata"]["name"] for p in objects if p["kind"] == "NetworkPolicy"
                    and selects(p["spec"]["podSelector"], labels)
                    and any((not rule.get("from") or any(
                                 "namespaceSelector" in peer and selects(peer["namespaceSelector"], PROMETHEUS_NAMESPACE)
                                 and selects(peer.get("podSelector"), PROMETHEUS_POD) for peer in rule["from"]))
                            and (not rule.get("ports") or any(
                                 rp.get("port") in (None, number, port.get("name")) and rp.get("protocol", "TCP") == "TCP"
                                 for rp in rule["ports"]))
                            for rule in p["spec"].get("ingress") or [])]
        who = ", ".join(f"{k}={v}" for k, v in {**PROMETHEUS_NAMESPACE, **PROMETHEUS_POD}.items())
        check(admitted, f"{overlay}: a NetworkPolicy admits Prometheus ({who}) to {name}'s metrics port {number}"
              + (f" ({', '.join(admitted)})" if admitted else ""))
        # The operator scrapes the pod behind the Service port the endpoint names.
        targets = {sp["name"]: sp.get("targetPort", sp["port"]) for sp in service["spec"]["ports"] if sp.get("name")}
        endpoints = [e for m in monitors if m["metadata"].get("namespace") == service["metadata"].get("namespace")
                     and selects(m["spec"].get("selector"), service["metadata"].get("labels") or {})
                     for e in m["spec"].get("endpoints") or []]
        good = [e for e in endpoints if e.get("path") == "/metrics"
                and targets.get(e.get("port"), object()) in (number, port.get("name"))]
        check(endpoints and good == endpoints,
              f"{overlay}: the ServiceMonitor scrapes Service {name} on a named port leading to {number}, at /metrics"
              + ("" if endpoints else " (it selects no such Service)")
              + "".join(f" (not port {e.get('port')} path {e.get('path')})" for e in endpoints if e not in good))


def render(root, kustomize, overlay):
    """The overlay's objects, or None when kustomize fails."""
    built = subprocess.run([kustomize, "build", str(root / "k8s/overlays" / overlay)],
                           capture_output=True, text=True)
    if not check(built.returncode == 0,
                 f"{overlay}: kustomize build renders" + ("" if built.returncode == 0 else
                                                          f": {' '.join(built.stderr.split())}")):
        return None
    return [o for o in yaml.safe_load_all(built.stdout) if o]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--kustomize", required=True)
    parser.add_argument("--kubernetes-version", default="1.37.0")
    parser.add_argument("overlays", nargs="+", metavar="OVERLAY")
    args = parser.parse_args()

    live, ready = served_health_paths(args.root)
    routes = served_routes(args.root)
    min_chars = min_admin_token_chars(args.root)
    operator_schemas.self_test(check, args.root, args.kustomize, args.kubernetes_version)
    for overlay in args.overlays:
        objects = render(args.root, args.kustomize, overlay)
        if objects is None:
            continue
        check(objects, f"{overlay}: rendered {len(objects)} objects")
        check_schemas(overlay, objects, args.kubernetes_version)
        check_workloads(overlay, objects, live, ready, routes)
        if overlay in OPERATOR_OVERLAYS:
            check_operators(overlay, objects, args.root)
        else:
            check_topics(overlay, objects, args.root)
        check_k6(overlay, objects, args.root)
        check_exposure(overlay, objects)
        check_admin_token(overlay, objects, min_chars)
        check_scraping(overlay, objects, args.root, args.kustomize)
    failed = results.count(False)
    print(f"k8s: {len(results) - failed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
