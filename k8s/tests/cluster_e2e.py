#!/usr/bin/env python3
"""The saga on a real single-node cluster (make cluster-up), run by
k8s/cluster/e2e.sh with KUBECONFIG in the environment: the local overlay is
applied as a user would, every workload must become Ready (or Complete) through
its own probes, an order placed through the order-service Service must be PAID;
then, under a stream of orders from loadgen, billing-service is scaled 1 -> 3 ->
1 (its consumer group must spread the 6 partitions over its members), each
service's pod is deleted, and order-service is rolled out to a new image tag;
after each, `sagactl audit` must find every accepted order final, none charged
twice. The k6 CronJob's manual run must complete with its summary in its logs.
A readiness probe pointed at a wrong path must make the readiness check fail.
Prints "ok - ..."/"FAIL - ..." lines, the scaling table (also written to
--table), then "cluster: N passed, M failed"; exits 1 if any failed."""

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

NAMESPACE = "saga"
SERVICES = ("order-service", "billing-service", "notification-service")
BILLING_GROUP = "billing-service"
NODE_PORT = 30080  # k8s/overlays/minikube/order-service-nodeport.yaml
results = []


def check(ok, message):
    results.append(bool(ok))
    print(f"{'ok' if ok else 'FAIL'} - {message}", flush=True)
    return ok


def kubectl(*args, timeout=600):
    """Runs kubectl in the saga namespace; returns (exit status, output and errors)."""
    run = subprocess.run([KUBECTL, "-n", NAMESPACE, *args], capture_output=True, text=True, timeout=timeout)
    return run.returncode, (run.stdout + run.stderr).strip()


def diagnose(selector):
    """What a user would look at when a workload is not ready: pods and their events."""
    _, pods = kubectl("get", "pods", "-l", selector, "-o", "wide")
    _, events = kubectl("get", "events", "--sort-by=.lastTimestamp", "--field-selector", "type=Warning")
    tail = "\n".join(events.splitlines()[-8:])
    return f"{pods}\n{tail}"


def wait_workloads(objects, timeout, report=check):
    """Every Deployment and StatefulSet rolled out and every Job complete, through their probes;
    each outcome goes to REPORT(ok, message)."""
    start = time.monotonic()
    ok = True
    for obj in objects:
        kind, name = obj["kind"], obj["metadata"]["name"]
        if kind not in ("Deployment", "StatefulSet", "Job"):
            continue
        left = max(5, int(timeout - (time.monotonic() - start)))
        if kind == "Job":
            status, out = kubectl("wait", "--for=condition=Complete", f"job/{name}", f"--timeout={left}s")
        else:
            status, out = kubectl("rollout", "status", f"{kind.lower()}/{name}", f"--timeout={left}s")
        labels = obj["spec"]["template"]["metadata"]["labels"]
        selector = ",".join(f"{k}={v}" for k, v in labels.items())
        what = "complete" if kind == "Job" else "ready"
        ok &= report(status == 0, f"{kind} {name} {what} after {time.monotonic() - start:.0f} s"
                    + ("" if status == 0 else f": {out}\n{diagnose(selector)}"))
    return ok


def http(method, url, body=None, timeout=10):
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def place_and_follow(orders_url):
    customer = f"cluster-{int(time.time())}"
    body = {"customerId": customer, "items": [{"productId": "p-1", "name": "Mug", "price": 4.99, "quantity": 2,
                                                "subtotal": 9.98}], "totalAmount": 9.98}
    status, answer = http("POST", f"{orders_url}/api/orders", body)
    if not check(status == 202, f"POST /api/orders through the order-service NodePort: {status}"):
        print(answer)
        return
    order_id, deadline, state = answer["orderId"], time.monotonic() + 60, None
    while time.monotonic() < deadline:
        _, order = http("GET", f"{orders_url}/api/orders/{order_id}")
        state = order.get("status") if isinstance(order, dict) else order
        if state == "PAID":
            break
        time.sleep(0.5)
    check(state == "PAID", f"order {order_id} is {state} (PAID expected within 60 s)")


class Saga:
    """loadgen on this host through the NodePort; sagactl as Jobs of its image beside Kafka and
    Postgres (the audit asks Kafka too, whose brokers advertise in-cluster names)."""

    def __init__(self, bin_dir, orders_url, work):
        self.bin_dir, self.orders_url, self.work = Path(bin_dir), orders_url, Path(work)

    def stream(self, name, rate, seconds):
        """Starts loadgen: RATE orders/s for SECONDS; returns (process, accepted ids file, summary file)."""
        ids, summary = self.work / f"{name}.ids", self.work / f"{name}.summary.json"
        process = subprocess.Popen([self.bin_dir / "loadgen", "orders", "--url", self.orders_url, "--rate", str(rate),
                                    "--duration", str(seconds), "--warmup", "0", "--cooldown", "0",
                                    "--fresh-customers", "--accepted-ids", ids, "--summary", summary],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        return process, ids, summary

    def sagactl(self, job, ids, *args, timeout=180):
        """`sagactl ARGS` as Job JOB, the accepted ids file at /accepted/ids; returns (exit status, output)."""
        kubectl("delete", "configmap,job", "-l", f"saga/sagactl={job}", "--wait=true")
        kubectl("create", "configmap", job, f"--from-file=ids={ids}")
        kubectl("label", "configmap", job, f"saga/sagactl={job}")
        env = [{"name": "KAFKA_BOOTSTRAP_SERVERS", "value": "kafka:9092"}]
        for db in ("orders", "billing", "notifications"):
            secret = {"secretKeyRef": {"name": "saga-db", "key": f"{db}-password"}}
            env += [{"name": f"{db.upper()}_PASSWORD", "valueFrom": secret},
                    {"name": f"{db.upper()}_DATABASE_URL",
                     "value": f"postgres://{db}:$({db.upper()}_PASSWORD)@postgres:5432/{db}"}]
        container = {
            "name": "sagactl", "image": "docker.io/saga/sagactl:local", "imagePullPolicy": "Never",
            "args": list(args), "env": env,
            "volumeMounts": [{"name": "accepted", "mountPath": "/accepted", "readOnly": True}],
            "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]}}}
        manifest = {
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": job, "labels": {"saga/sagactl": job}},
            "spec": {"backoffLimit": 0, "template": {
                "metadata": {"labels": {"saga/sagactl": job}},
                "spec": {"restartPolicy": "Never", "automountServiceAccountToken": False,
                         "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
                                             "seccompProfile": {"type": "RuntimeDefault"}},
                         "containers": [container],
                         "volumes": [{"name": "accepted", "configMap": {"name": job}}]}}}}
        run = subprocess.run([KUBECTL, "-n", NAMESPACE, "create", "-f", "-"], input=json.dumps(manifest),
                             capture_output=True, text=True)
        if run.returncode:
            return run.returncode, run.stderr
        deadline, state = time.monotonic() + timeout, "/"  # succeeded/failed, empty while it runs
        while state == "/" and time.monotonic() < deadline:
            time.sleep(1)
            _, state = kubectl("get", "job", job, "-o", "jsonpath={.status.succeeded}/{.status.failed}")
        _, logs = kubectl("logs", f"job/{job}")
        return (0 if state.startswith("1") else 1), logs

    def audit(self, name, ids):
        """Waits until every accepted order is final, then audits: (accepted, final, twice, violations)."""
        status, out = self.sagactl(f"quiet-{name}", ids, "wait-quiet", "--accepted", "/accepted/ids",
                                   "--timeout", "120")
        check(status == 0, f"{name}: every accepted order final ({out.strip()[-200:]})")
        time.sleep(3)  # the last notifications land after their order is final
        _, out = self.sagactl(f"audit-{name}", ids, "audit", "--json", "--accepted", "/accepted/ids")
        try:
            report = json.loads(out[out.index("{"):])
        except ValueError:
            check(False, f"{name}: sagactl audit: {out.strip()[-400:]}")
            return 0, 0, 0, ["no report"]
        rules = [v["rule"] for v in report["violations"]]
        accepted = report["counts"]["accepted"]["orders"]
        final = report["counts"]["accepted"]["final_orders"]
        twice = rules.count("duplicate_payment")
        check(accepted > 0 and accepted == final and not rules,
              f"{name}: {accepted} accepted, {final} final, lost {accepted - final}, charged twice {twice}, "
              f"violations {len(rules)}" + (f": {sorted(set(rules))}" if rules else ""))
        return accepted, final, twice, rules


def members(group):
    """Partitions per member of GROUP, as kafka-consumer-groups in the broker pod shows it."""
    status, out = kubectl("exec", "kafka-0", "-c", "kafka", "--", "/opt/kafka/bin/kafka-consumer-groups.sh",
                          "--bootstrap-server", "localhost:9092", "--describe", "--members", "--group", group)
    if status:
        return None, out
    counts = []
    for line in out.splitlines():
        cols = line.split()
        if cols and cols[0] == group and cols[-1].isdigit():
            counts.append(int(cols[-1]))
    return sorted(counts, reverse=True), out


def scale_billing(replicas, timeout=120):
    """Scales billing-service; waits until its group has REPLICAS members sharing the 6 partitions."""
    kubectl("scale", "deployment", "billing-service", f"--replicas={replicas}")
    kubectl("rollout", "status", "deployment/billing-service", f"--timeout={timeout}s")
    deadline, spread, out = time.monotonic() + timeout, None, ""
    while time.monotonic() < deadline:
        spread, out = members(BILLING_GROUP)
        if spread and len(spread) == replicas and sum(spread) == 6:
            break
        time.sleep(2)
    check(spread and len(spread) == replicas and sum(spread) == 6,
          f"billing-service at {replicas} replica(s): its group's members hold {spread} partitions" +
          ("" if spread and len(spread) == replicas else f"\n{out}"))
    return spread


def finish(name, process, summary):
    """Waits for loadgen; returns (requests, accepted, not accepted) of its summary."""
    _, err = process.communicate()
    if not check(process.returncode == 0, f"{name}: loadgen finished"
                 + (f": {err.strip()[-300:]}" if process.returncode else "")):
        return 0, 0, 0
    metrics = json.loads(Path(summary).read_text())["metrics"]
    count = lambda metric: metrics.get(f"{metric}{{scenario:step}}", {}).get("values", {}).get("count", 0)
    requests, accepted, rejected = count("http_reqs"), count("orders_accepted"), count("orders_rejected")
    print(f"# {name}: {requests} requests, {accepted} accepted (202), {rejected} not accepted")
    return requests, accepted, rejected


def scaling_experiment(saga, rate, seconds):
    """A stream across billing-service 1 -> 3 -> 1; one table row per phase."""
    rows = []
    for replicas in (1, 3, 1):
        name = f"scale-{len(rows) + 1}-billing-x{replicas}"
        process, ids, summary = saga.stream(name, rate, seconds)
        spread = scale_billing(replicas)
        finish(name, process, summary)
        accepted, final, twice, _ = saga.audit(name, ids)
        rows.append((replicas, spread, rate, accepted / seconds, final / seconds, accepted - final, twice))
    return rows


def delete_pods_under_load(saga, rate):
    name = "pod-deletions"
    process, ids, summary = saga.stream(name, rate, 45)
    for service in SERVICES:
        time.sleep(5)
        status, out = kubectl("delete", "pod", "-l", f"app.kubernetes.io/name={service}", "--wait=false")
        check(status == 0, f"{name}: {service}'s pods deleted under load")
        status, out = kubectl("rollout", "status", f"deployment/{service}", "--timeout=120s")
        check(status == 0, f"{name}: {service} ready again" + ("" if status == 0 else f": {out}"))
    finish(name, process, summary)
    saga.audit(name, ids)


def rollout_under_load(saga, rate, image):
    name = "rollout"
    process, ids, summary = saga.stream(name, rate, 40)
    time.sleep(5)
    status, out = kubectl("set", "image", "deployment/order-service", f"order-service={image}")
    check(status == 0, f"{name}: order-service set to {image}" + ("" if status == 0 else f": {out}"))
    status, out = kubectl("rollout", "status", "deployment/order-service", "--timeout=180s")
    check(status == 0, f"{name}: the rollout completed under load" + ("" if status == 0 else f": {out}"))
    _, accepted, rejected = finish(name, process, summary)
    # preStop (endpoints drop the pod first) and readiness: no request may fail.
    check(accepted > 0 and rejected == 0, f"{name}: every order placed during the rollout accepted "
          f"({accepted} accepted, {rejected} not)")
    saga.audit(name, ids)


def k6_manual_run():
    name = f"k6-manual-{int(time.time())}"
    status, out = kubectl("create", "job", "--from=cronjob/k6-load-test", name)
    if not check(status == 0, f"k6: job {name} created from the CronJob" + ("" if status == 0 else f": {out}")):
        return
    status, out = kubectl("wait", "--for=condition=Complete", f"job/{name}", "--timeout=240s")
    _, logs = kubectl("logs", f"job/{name}")
    summary = [line for line in logs.splitlines() if re.search(r"http_reqs|checks_succeeded|iterations", line)]
    check(status == 0 and summary, f"k6: {name} completed with its summary in its logs"
          + ("\n" + "\n".join(summary) if summary else f": {out}\n{logs[-1500:]}"))


def broken_readiness_fails():
    """The readiness check itself can fail: a probe on a path the service does not serve."""
    deployment = "notification-service"
    patch = [{"op": "replace", "path": "/spec/template/spec/containers/0/readinessProbe/httpGet/path",
              "value": "/health/not-a-path"}]
    kubectl("patch", "deployment", deployment, "--type=json", "-p", json.dumps(patch))
    _, raw = kubectl("get", "deployment", deployment, "-o", "json")
    broken = json.loads(raw)
    outcomes = []
    wait_workloads([broken], timeout=45, report=lambda ok, message: outcomes.append(ok) or ok)
    failed = outcomes == [False]
    _, events = kubectl("get", "events", "--field-selector", "reason=Unhealthy", "-o",
                        "jsonpath={range .items[*]}{.message}{'\\n'}{end}")
    reason = next((e for e in events.splitlines() if "not-a-path" in e or "404" in e), "")
    check(failed and reason, f"a readiness probe on a wrong path fails the readiness check: {reason or 'no event'}")
    kubectl("rollout", "undo", f"deployment/{deployment}")
    status, out = kubectl("rollout", "status", f"deployment/{deployment}", "--timeout=120s")
    check(status == 0, f"{deployment} ready again after the rollout is undone" + ("" if status == 0 else f": {out}"))


def table(rows, rate, seconds):
    lines = [f"Scaling billing-service under {rate} orders/s offered, {seconds} s per row "
             f"({time.strftime('%Y-%m-%d')}, single-node cluster, everything on this machine):", "",
             "| billing replicas | partitions per member | offered/s | accepted/s | completed/s | lost | doubled |",
             "|---|---|---|---|---|---|---|"]
    for replicas, spread, offered, accepted, completed, lost, twice in rows:
        lines.append(f"| {replicas} | {spread} | {offered} | {accepted:.1f} | {completed:.1f} | {lost} | {twice} |")
    return "\n".join(lines) + "\n"


def main():
    global KUBECTL
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--kubectl", required=True)
    parser.add_argument("--bin-dir", required=True, help="where loadgen is (a release build)")
    parser.add_argument("--overlay", default="k8s/overlays/local")
    parser.add_argument("--rollout-image", required=True, help="order-service's image under another tag")
    parser.add_argument("--rate", type=int, default=20, help="orders/s of the streams")
    parser.add_argument("--seconds", type=int, default=20, help="seconds per scaling row")
    parser.add_argument("--table", type=Path, help="write the scaling table (markdown) here")
    args = parser.parse_args()
    KUBECTL = args.kubectl
    overlay = args.root / args.overlay
    # The objects as kubectl renders them (its built-in kustomize), to know what to wait for.
    rendered = subprocess.run([KUBECTL, "kustomize", str(overlay)], capture_output=True, text=True, check=True)
    listed = subprocess.run([KUBECTL, "create", "--dry-run=client", "-o", "json", "-f", "-"], input=rendered.stdout,
                            capture_output=True, text=True, check=True)
    objects, text, at = [], listed.stdout, 0
    decoder = json.JSONDecoder()
    while text[at:].strip():  # one JSON document per object
        obj, at = decoder.raw_decode(text, text.index("{", at))
        objects.append(obj)
    status, out = kubectl("apply", "-k", str(overlay))
    check(status == 0, f"kubectl apply -k {args.overlay}" + ("" if status == 0 else f": {out}"))
    if wait_workloads(objects, timeout=420):
        status, node = kubectl("get", "nodes", "-o", "jsonpath={.items[0].status.addresses[0].address}")
        orders_url = f"http://{node}:{NODE_PORT}"
        place_and_follow(orders_url)
        with tempfile.TemporaryDirectory() as work:
            saga = Saga(args.bin_dir, orders_url, work)
            rows = scaling_experiment(saga, args.rate, args.seconds)
            text = table(rows, args.rate, args.seconds)
            print(text)
            if args.table:
                args.table.write_text(text)
            delete_pods_under_load(saga, args.rate)
            rollout_under_load(saga, args.rate, args.rollout_image)
        k6_manual_run()
        broken_readiness_fails()
    failed = results.count(False)
    print(f"cluster: {len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
