#!/usr/bin/env python3
"""Checks one overlay against a real, empty Kubernetes API server (started by
k8s/apiserver/apiserver.sh, KUBECONFIG in the environment): its namespaces are
created and the operators' CRDs installed; the rendered overlay must pass a
server-side dry-run apply with warnings as errors; every pod template must be
admitted as a Pod (PodSecurity of its namespace); a real apply, then a second
one, must change nothing (kubectl diff exits 0); then a topic is added to the
catalogue of a copy of the repository, its generated files refreshed as
k8s/README.md says, and that overlay must apply over the first. With
--upgrade-from REV, the overlay as at git REV is applied first and the current
one over it. The overlay "self-test" instead
proves these checks can fail: broken samples must be refused by the server.
Prints "ok - ..."/"FAIL - ..." lines, then "apiserver OVERLAY: N passed, M
failed"; exits 1 if any failed."""

import argparse
import copy
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from operator_schemas import broken  # a sample with one field set wrong

WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob")
SAMPLES = "k8s/tests/samples"
# A line for kafka-setup/topics.conf, as a user adding a topic would write it.
NEW_TOPIC = "order-archived              6           604800000     2"
# The test that writes the generated files (contract/src/k8s_resources.rs).
GENERATOR = "k8s_resources::the_committed_kubernetes_files_are_generated_from_their_sources"
results = []


def check(ok, message):
    results.append(ok)
    print(f"{'ok' if ok else 'FAIL'} - {message}")
    return ok


def kubectl(args, objects=None):
    """Runs kubectl; returns (exit status, its output and errors, trimmed)."""
    stdin = yaml.safe_dump_all(objects) if objects is not None else None
    run = subprocess.run([KUBECTL, *args], input=stdin, capture_output=True, text=True)
    return run.returncode, (run.stdout + run.stderr).strip()


def render(kustomize, path, *flags):
    run = subprocess.run([kustomize, "build", *flags, str(path)], capture_output=True, text=True, check=True)
    return [o for o in yaml.safe_load_all(run.stdout) if o]


def ident(obj):
    return f"{obj['kind']}/{obj['metadata']['name']}"


def install_crds(dirs, objects):
    """The CRDs of the kinds among OBJECTS only: each costs the server time."""
    used = {(o["apiVersion"].rpartition("/")[0], o["kind"]) for o in objects}
    files = sorted(p for d in dirs for p in Path(d).glob("*.yaml"))
    crds = [o for p in files for o in yaml.safe_load_all(p.read_text())
            if o and o.get("kind") == "CustomResourceDefinition"
            and (o["spec"]["group"], o["spec"]["names"]["kind"]) in used]
    if not crds:
        return True
    status, out = kubectl(["apply", "--server-side", "-f", "-"], crds)
    kinds = ", ".join(sorted(o["spec"]["names"]["kind"] for o in crds))
    if not check(status == 0, f"the CRDs used installed (from Strimzi's and controller-gen's): {kinds}"):
        print(out)
        return False
    status, out = kubectl(["wait", "--for=condition=Established", "--timeout=60s", "crd", "--all"])
    return check(status == 0, "the CRDs are established" + ("" if status == 0 else f": {out}"))


def create_namespaces(objects):
    namespaces = [o for o in objects if o["kind"] == "Namespace"]
    if not namespaces:
        return True
    # Each with its default ServiceAccount, which kube-controller-manager (not run) would create.
    accounts = [{"apiVersion": "v1", "kind": "ServiceAccount",
                 "metadata": {"name": "default", "namespace": o["metadata"]["name"]}} for o in namespaces]
    status, out = kubectl(["apply", "--server-side", "-f", "-"], namespaces + accounts)
    names = ", ".join(o["metadata"]["name"] for o in namespaces)
    return check(status == 0, f"namespaces created, with their default ServiceAccount: {names}"
                 + ("" if status == 0 else f": {out}"))


def pod_of(obj):
    """The Pod a workload's controller would create, for admission (PodSecurity)."""
    spec = obj["spec"]
    if obj["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    template = copy.deepcopy(spec["template"])
    pod_spec = template["spec"]
    # A StatefulSet's claim templates become volumes of its pods.
    for claim in spec.get("volumeClaimTemplates", []):
        name = claim["metadata"]["name"]
        pod_spec.setdefault("volumes", []).append(
            {"name": name, "persistentVolumeClaim": {"claimName": f"{name}-{obj['metadata']['name']}-0"}})
    metadata = {"name": f"{obj['kind'].lower()}-{obj['metadata']['name']}",
                "namespace": obj["metadata"].get("namespace", "default"),
                "labels": template.get("metadata", {}).get("labels", {})}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": pod_spec}


def dry_run(objects):
    return kubectl(["apply", "--server-side", "--dry-run=server", "--warnings-as-errors", "-f", "-"], objects)


def check_overlay(name, objects):
    status, out = dry_run(objects)
    if not check(status == 0, f"{name}: {len(objects)} objects pass a server-side dry-run apply, no warnings"):
        print("\n".join(line for line in out.splitlines() if "serverside-applied" not in line))
    status, first = apply(objects)
    if not check(status == 0, f"{name}: applied for real"):
        print(first)
        return
    # After the real apply: the ServiceAccounts and ConfigMaps a pod names exist.
    for obj in objects:
        if obj["kind"] in WORKLOADS:
            pod = pod_of(obj)
            status, out = kubectl(["create", "--dry-run=server", "--warnings-as-errors", "-f", "-"], [pod])
            check(status == 0, f"{name}: the pod of {ident(obj)} is admitted (PodSecurity of its namespace)"
                  + ("" if status == 0 else f": {out}"))
    status, out = kubectl(["diff", "--server-side", "-f", "-"], objects)
    check(status == 0, f"{name}: kubectl diff after the apply shows no change"
          + ("" if status == 0 else f" (exit {status}):\n{out}"))
    # An apply that changes nothing leaves every resourceVersion as it was.
    status, second = apply(objects)
    changed = [] if status else [k for k, v in versions(second).items() if versions(first).get(k) != v]
    check(status == 0 and not changed, f"{name}: a second apply changes nothing"
          + (f": {second}" if status else f", changed: {', '.join(changed)}" if changed else ""))


def render_at(root, kustomize, overlay, rev):
    """The overlay as rendered from git REV."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "-C", str(root), "archive", rev], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
        # Older overlays read files outside k8s/, as the checks of their time allowed.
        return render(kustomize, Path(tmp) / "k8s/overlays" / overlay, "--load-restrictor=LoadRestrictionsNone")


def check_upgrade(overlay, rev, old, objects):
    """The overlay as rendered at REV applied for real, then the current one over it."""
    name = f"upgrade {overlay} from {rev}"
    status, out = apply(old)
    if not check(status == 0, f"{name}: the old overlay applied"):
        print(out)
        return
    apply_over(name, "the current overlay applied over it", objects)


def apply_over(name, what, objects):
    """OBJECTS applied over what runs, then kubectl diff must show nothing left to change."""
    status, out = apply(objects)
    if not check(status == 0, f"{name}: {what}"):
        print(out)
        return
    status, out = kubectl(["diff", "--server-side", "-f", "-"], objects)
    check(status == 0, f"{name}: kubectl diff then shows no change"
          + ("" if status == 0 else f" (exit {status}):\n{out}"))


def check_catalogue_change(root, kustomize, overlay, objects):
    """A topic added to the catalogue of a copy of the repository, its generated
    files refreshed with the command k8s/README.md gives, re-applied over OBJECTS."""
    name = f"{overlay}: a topic added to the catalogue"
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        for part in ("k8s", "kafka-setup", "k6"):
            shutil.copytree(root / part, repo / part, ignore=shutil.ignore_patterns("__pycache__"))
        with open(repo / "kafka-setup/topics.conf", "a") as catalogue:
            catalogue.write(NEW_TOPIC + "\n")
        env = {**os.environ, "CONTRACT_REGENERATE": "1", "CONTRACT_REPOSITORY": str(repo)}
        run = subprocess.run(["cargo", "test", "--quiet", "--manifest-path", str(root / "Cargo.toml"),
                              "-p", "contract", "--lib", "--", "--exact", GENERATOR],
                             env=env, capture_output=True, text=True)
        if not check(run.returncode == 0, f"{name}: the generated files refreshed"):
            print(run.stdout + run.stderr)
            return
        changed = render(kustomize, repo / "k8s/overlays" / overlay)
    topic = NEW_TOPIC.split()[0]
    new = [ident(o) for o in changed if o not in objects]
    check(any(topic in yaml.safe_dump(o) for o in changed if o not in objects),
          f"{name}: the overlay now carries {topic} (changed or new: {', '.join(new)})")
    jobs = [{ident(o) for o in rendered if o["kind"] == "Job"} for rendered in (objects, changed)]
    if jobs[0]:
        check(jobs[0].isdisjoint(jobs[1]), f"{name}: the topics Job is renamed ({', '.join(sorted(jobs[1]))})")
    apply_over(name, "re-applied over the running overlay", changed)


def apply(objects):
    # Warnings fail the dry-run already; here the pods' check still runs after one.
    run = subprocess.run([KUBECTL, "apply", "--server-side", "-o", "json", "-f", "-"],
                         input=yaml.safe_dump_all(objects), capture_output=True, text=True)
    return run.returncode, (run.stderr.strip() if run.returncode else yaml.safe_load(run.stdout))


def versions(applied):
    items = applied.get("items", [applied])
    return {f"{o['kind']}/{o['metadata'].get('namespace', '')}/{o['metadata']['name']}":
            o["metadata"]["resourceVersion"] for o in items}


# (kind, path, value, what): each must be refused by the API server.
BREAKAGES = [
    # Privileged needs escalation allowed, or validation refuses it before PodSecurity sees it.
    ("Pod", ["spec", "containers", 0, "securityContext"],
     {"privileged": True, "allowPrivilegeEscalation": True, "capabilities": {"drop": ["ALL"]}},
     "a privileged container"),
    ("Pod", ["spec", "containers", 0, "securityContext", "allowPrivilegeEscalation"], True,
     "allowPrivilegeEscalation: true"),
    ("ServiceMonitor", ["spec", "endpoint"], [], "an unknown field (spec.endpoint)"),
    ("KafkaTopic", ["spec", "partition"], 3, "an unknown field (spec.partition)"),
    ("Cluster", ["spec", "instance"], 3, "an unknown field (spec.instance)"),
    ("Deployment", ["spec", "selector", "matchLabels"], {"app": "other"},
     "a selector that does not match its template"),
]


def samples_of(root, kustomize, overlay):
    """The operators' samples, the monitoring objects, a Deployment and its Pod."""
    samples = [o for p in sorted((root / SAMPLES).glob("*.yaml")) for o in yaml.safe_load_all(p.read_text()) if o]
    samples += render(kustomize, root / "k8s/monitoring/operator")
    deployment = next(o for o in overlay if o["kind"] == "Deployment")
    return samples + [deployment, pod_of(deployment)]


def self_test(overlay, samples):
    """The checks can fail: the samples pass, each breakage is refused."""
    by_kind = {}
    for obj in samples:
        status, out = dry_run([obj])
        if check(status == 0, f"self-test: sample {ident(obj)} passes a server-side dry-run"
                 + ("" if status == 0 else f": {out}")):
            by_kind.setdefault(obj["kind"], obj)
    # A Job's pod template is immutable: a re-apply that changes it must be refused.
    job = next(o for o in overlay if o["kind"] == "Job")
    status, out = apply([job])
    if check(status == 0, f"self-test: {ident(job)} applied for real"):
        status, out = dry_run([broken(job, ["spec", "template", "metadata", "labels", "changed"], "yes")])
        check(status != 0, f"self-test: re-applying {ident(job)} with a changed pod template is refused"
              + (f": {out.splitlines()[-1][:240]}" if status else ", it passed"))
    for kind, path, value, what in BREAKAGES:
        if kind not in by_kind:
            check(False, f"self-test: no valid {kind} sample to break ({what})")
            continue
        status, out = dry_run([broken(by_kind[kind], path, value)])
        check(status != 0, f"self-test: {kind} with {what} is refused"
              + (f": {out.splitlines()[-1][:240]}" if status else ", it passed"))


def main():
    global KUBECTL
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--kustomize", required=True)
    parser.add_argument("--kubectl", required=True)
    parser.add_argument("--crds", action="append", default=[], help="a directory of CRD YAML files")
    parser.add_argument("--upgrade-from", metavar="REV", help="apply the overlay as at git REV first")
    parser.add_argument("overlay", help="an overlay under k8s/overlays, or self-test")
    args = parser.parse_args()
    KUBECTL = args.kubectl
    name = args.overlay
    try:
        overlay = "minikube" if name == "self-test" else name
        objects = render(args.kustomize, args.root / "k8s/overlays" / overlay)
        if name == "self-test":
            extra = samples_of(args.root, args.kustomize, objects)
        elif args.upgrade_from:
            extra = render_at(args.root, args.kustomize, name, args.upgrade_from)
        else:
            extra = []
        if install_crds(args.crds, objects + extra) and create_namespaces(objects):
            if name == "self-test":
                self_test(objects, extra)
            elif args.upgrade_from:
                check_upgrade(name, args.upgrade_from, extra, objects)
            else:
                check_overlay(name, objects)
                check_catalogue_change(args.root, args.kustomize, name, objects)
    except subprocess.CalledProcessError as error:
        check(False, f"{name}: {' '.join(error.cmd)} failed: {error.stderr.strip()}")
    failed = results.count(False)
    what = f"upgrade {name}" if args.upgrade_from else name
    print(f"apiserver {what}: {len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
