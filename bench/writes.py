#!/usr/bin/env python3
"""Members for the benchmarks, and the writes mixed into their read load (standard library only).

    writes.py members BASE N OUT.json [--chat]
        registers N members (bench-1 … bench-N; an existing one signs in instead) and, with
        --chat, a group chat of all of them; OUT.json holds their ids, tokens and the chat's id.
        A file OUT.json.tokens gets the access tokens, one a line (for wrk_random.lua).
    writes.py run BASE MEMBERS.json WATCH_IDS OUT.json [--rate 20]
        writes at a fixed rate until SIGTERM, then writes its figures to OUT.json. The kinds
        take turns: a sign-in with a password, a watch added to a member's collection, a
        4 KiB file upload, a message to the group chat, the watch removed from the collection
        again. Members take turns too, so no per-member limit of the server is the bottleneck.
        Several threads send, each on its own keep-alive connection, so one slow write (a
        sign-in hashes a password) does not hold back the next.

A write answered with an unexpected status is counted as an error, with its status; the
figures give each kind's count, errors, p50 and p99, and how many writes started late
(more than 100 ms after their turn), which says the writer could not keep the rate.
"""
import http.client
import json
import os
import queue
import random
import signal
import sys
import threading
import time
import urllib.parse
import uuid

PASSWORD = "bench-password-123"
UPLOAD = b"PK\x03\x04" + bytes(random.Random(7).getrandbits(8) for _ in range(4092))
KINDS = ("login", "collection_add", "upload", "chat_message", "collection_remove")
EXPECTED = {"login": {200}, "collection_add": {200, 201, 204}, "upload": {201},
            "chat_message": {200, 201}, "collection_remove": {200, 204}}
WORKERS = 6
LATE_MS = 100


class Client:
    """One keep-alive HTTP/1.1 connection; reconnects once when the server closed it."""

    def __init__(self, base):
        u = urllib.parse.urlsplit(base)
        self.host, self.port = u.hostname, u.port or 80
        self.conn = None

    def request(self, method, path, body=None, token=None, content_type="application/json"):
        headers = {}
        if body is not None:
            if not isinstance(body, bytes):
                body = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        if token:
            headers["Authorization"] = f"Bearer {token}"
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            try:
                self.conn.request(method, path, body=body, headers=headers)
                resp = self.conn.getresponse()
                data = resp.read()
                return resp.status, data
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    return 0, b""
        return 0, b""


def json_or_none(data):
    try:
        return json.loads(data)
    except ValueError:
        return None


def members(base, n, out, chat):
    client = Client(base)
    people = []
    for i in range(1, n + 1):
        name = f"bench-{i}"
        status, data = client.request("POST", "/api/v1/auth/register", {
            "username": name, "email": f"{name}@example.com", "password": PASSWORD})
        if status == 409:
            status, data = client.request("POST", "/api/v1/auth/login",
                                          {"login": name, "password": PASSWORD})
        body = json_or_none(data) or {}
        if status not in (200, 201) or "access_token" not in body:
            sys.exit(f"member {name}: answered {status}: {data[:300]!r}")
        token = body["access_token"]
        status, data = client.request("GET", "/api/v1/users/me", token=token)
        me = json_or_none(data) or {}
        if status != 200 or "user_id" not in me:
            sys.exit(f"GET /api/v1/users/me as {name} answered {status}: {data[:300]!r}")
        people.append({"login": name, "id": me["user_id"], "token": token})
    state = {"members": people, "chat_id": None}
    if chat:
        status, data = client.request("POST", "/api/v1/chats", {
            "type": "group", "name": "bench", "member_ids": [p["id"] for p in people[1:]]},
            token=people[0]["token"])
        body = json_or_none(data) or {}
        if status not in (200, 201) or "id" not in body:
            sys.exit(f"POST /api/v1/chats answered {status}: {data[:300]!r}")
        state["chat_id"] = body["id"]
    with open(out, "w") as f:
        json.dump(state, f)
    with open(out + ".tokens", "w") as f:
        f.writelines(p["token"] + "\n" for p in people)


def percentile(sorted_values, q):
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def run(base, state_path, ids_path, out, rate):
    state = json.load(open(state_path))
    people = state["members"]
    chat_id = state.get("chat_id")
    with open(ids_path) as f:
        watch_ids = [line.strip() for line in f if line.strip()]
    if not watch_ids:
        sys.exit(f"no watch ids in {ids_path}")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    tasks = queue.Queue()
    lock = threading.Lock()
    results = {kind: {"n": 0, "errors": 0, "statuses": {}, "ms": []} for kind in KINDS}
    late = [0]
    # the watch each member added last, removed by that member's next collection_remove
    in_collection = {}

    def write(client, kind, member):
        token = member["token"]
        if kind == "login":
            return client.request("POST", "/api/v1/auth/login",
                                  {"login": member["login"], "password": PASSWORD})
        if kind == "collection_add":
            watch = random.choice(watch_ids)
            with lock:
                in_collection.setdefault(member["login"], []).append(watch)
            return client.request("PUT", f"/api/v1/users/me/collection/{watch}", token=token)
        if kind == "collection_remove":
            with lock:
                added = in_collection.get(member["login"]) or [random.choice(watch_ids)]
                watch = added.pop(0)
            return client.request("DELETE", f"/api/v1/users/me/collection/{watch}", token=token)
        if kind == "upload":
            return client.request("PUT", "/api/v1/files/stream?name=bench-write.zip", UPLOAD,
                                  token=token, content_type="application/octet-stream")
        if chat_id is None:
            return 0, b"no group chat in the members file"
        return client.request("POST", f"/api/v1/chats/{chat_id}/messages",
                              {"text": f"bench message {uuid.uuid4().hex[:8]}",
                               "client_id": str(uuid.uuid4())}, token=token)

    def worker():
        client = Client(base)
        while True:
            task = tasks.get()
            if task is None:
                return
            due, kind, member = task
            started = time.monotonic()
            status, _ = write(client, kind, member)
            ms = (time.monotonic() - started) * 1000
            with lock:
                r = results[kind]
                r["n"] += 1
                r["ms"].append(ms)
                if status not in EXPECTED[kind]:
                    r["errors"] += 1
                    r["statuses"][str(status)] = r["statuses"].get(str(status), 0) + 1
                if (started - due) * 1000 > LATE_MS:
                    late[0] += 1

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(WORKERS)]
    for t in threads:
        t.start()
    t0 = time.monotonic()
    scheduled = 0
    while not stop.is_set():
        due = t0 + scheduled / rate
        pause = due - time.monotonic()
        if pause > 0 and stop.wait(pause):
            break
        cycle, step = divmod(scheduled, len(KINDS))
        tasks.put((due, KINDS[step], people[cycle % len(people)]))
        scheduled += 1
    seconds = time.monotonic() - t0
    for _ in threads:
        tasks.put(None)
    for t in threads:
        t.join(timeout=35)
    times = os.times()
    report = {"seconds": round(seconds, 3), "rate_asked": rate, "scheduled": scheduled,
              "late": late[0], "cpu_s": round(times.user + times.system, 3), "kinds": {}}
    done = errors = 0
    for kind, r in results.items():
        ms = sorted(r["ms"])
        done += r["n"]
        errors += r["errors"]
        report["kinds"][kind] = {"n": r["n"], "errors": r["errors"], "statuses": r["statuses"],
                                 "p50_ms": percentile(ms, 0.5), "p99_ms": percentile(ms, 0.99)}
    report["done"] = done
    report["errors"] = errors
    report["rate"] = done / seconds if seconds else 0
    with open(out, "w") as f:
        json.dump(report, f)


def main():
    args = sys.argv[1:]
    if len(args) >= 4 and args[0] == "members":
        members(args[1], int(args[2]), args[3], "--chat" in args[4:])
    elif len(args) >= 5 and args[0] == "run":
        rate = float(args[args.index("--rate") + 1]) if "--rate" in args else 20.0
        if rate <= 0:
            sys.exit("--rate must be positive")
        run(args[1], args[2], args[3], args[4], rate)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
