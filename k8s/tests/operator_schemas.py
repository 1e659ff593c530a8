"""Schema validation of every rendered object, custom resources included.

    validate(obj, kubernetes_version) -> what it matched, or raises Invalid
    self_test(check, root, kustomize, kubernetes_version)

Built-in kinds go to kubernetes-validate (strict). Custom resources go to
their operators' own schemas, never hand-written ones:
  * kafka.strimzi.io: the CRDs Strimzi's own generator makes from its
    published API classes ($STRIMZI_CRDS, see k8s/schemas/tools.sh), checked
    with jsonschema after a strictness conversion (see strict());
  * postgresql.cnpg.io, monitoring.coreos.com: strict decoding into the
    operators' Go types by k8s/tests/typed-validate ($TYPED_VALIDATE).
Their metadata is checked as Kubernetes ObjectMeta. A kind with no schema
fails. CEL rules (x-kubernetes-validations) and admission webhooks are not
evaluated: only a cluster runs them.
"""

import copy
import os
import subprocess
from pathlib import Path

import yaml

STRIMZI_GROUP = "kafka.strimzi.io"
TYPED_GROUPS = ("postgresql.cnpg.io", "monitoring.coreos.com")
SAMPLES = "k8s/tests/samples"


class Invalid(Exception):
    pass


def strict(node):
    """A CRD schema in which an object that lists its properties rejects any
    other: the API server would silently prune such a field (or refuse it under
    strict field validation), so a typo would never reach the operator."""
    if not isinstance(node, dict):
        return node
    node = dict(node)
    for key in ("properties", "patternProperties"):
        if key in node:
            node[key] = {name: strict(sub) for name, sub in node[key].items()}
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            node[key] = strict(node[key])
    # oneOf/anyOf/allOf/not only constrain values in a structural schema (they
    # may not add fields), so they are left as they are.
    if node.get("x-kubernetes-embedded-resource") and "properties" in node:
        for name in ("apiVersion", "kind", "metadata"):
            node["properties"].setdefault(name, {})
    if "properties" in node and "additionalProperties" not in node \
            and not node.get("x-kubernetes-preserve-unknown-fields"):
        node["additionalProperties"] = False
    if node.pop("nullable", False) and "type" in node:
        node["type"] = [node["type"], "null"]
    if node.get("x-kubernetes-int-or-string") and "type" not in node and "anyOf" not in node:
        node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    return node


_strimzi = None


def strimzi_schemas():
    """{(apiVersion, kind): (description, validator)} from $STRIMZI_CRDS."""
    global _strimzi
    if _strimzi is None:
        import jsonschema

        crd_dir = os.environ.get("STRIMZI_CRDS")
        if not crd_dir or not Path(crd_dir).is_dir():
            raise Invalid("no Strimzi CRDs: STRIMZI_CRDS is unset (run scripts/k8s-validate.sh)")
        # The directory is named strimzi-<version>-<pom hash>.
        version = Path(crd_dir).name.split("-")[1]
        _strimzi = {}
        for path in sorted(Path(crd_dir).glob("*.yaml")):
            crd = yaml.safe_load(path.read_text())
            kind = crd["spec"]["names"]["kind"]
            for served in crd["spec"]["versions"]:
                schema = strict(served["schema"]["openAPIV3Schema"])
                jsonschema.Draft4Validator.check_schema(schema)
                _strimzi[(f"{crd['spec']['group']}/{served['name']}", kind)] = (
                    f"Strimzi {version}'s {kind} CRD", jsonschema.Draft4Validator(schema))
    return _strimzi


def where(error):
    return ".".join(str(p) for p in error.absolute_path) or "(top)"


def reason(error):
    return " ".join(str(error).split()) or type(error).__name__


def validate_strimzi(obj):
    found = strimzi_schemas().get((obj.get("apiVersion"), obj.get("kind")))
    if found is None:
        served = sorted({v for v, k in strimzi_schemas() if k == obj.get("kind")})
        raise Invalid(f"no Strimzi schema for {obj.get('apiVersion')} {obj.get('kind')}"
                      + (f" (served: {', '.join(served)})" if served else ""))
    description, validator = found
    errors = sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        raise Invalid(f"{description}: at {where(errors[0])}: {errors[0].message}")
    return description


def validate_typed(obj):
    tool = os.environ.get("TYPED_VALIDATE")
    if not tool or not os.access(tool, os.X_OK):
        raise Invalid("no typed-validate binary: TYPED_VALIDATE is unset (run scripts/k8s-validate.sh)")
    run = subprocess.run([tool], input=yaml.safe_dump(obj), capture_output=True, text=True)
    lines = run.stdout.splitlines()
    if run.returncode != 0 or len(lines) != 1 or not lines[0].startswith("ok - "):
        raise Invalid(" ".join((lines[0].removeprefix("FAIL - ") if lines else run.stderr).split()))
    return f"the operator's Go type ({obj['apiVersion']} {obj['kind']})"


def validate_metadata(obj, kubernetes_version):
    """Custom resources carry Kubernetes ObjectMeta: checked as a ConfigMap's."""
    import kubernetes_validate

    try:
        kubernetes_validate.validate({"apiVersion": "v1", "kind": "ConfigMap", "metadata": obj.get("metadata")},
                                     kubernetes_version, strict=True)
    except Exception as error:
        raise Invalid(f"metadata: {(str(error).splitlines() or [type(error).__name__])[0]}")


def validate(obj, kubernetes_version):
    """What obj matched ("the Kubernetes 1.37.0 schema", ...); raises on a mismatch
    and on a kind that has no schema."""
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    if group == STRIMZI_GROUP or group in TYPED_GROUPS:
        validate_metadata(obj, kubernetes_version)
        return validate_strimzi(obj) if group == STRIMZI_GROUP else validate_typed(obj)
    import kubernetes_validate

    try:
        kubernetes_validate.validate(obj, kubernetes_version, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        raise Invalid(f"no schema for {obj.get('apiVersion')} {obj.get('kind')}"
                      f" (neither Kubernetes {kubernetes_version}'s nor a validated operator's)") from None
    return f"the Kubernetes {kubernetes_version} schema"


def broken(obj, path, value):
    """A copy of obj with the field at path (keys and list indexes) set to value."""
    obj = copy.deepcopy(obj)
    node = obj
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return obj


# (kind, field path, bad value, what is wrong): each must fail once applied to
# the known-good sample of its kind.
BREAKAGES = [
    ("KafkaTopic", ["spec", "partitions"], "six", "partitions as a string"),
    ("KafkaTopic", ["spec", "partition"], 6, "a misspelled field"),
    ("KafkaUser", ["spec", "authorization", "acls", 0, "operations"], "Write", "acls operations as a string"),
    ("KafkaUser", ["spec", "authorization", "acls", 0, "resource", "type"], "topics", "an ACL resource type not in the enum"),
    ("Kafka", ["spec", "kafka", "replicas"], 3, "spec.kafka.replicas (dropped by the v1 API)"),
    ("Kafka", ["spec", "kafka", "listeners", 0, "port"], "9092", "a listener port as a string"),
    ("KafkaNodePool", ["spec", "roles", 1], "zookeeper", "a role not in the enum"),
    ("KafkaNodePool", ["metadata", "labelz"], {"a": "b"}, "an unknown metadata field"),
    ("Cluster", ["spec", "replicas"], 3, "an unknown field in spec"),
    ("Cluster", ["spec", "instances"], "three", "instances as a string"),
    ("Cluster", ["spec", "storage", "size"], 10, "storage size as a number"),
    ("ServiceMonitor", ["spec", "endpoints", 0, "interval"], 15, "an interval as a number"),
    ("ServiceMonitor", ["spec", "endpoint"], [], "a misspelled field"),
]


def self_test(check, root, kustomize, kubernetes_version):
    """The validation can fail: every sample passes, each breakage fails, and so
    does a kind that has no schema."""
    samples = [o for path in sorted((root / SAMPLES).glob("*.yaml"))
               for o in yaml.safe_load_all(path.read_text()) if o]
    operator = subprocess.run([kustomize, "build", str(root / "k8s/monitoring/operator")],
                              capture_output=True, text=True)
    if check(operator.returncode == 0, "schemas self-test: kustomize build k8s/monitoring/operator renders"):
        samples += [o for o in yaml.safe_load_all(operator.stdout) if o]
    by_kind = {}
    for obj in samples:
        ident = f"{obj['kind']}/{obj['metadata']['name']}"
        try:
            what = validate(obj, kubernetes_version)
            by_kind.setdefault(obj["kind"], obj)
            check(True, f"schemas self-test: sample {ident} matches {what}")
        except Exception as error:
            check(False, f"schemas self-test: sample {ident} should pass: {reason(error)}")
    for kind, path, value, wrong in BREAKAGES:
        if kind not in by_kind:
            check(False, f"schemas self-test: no valid {kind} sample to break ({wrong})")
            continue
        try:
            validate(broken(by_kind[kind], path, value), kubernetes_version)
            check(False, f"schemas self-test: {kind} with {wrong} passed, it should fail")
        except Exception as error:
            check(True, f"schemas self-test: {kind} with {wrong} fails ({reason(error)[:160]})")
    for unknown in ({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}},
                    {"apiVersion": f"{STRIMZI_GROUP}/v1", "kind": "KafkaWidget", "metadata": {"name": "w"}},
                    {"apiVersion": f"{STRIMZI_GROUP}/v1beta1", "kind": "KafkaTopic", "metadata": {"name": "w"}},
                    {"apiVersion": "postgresql.cnpg.io/v1", "kind": "Widget", "metadata": {"name": "w"}}):
        try:
            validate(unknown, kubernetes_version)
            check(False, f"schemas self-test: {unknown['apiVersion']} {unknown['kind']} passed without a schema")
        except Exception as error:
            check(True, f"schemas self-test: {unknown['apiVersion']} {unknown['kind']} (no schema) fails"
                  f" ({reason(error)[:120]})")
