"""A running vitrine with the sample catalog, photos of a few watches and staff accounts."""

import io
import json
import math
import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "a long e2e password"
STAFF = {"moderator": "e2e_moderator", "admin": "e2e_admin"}


def vitrine_binary() -> Path:
    binary = Path(os.environ.get("VITRINE_BIN", ROOT / "target" / "debug" / "vitrine"))
    if not binary.exists():
        raise RuntimeError(f"{binary} is missing: run `cargo build --bin vitrine` first")
    return binary


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def watch_photo(seed: int, side: str) -> bytes:
    """A drawn watch face, different for each watch and side, as a JPEG."""
    size = 640
    image = Image.new("RGB", (size, size), (238, 235, 228))
    draw = ImageDraw.Draw(image)
    hue = [(122, 46, 29), (31, 58, 95), (40, 90, 60), (90, 70, 30)][seed % 4]
    centre, radius = size // 2, size // 2 - 60
    draw.ellipse([centre - radius - 24, centre - radius - 24, centre + radius + 24, centre + radius + 24], fill=(150, 150, 155))
    draw.ellipse([centre - radius, centre - radius, centre + radius, centre + radius], fill=(250, 248, 240) if side != "bottom" else (180, 180, 185), outline=hue, width=10)
    for hour in range(12):
        angle = math.radians(hour * 30)
        inner = radius - (40 if hour % 3 == 0 else 24)
        draw.line([centre + inner * math.sin(angle), centre - inner * math.cos(angle),
                   centre + (radius - 10) * math.sin(angle), centre - (radius - 10) * math.cos(angle)], fill=hue, width=8)
    for length, turn, width in ((radius * 0.5, seed * 0.7, 14), (radius * 0.8, seed * 1.9 + 1, 8)):
        draw.line([centre, centre, centre + length * math.sin(turn), centre - length * math.cos(turn)], fill=(20, 20, 25), width=width)
    if side in ("left", "right"):
        image = image.rotate(25 if side == "left" else -25, fillcolor=(238, 235, 228))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=82)
    return out.getvalue()


class Server:
    def __init__(self):
        self.dir = tempfile.TemporaryDirectory(prefix="vitrine-e2e-")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "VITRINE_DATA_DIR": f"{self.dir.name}/data",
            "VITRINE_LOG_DIR": f"{self.dir.name}/logs",
            "VITRINE_ADDR": f"127.0.0.1:{self.port}",
            "RUST_LOG": "warn",
            # enabled, so the sign-in page offers it (the tests never leave for Google)
            "GOOGLE_CLIENT_ID": "e2e-client",
            "GOOGLE_CLIENT_SECRET": "e2e-secret",
            # every test's browsers and members come from 127.0.0.1 within minutes
            "VITRINE_REGISTER_LIMIT_PER_IP": "1000",
            "VITRINE_LOGIN_LIMIT_PER_IP": "1000",
            "VITRINE_LOGIN_LIMIT_PER_ACCOUNT": "1000",
            # a test fills a chat's history quickly
            "VITRINE_CHAT_SEND_BURST": "1000",
            "VITRINE_CHAT_SEND_PER_MINUTE": "1000",
        }
        for name in ("DATABASE_URL", "REDIS_URL", "STORAGE"):
            self.env.pop(name, None)
        self.process = None

    def run(self, *args: str) -> str:
        done = subprocess.run([str(vitrine_binary()), *args], env=self.env, cwd=self.dir.name,
                              capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"vitrine {' '.join(args)} failed: {done.stderr}")
        return done.stdout

    def start(self):
        self.run("import", "catalog", str(ROOT / "examples" / "catalog.json"))
        for role, name in STAFF.items():
            self.run("user", "create", "--username", name, "--email", f"{name}@example.com",
                     "--password", PASSWORD, "--role", role)
        self.log = open(f"{self.dir.name}/serve.log", "w")
        self.process = subprocess.Popen([str(vitrine_binary()), "serve"], env=self.env, cwd=self.dir.name,
                                        stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("vitrine serve did not start; see serve.log")
                time.sleep(0.1)
        self.add_photos()
        return self

    def stop(self):
        if self.process:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.dir.cleanup()

    def request(self, method: str, path: str, body=None, token=None, content_type="application/json"):
        data = json.dumps(body).encode() if content_type == "application/json" and body is not None else body
        request = urllib.request.Request(f"{self.url}/api/v1{path}", data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", content_type)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=120) as response:
            text = response.read()
            return json.loads(text) if text else None

    def mail(self) -> list[str]:
        """Mail written to the outbox (no SMTP in the tests), oldest first."""
        outbox = Path(self.env["VITRINE_DATA_DIR"]) / "outbox"
        return [path.read_text() for path in sorted(outbox.glob("*"))] if outbox.exists() else []

    def token(self, login: str, password: str = PASSWORD) -> str:
        return self.request("POST", "/auth/login", {"login": login, "password": password})["access_token"]

    def add_photos(self):
        """Photos of every side for the first watches, so that cards and galleries show them."""
        token = self.token(STAFF["admin"])
        watches = self.request("GET", "/watches?limit=8")["items"]
        for watch in watches:
            sides = ["main", "left", "right", "bottom"] if watch["id"] <= 4 else ["main"]
            for side in sides:
                self.request("PUT", f"/watches/{watch['id']}/images/{side}", watch_photo(watch["id"], side),
                             token=token, content_type="image/jpeg")
