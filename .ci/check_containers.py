#!/usr/bin/env python3
"""Checks, without a container engine or network, that Dockerfile, .dockerignore and
docker-compose.yml still fit the code: the stages and the files they copy, the port, the
health checks, and that every setting the compose file gives vitrine is one README
documents. Needs PyYAML (Debian: python3-yaml). Exits 1 with the reasons on failure."""

import fnmatch
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
problems = []


def check(condition, message):
    if not condition:
        problems.append(message)


def ignored(path, patterns):
    """Whether .dockerignore keeps `path` out of the build context (last match wins)."""
    result = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes):
            result = not negated
    return result


# --- Dockerfile -------------------------------------------------------------------------
dockerfile = (ROOT / "Dockerfile").read_text()
lines = re.sub(r"\\\n", " ", dockerfile).splitlines()
instructions = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
ignore = [
    line.strip()
    for line in (ROOT / ".dockerignore").read_text().splitlines()
    if line.strip() and not line.strip().startswith("#")
]

stages = []  # (name, base, [instructions])
for instruction in instructions:
    keyword, _, rest = instruction.partition(" ")
    keyword = keyword.upper()
    if keyword == "FROM":
        match = re.match(r"(\S+)(?:\s+AS\s+(\S+))?$", rest.strip(), re.IGNORECASE)
        check(match is not None, f"Dockerfile: cannot read FROM {rest}")
        if match:
            stages.append((match.group(2), match.group(1), []))
    elif stages:
        stages[-1][2].append((keyword, rest.strip()))

names = [name for name, _, _ in stages]
bases = {name: base for name, base, _ in stages}
check(names[-1:] == ["runtime"], "Dockerfile: the last stage (the default target) must be `runtime`")
check(bases.get("runtime") == "runtime-base" and bases.get("runtime-prebuilt") == "runtime-base",
      "Dockerfile: `runtime` and `runtime-prebuilt` must both start FROM runtime-base")
for index, (name, base, body) in enumerate(stages):
    earlier = names[:index]
    check("$" not in base or base.startswith("rust:"),
          f"Dockerfile: FROM {base}: an argument may choose the Rust version, not a stage")
    for keyword, rest in body:
        if keyword != "COPY":
            continue
        words = rest.split()
        sources = [w for w in words[:-1] if not w.startswith("--")]
        source_stage = next((w.split("=", 1)[1] for w in words if w.startswith("--from=")), None)
        if source_stage:
            check(source_stage in earlier, f"Dockerfile: COPY --from={source_stage} names no earlier stage")
            continue
        for source in sources:
            if source == "target/release/vitrine":
                # built outside the image; only the context must let it in
                check(name == "runtime-prebuilt", "Dockerfile: only runtime-prebuilt takes a binary from outside")
                check(not ignored(source, ignore), ".dockerignore keeps out target/release/vitrine")
                continue
            check((ROOT / source).exists(), f"Dockerfile: COPY {source}: no such path in the repository")
            check(not ignored(source, ignore), f".dockerignore keeps out {source}, which the Dockerfile copies")
for name in ("runtime", "runtime-prebuilt"):
    body = next((b for n, _, b in stages if n == name), [])
    check(any(kw == "COPY" and rest.endswith("/usr/local/bin/vitrine") for kw, rest in body),
          f"Dockerfile: {name} must put the binary at /usr/local/bin/vitrine")

# Cargo reads every target named in Cargo.toml, so the build stage needs their folders.
copied = {src for _, _, body in stages for kw, rest in body if kw == "COPY"
          for src in rest.split()[:-1] if not src.startswith("--")}
manifest = (ROOT / "Cargo.toml").read_text()
for path in re.findall(r'^path\s*=\s*"([^"]+)"', manifest, re.MULTILINE):
    top = path.split("/")[0]
    check(top in copied or path in copied,
          f"Dockerfile: the build stage does not copy {top}/ ({path} is in Cargo.toml)")
# Folders embedded in the binary at compile time (rust-embed's `#[folder = "…"]`).
for source in (ROOT / "src").rglob("*.rs"):
    for folder in re.findall(r'#\[folder\s*=\s*"([^"]+)"\]', source.read_text()):
        top = folder.strip("/").split("/")[0]
        check(top in copied, f"Dockerfile: the build stage does not copy {top}/ (embedded by {source.relative_to(ROOT)})")
for member in re.findall(r'members\s*=\s*\[([^\]]*)\]', manifest)[0].replace('"', "").split(","):
    member = member.strip()
    check(member in (".", "") or member in copied, f"Dockerfile: workspace member {member} not copied")

runtime = dict()
for keyword, rest in next((b for n, _, b in stages if n == "runtime-base"), []):
    runtime.setdefault(keyword, []).append(rest)
env_text = " ".join(runtime.get("ENV", []))
check("VITRINE_ENV=production" in env_text, "Dockerfile: the runtime must set VITRINE_ENV=production")
port = re.search(r"VITRINE_ADDR=0\.0\.0\.0:(\d+)", env_text)
check(port is not None, "Dockerfile: the runtime must listen on 0.0.0.0 (VITRINE_ADDR)")
if port:
    port = port.group(1)
    check(runtime.get("EXPOSE") == [port], f"Dockerfile: EXPOSE must be {port}")
    check(any(f"127.0.0.1:{port}/healthz" in h for h in runtime.get("HEALTHCHECK", [])),
          f"Dockerfile: HEALTHCHECK must ask http://127.0.0.1:{port}/healthz")
user = (runtime.get("USER") or ["0"])[-1].split(":")[0]
check(user not in ("0", "root"), "Dockerfile: the runtime must run as a non-root USER")
for directory in ("/var/lib/vitrine", "/var/log/vitrine"):
    check(any(directory in v for v in runtime.get("VOLUME", [])), f"Dockerfile: {directory} must be a VOLUME")

# --- docker-compose.yml -------------------------------------------------------------------
compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
services = compose.get("services", {})
declared_volumes = set((compose.get("volumes") or {}).keys())
readme = (ROOT / "README.md").read_text()
for required in ("postgres", "redis", "minio", "migrate", "vitrine-1", "vitrine-2"):
    check(required in services, f"docker-compose.yml: no service {required}")
for name, service in services.items():
    builds_vitrine = service.get("image", "").startswith("vitrine")
    if not builds_vitrine and name != "migrate":
        check("healthcheck" in service, f"docker-compose.yml: {name} has no healthcheck")
    depends = service.get("depends_on", {})
    for dependency, condition in (depends.items() if isinstance(depends, dict) else []):
        check(dependency in services, f"docker-compose.yml: {name} depends on unknown {dependency}")
        wanted = condition.get("condition")
        if wanted == "service_healthy" and dependency in services:
            target = services[dependency]
            has_check = "healthcheck" in target or target.get("image", "").startswith("vitrine")
            check(has_check, f"docker-compose.yml: {name} waits for {dependency} to be healthy, which has no check")
    for volume in service.get("volumes", []):
        source = volume.split(":")[0]
        if source.startswith("."):
            check((ROOT / source).exists(), f"docker-compose.yml: {name} mounts missing {source}")
        else:
            check(source in declared_volumes, f"docker-compose.yml: volume {source} of {name} is not declared")
    if builds_vitrine:
        check(service.get("build") in (".", {"context": "."}), f"docker-compose.yml: {name} must build .")
        for key in service.get("environment", {}):
            check(f"`{key}`" in readme, f"docker-compose.yml: {name} sets {key}, which README does not document")
migrate_command = services.get("migrate", {}).get("command")
check(migrate_command == ["migrate", "up"], "docker-compose.yml: migrate must run `vitrine migrate up`")
for replica in ("vitrine-1", "vitrine-2"):
    env = services.get(replica, {}).get("environment", {})
    for key in ("JWT_SECRET", "DATABASE_URL", "REDIS_URL", "STORAGE", "S3_ENDPOINT_URL"):
        check(key in env, f"docker-compose.yml: {replica} lacks {key}")

if problems:
    print("container files: " + "\n  ".join(["problems found:"] + problems), file=sys.stderr)
    sys.exit(1)
print(f"Dockerfile: stages {', '.join(names)}; docker-compose.yml: {len(services)} services; all consistent")
