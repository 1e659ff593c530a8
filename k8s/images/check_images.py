#!/usr/bin/env python3
"""Keeps the two recipes of the service images in step: the production
Dockerfile (for registries) and k8s/images/build.sh (local OCI archives) must
agree on the user, entry point, port, environment and base distribution.

    check_images.py Dockerfile ARCHIVE...

Reads the Dockerfile's runtime stage (its last FROM) and each archive's image
config and root filesystem; prints one ok/FAIL line per property and exits 1
on any mismatch. build.sh runs it after building the service images.
"""
import json
import re
import shlex
import sys
import tarfile


def dockerfile_runtime(path):
    """The runtime stage's settings, and each service's PORT build argument."""
    text = open(path).read()
    lines = re.sub(r"\\\n", " ", text).splitlines()
    # The usage lines in the header: docker build --build-arg SERVICE=x --build-arg PORT=n
    ports = dict(re.findall(r"SERVICE=(\S+)\s+--build-arg PORT=(\d+)", text))
    stage = []
    for line in lines:
        if line.startswith("FROM "):
            stage = []
        stage.append(line)
    want = {"env": {}, "args": {}}
    for line in stage:
        instruction, _, rest = line.partition(" ")
        rest = rest.strip()
        if instruction == "FROM":
            want["from"] = rest.split()[0]
        elif instruction == "ARG" and "=" in rest:
            name, value = rest.split("=", 1)
            want["args"][name] = value
        elif instruction == "USER":
            want["user"] = rest
        elif instruction == "ENV":
            for pair in shlex.split(rest):
                name, value = pair.split("=", 1)
                want["env"][name] = value
        elif instruction == "EXPOSE":
            want["expose"] = rest
        elif instruction == "ENTRYPOINT":
            want["entrypoint"] = json.loads(rest)
    return want, ports


def member(archive, name):
    # oci.sh tars the layout from its directory: names start with "./".
    names = set(archive.getnames())
    return archive.extractfile(name if name in names else "./" + name)


def blob(archive, digest):
    return member(archive, "blobs/" + digest.replace(":", "/"))


def image_of(path):
    """The image config and the root filesystem's os-release of an OCI archive."""
    with tarfile.open(path) as archive:
        index = json.load(member(archive, "index.json"))
        manifest = json.load(blob(archive, index["manifests"][0]["digest"]))
        config = json.load(blob(archive, manifest["config"]["digest"]))
        os_release = {}
        for layer in manifest["layers"]:
            with tarfile.open(fileobj=blob(archive, layer["digest"]), mode="r|*") as files:
                for entry in files:
                    if entry.name.lstrip("./") == "usr/lib/os-release" and entry.isfile():
                        for line in files.extractfile(entry).read().decode().splitlines():
                            if "=" in line:
                                name, value = line.split("=", 1)
                                os_release[name] = value.strip('"')
    return config.get("config", {}), os_release


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    want, ports = dockerfile_runtime(sys.argv[1])
    failed = False

    def check(image, what, dockerfile, built):
        nonlocal failed
        if dockerfile == built:
            print(f"ok   {image}: {what} {built}")
        else:
            failed = True
            print(f"FAIL {image}: {what}: Dockerfile says {dockerfile}, the local image has {built}")

    # debian:bookworm-slim -> (debian, bookworm)
    distribution, _, tag = want["from"].partition(":")
    want_os = (distribution.split("/")[-1], tag.split("-")[0])
    for path in sys.argv[2:]:
        config, os_release = image_of(path)
        image = config.get("Labels", {}).get("org.opencontainers.image.title", path)
        port = ports.get(image, want["args"].get("PORT"))
        expose = want["expose"].replace("$PORT", port).replace("${PORT}", port)
        env = dict(pair.split("=", 1) for pair in config.get("Env", []))
        check(image, "user", want["user"], config.get("User"))
        check(image, "entrypoint", want["entrypoint"], config.get("Entrypoint"))
        check(image, "port", sorted(f"{p}/tcp" if "/" not in p else p for p in expose.split()),
              sorted(config.get("ExposedPorts", {})))
        for name, value in want["env"].items():
            if "$" not in value:
                check(image, f"env {name}", value, env.get(name))
        check(image, "base", "/".join(want_os),
              f"{os_release.get('ID')}/{os_release.get('VERSION_CODENAME')}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
