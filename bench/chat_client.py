#!/usr/bin/env python3
"""The chat benchmark's client for vitrine: one Python asyncio + aiohttp process, measured
as the peers' harnesses measure (../shared/peers/CHAT.md): latency = arrival − send, both
time.time() on this host; a message is missed when it has not arrived by the last send +
--grace s; the server's peak RSS is VmHWM from /proc, reset per phase through clear_refs;
server and client CPU seconds per phase.

  setup   registers the users, makes the chats, sends the probe messages and one message to
          each corpus chat (what chat_seed.py copies), writes --state.
  run     one round of the measured phases (--phases), writes --out (JSON).

Phases:
  fanout      1,000 sockets (one per user) authenticated; (a) 50 groups of 20, one sender per
              group, a total rate stepped up through --rates-a; (b) one chat of 1,000, senders
              rotating among 10 members, rates --rates-b. Each step sends for --step-s seconds
              on a fixed schedule (a late answer does not delay the next send). Per step:
              deliveries to every member but the sender, latency p50/p99/max, missed,
              duplicates, the sender's POST latency. The ramp stops at a step with p99 over
              --stop-ms or anything missed.
  send        64 connections POSTing back to back for --send-s seconds into one group of
              64 members (no sockets connected); then the peers' concurrency: 10 connections
              of 10 members. The HTTP load of send, history and search comes from wrk
              (bench/wrk_random.lua), random token and path per request.
  history     the 100,000-message chat: GET …/messages?limit=50, the newest page and pages
              before a random seq, 64 connections for --history-s seconds each; the newest
              page ×100 on one connection (the peers' shape). Each 64-connection run is
              made twice: back to back (saturation: the p99 is mostly queueing), and
              steady, each connection pausing ~--steady-delay-ms between requests.
  search      GET /messages/search?q= over the searcher's 1,000,000 messages: each query of
              chat_corpus.QUERIES ×--search-reqs on one connection (answers compared with
              chat_seed.py's expectations), then all of them on 64 connections.
  idle        --idle-sockets authenticated sockets (10 per user) held --idle-hold s:
              server RSS.
"""
import argparse
import asyncio
import json
import os
import random
import resource
import sys
import tempfile
import time
import urllib.parse

import aiohttp

import chat_corpus

CLK = os.sysconf("SC_CLK_TCK")
PASSWORD = "bench-password-123"
# in every client_id: a rerun on the same database sends new messages, not idempotent repeats
NONCE = "".join(random.choices("abcdefghijklmnopqrstuvwxyz", k=6))


# --- measuring (the peers' definitions) -----------------------------------------------------
def pct(vals, p):
    """nearest-rank percentile, as the peers' harnesses compute it"""
    if not vals:
        return None
    s = sorted(vals)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def stats_ms(lat_s):
    return {"n": len(lat_s),
            "p50_ms": None if not lat_s else round(pct(lat_s, 50) * 1000, 2),
            "p99_ms": None if not lat_s else round(pct(lat_s, 99) * 1000, 2),
            "max_ms": None if not lat_s else round(max(lat_s) * 1000, 2)}


class Proc:
    def __init__(self, pid):
        self.pid = pid

    def ticks(self):
        f = open(f"/proc/{self.pid}/stat").read().rsplit(")", 1)[1].split()
        return int(f[11]) + int(f[12])

    def kb(self, key):
        for line in open(f"/proc/{self.pid}/status"):
            if line.startswith(key + ":"):
                return int(line.split()[1])
        return None

    def reset_hwm(self):
        try:
            with open(f"/proc/{self.pid}/clear_refs", "w") as f:
                f.write("5")
            return True
        except OSError:
            return False


class Phase:
    def __init__(self, proc, rec):
        self.proc, self.rec = proc, rec

    def __enter__(self):
        self.rec["hwm_reset"] = self.proc.reset_hwm()
        self.rec["server_rss_start_kb"] = self.proc.kb("VmRSS")
        self.t0, self.c0 = time.perf_counter(), self.proc.ticks()
        ru = resource.getrusage(resource.RUSAGE_SELF)
        self.u0 = ru.ru_utime + ru.ru_stime
        return self.rec

    def __exit__(self, *exc):
        self.rec["wall_s"] = round(time.perf_counter() - self.t0, 3)
        self.rec["server_cpu_s"] = round((self.proc.ticks() - self.c0) / CLK, 2)
        ru = resource.getrusage(resource.RUSAGE_SELF)
        self.rec["client_cpu_s"] = round(ru.ru_utime + ru.ru_stime - self.u0, 2)
        self.rec["server_vmhwm_kb"] = self.proc.kb("VmHWM")
        self.rec["server_vmrss_kb"] = self.proc.kb("VmRSS")
        self.rec["loadavg"] = [round(x, 2) for x in os.getloadavg()]
        return False


def log(*args):
    print(*args, file=sys.stderr, flush=True)


# --- HTTP ------------------------------------------------------------------------------------
class Api:
    def __init__(self, base, session):
        self.base, self.s = base.rstrip("/"), session

    async def call(self, method, path, token=None, body=None, params=None, ok=(200, 201, 204)):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.s.request(method, self.base + path, json=body, params=params, headers=headers,
                                  timeout=aiohttp.ClientTimeout(total=60)) as r:
            data = await r.read()
            if r.status not in ok:
                raise RuntimeError(f"{method} {path} -> {r.status}: {data[:300]!r}")
            return json.loads(data) if data else None


async def gather_limited(n, fn, items):
    sem = asyncio.Semaphore(n)

    async def one(x):
        async with sem:
            return await fn(x)
    return await asyncio.gather(*(one(x) for x in items))


# --- setup -----------------------------------------------------------------------------------
async def setup(a):
    run = "".join(random.choices("abcdefghijklmnopqrstuvwxyz", k=5))
    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=conn) as session:
        api = Api(a.base, session)

        async def register(name):
            r = await api.call("POST", "/api/v1/auth/register", body={
                "username": name, "email": f"{name}@bench.example", "password": PASSWORD})
            return {"id": r["user"]["user_id"], "token": r["access_token"]}

        t0 = time.perf_counter()
        names = [f"b{run}{i}" for i in range(a.users)] + [f"b{run}searcher", f"b{run}partner"]
        users = await gather_limited(a.conc, register, names)
        fan, searcher, partner = users[:a.users], users[-2], users[-1]
        log(f"setup: {len(users)} users registered in {time.perf_counter() - t0:.1f} s")

        async def group(owner, members, name):
            r = await api.call("POST", "/api/v1/chats", token=owner["token"], body={
                "type": "group", "name": name, "member_ids": [m["id"] for m in members[:199]]})
            for m in members[199:]:
                await api.call("POST", f"/api/v1/chats/{r['id']}/participants", token=owner["token"],
                               body={"user_id": m["id"]})
            return r["id"]

        size = a.group_size
        groups = await gather_limited(8, lambda g: group(fan[g * size], fan[g * size + 1:(g + 1) * size],
                                                         f"group {g}"),
                                      range(a.users // size))
        t1 = time.perf_counter()
        big = await group(fan[0], fan[1:], "everyone")
        log(f"setup: {len(groups)} groups of {size}, one chat of {len(fan)} ({time.perf_counter() - t1:.1f} s)")
        send64 = await group(fan[0], fan[1:64], "send 64")
        send10 = await group(fan[0], fan[1:10], "send 10")
        corpus = []
        per_chat = a.corpus // a.corpus_chats
        for c in range(a.corpus_chats):
            chat = await group(searcher, [partner], f"corpus {c}")
            await api.call("POST", f"/api/v1/chats/{chat}/messages", token=searcher["token"],
                           body={"text": "seeded after this"})
            corpus.append({"chat_id": chat, "count": a.history if c == 0 else per_chat,
                           "members": [searcher["id"], partner["id"]]})
        # the remainder goes to the last chat, so the corpus is exactly --corpus messages
        corpus[-1]["count"] += a.corpus - sum(c["count"] for c in corpus)
        probe = await group(partner, [fan[1]], "probe")
        gen = chat_corpus.Generator(seed=7)
        for _ in range(a.probes):
            await api.call("POST", f"/api/v1/chats/{probe}/messages", token=partner["token"],
                           body={"text": gen.text()})
        log(f"setup: {a.probes} probe messages sent; corpus chats {[c['chat_id'] for c in corpus]}")
    state = {"run": run, "users": fan, "searcher": searcher, "partner": partner,
             "group_size": size, "groups": groups, "big": big, "send64": send64, "send10": send10,
             "corpus": corpus, "history_chat": corpus[0]["chat_id"], "probe_chat": probe}
    json.dump(state, open(a.state, "w"))


# --- sockets ---------------------------------------------------------------------------------
class Sockets:
    """Authenticated sockets; message.created events of the benchmark are counted per
    (tag, index), once per socket, with their latency."""

    def __init__(self, base, session):
        self.url = base.rstrip("/").replace("http://", "ws://") + "/api/v1/ws"
        self.s = session
        self.tasks = []
        self.ready = 0
        self.closed = []        # close codes of sockets that ended while in use
        self.sent_ts = {}       # (tag, i) -> time.time() before the POST
        self.latencies = []
        self.dupes = 0
        self.seen = []          # per socket: keys seen
        self.watch = False

    async def one(self, idx, user, ready):
        released = False

        def release():
            nonlocal released
            if not released:
                released = True
                ready.release()
        ws = None
        seen = self.seen[idx]
        me = user["id"]
        try:
            ws = await self.s.ws_connect(self.url, autoping=True, heartbeat=None, max_msg_size=1 << 20,
                                         timeout=aiohttp.ClientWSTimeout(ws_close=5))
            await ws.send_str(json.dumps({"type": "auth", "token": user["token"]}))
            first = await ws.receive(timeout=60)
            if first.type != aiohttp.WSMsgType.TEXT or json.loads(first.data).get("type") != "ready":
                self.closed.append(f"no ready: {first.type} {str(first.data)[:80]}")
                return
            self.ready += 1
            release()
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                now = time.time()
                if not self.watch:
                    continue
                ev = json.loads(msg.data)
                m = ev.get("message")
                if ev.get("kind") != "message.created" or not m or m["sender_id"] == me:
                    continue
                parts = m["text"].split(" ")
                if len(parts) != 3 or parts[0] != "fan":
                    continue
                key = (parts[1], int(parts[2]))
                sent = self.sent_ts.get(key)
                if sent is None:
                    continue
                if key in seen:
                    self.dupes += 1
                    continue
                seen.add(key)
                self.latencies.append(now - sent)
            self.closed.append(ws.close_code)
        except asyncio.CancelledError:
            if ws is not None:
                await ws.close()
            raise
        except Exception as e:  # noqa: BLE001
            self.closed.append(f"error: {e!r}"[:120])
        finally:
            release()

    async def open(self, users, conc):
        ready = asyncio.Semaphore(conc)
        t0 = time.perf_counter()
        for idx, user in enumerate(users):
            await ready.acquire()
            self.seen.append(set())
            self.tasks.append(asyncio.create_task(self.one(idx, user, ready)))
        for _ in range(conc):
            await ready.acquire()
        return time.perf_counter() - t0

    async def close(self):
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def fanout_step(api, socks, sends, rate, step_s, grace, tag):
    """sends: list of (chat_id, sender, receivers_expected); one per message, sent at `rate`/s"""
    n = max(1, int(rate * step_s))
    socks.latencies = []
    socks.dupes = 0
    for s in socks.seen:
        s.clear()
    send_lat, errors = [], [0]
    expected = 0

    async def send(i, chat_id, sender):
        key = (tag, i)
        ts = time.time()
        socks.sent_ts[key] = ts
        t0 = time.perf_counter()
        try:
            await api.call("POST", f"/api/v1/chats/{chat_id}/messages", token=sender["token"],
                           body={"text": f"fan {tag} {i}", "client_id": f"{NONCE}-{tag}-{i}"})
            send_lat.append(time.perf_counter() - t0)
        except Exception as e:  # noqa: BLE001
            if not errors[0]:
                log("send error:", e)
            errors[0] += 1

    tasks = []
    t_start = time.perf_counter()
    for i in range(n):
        chat_id, sender, receivers = sends[i % len(sends)]
        expected += receivers
        delay = t_start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(i, chat_id, sender)))
    send_wall = time.perf_counter() - t_start
    await asyncio.gather(*tasks)
    deadline = time.perf_counter() + grace
    while len(socks.latencies) < expected and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    lat = list(socks.latencies)
    return {"rate": rate, "messages": n, "send_errors": errors[0], "send_wall_s": round(send_wall, 2),
            "achieved_rate": round(n / send_wall, 1) if send_wall else None,
            "expected": expected, "delivered": len(lat), "missed": expected - len(lat),
            "duplicates": socks.dupes, "deliveries_per_s": round(len(lat) / max(send_wall, 1e-9), 1),
            **stats_ms(lat), "send": stats_ms(send_lat)}


async def phase_fanout_rust(a, state, results):
    """The same steps, driven by bench/chat_fanout.rs: its sockets cost the client less."""
    users = state["users"]
    size = state["group_size"]
    plan = {"base": a.base, "sockets": [{"user_id": u["id"], "token": u["token"]} for u in users],
            "plans": {"a": {"rates": a.rates_a, "sends": [
                          {"chat_id": g, "token": users[gi * size]["token"], "receivers": size - 1}
                          for gi, g in enumerate(state["groups"])]},
                      "b": {"rates": a.rates_b, "sends": [
                          {"chat_id": state["big"], "token": users[k]["token"], "receivers": len(users) - 1}
                          for k in range(10)]}},
            "step_s": a.step_s, "grace_s": a.grace, "stop_ms": a.stop_ms, "tag": f"{a.round}{NONCE}",
            "conc": a.conc}
    path = f"{a.out}.fanout-plan.json"
    json.dump(plan, open(path, "w"))
    proc = await asyncio.create_subprocess_exec(a.fanout_bin, path, str(a.pid), stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    os.unlink(path)
    found = json.loads(out) if out.strip() else {}
    results.update(found)
    if proc.returncode != 0:
        raise SystemExit(f"chat_fanout failed ({proc.returncode}): {found.get('fanout_connect')}")
    log(f"fanout (rust client): {json.dumps(found.get('fanout_connect'))}")


async def phase_fanout(a, api, proc, state, results):
    if a.fanout_bin:
        return await phase_fanout_rust(a, state, results)
    users = state["users"]
    size = state["group_size"]
    socks = Sockets(a.base, api.s)
    rec = {"sockets": len(users)}
    with Phase(proc, rec):
        rec["connect_s"] = round(await socks.open(users, a.conc), 2)
        rec["ready"] = socks.ready
    results["fanout_connect"] = rec
    log(f"fanout: {socks.ready}/{len(users)} sockets ready in {rec['connect_s']} s")
    if socks.ready != len(users):
        raise SystemExit(f"only {socks.ready} of {len(users)} sockets authenticated: {socks.closed[:5]}")
    await asyncio.sleep(1)
    socks.watch = True
    plans = {
        "a": ([(g, users[gi * size], size - 1) for gi, g in enumerate(state["groups"])], a.rates_a),
        "b": ([(state["big"], users[k], len(users) - 1) for k in range(10)], a.rates_b),
    }
    try:
        for which in ("a", "b"):
            steps = []
            for si, rate in enumerate(plans[which][1]):
                tag = f"{which}{a.round}s{si}"
                rec = {}
                with Phase(proc, rec):
                    rec.update(await fanout_step(api, socks, plans[which][0], rate, a.step_s, a.grace, tag))
                rec["closed_sockets"] = len(socks.closed)
                steps.append(rec)
                log(f"fanout {which} {rate}/s: {json.dumps(rec)}")
                if rec["missed"] or rec["send_errors"] or (rec["p99_ms"] or 0) > a.stop_ms:
                    break
            results[f"fanout_{which}"] = steps
    finally:
        socks.watch = False
        results["fanout_closed"] = socks.closed[:20]
        await socks.close()


# --- send, history, search ---------------------------------------------------------------------
WRK_LUA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wrk_random.lua")


async def wrk_loop(a, conns, seconds, paths, tokens, body=None, delay_ms=None):
    """`conns` connections of wrk (bench/wrk_random.lua) issuing requests back to back for
    `seconds`, each to a random path of `paths` with a random token of `tokens`; POSTs of
    `body` when given. With `delay_ms` each connection pauses about that long between
    requests: a steady load below saturation. wrk, in C, keeps the client's own cost per request far below the
    server's, where one Python process capped the load at ~1,400 requests/s."""
    with tempfile.TemporaryDirectory() as tmp:
        paths_file, tokens_file = os.path.join(tmp, "paths"), os.path.join(tmp, "tokens")
        open(paths_file, "w").write("\n".join(paths) + "\n")
        open(tokens_file, "w").write("\n".join(tokens) + "\n")
        env = dict(os.environ, WRK_PATHS=paths_file, WRK_TOKENS=tokens_file, WRK_BODY=body or "",
                   WRK_DELAY_MS=str(delay_ms) if delay_ms else "")
        proc = await asyncio.create_subprocess_exec(
            "wrk", f"-t{min(2, conns)}", f"-c{conns}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
            "-s", WRK_LUA, a.base, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await proc.communicate()
    lines = [line[5:] for line in out.decode(errors="replace").splitlines() if line.startswith("JSON ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"wrk failed ({proc.returncode}): {out.decode(errors='replace')[-500:]}")
    w = json.loads(lines[-1])
    errors = w["non2xx"] + w["err_connect"] + w["err_read"] + w["err_write"] + w["err_timeout"]
    return {"conns": conns, "client": "wrk", "count": w["requests"], "errors": errors,
            "rate_per_s": round(w["rps"], 1), "n": w["requests"], "p50_ms": round(w["lat_p50_ms"], 2),
            "p99_ms": round(w["lat_p99_ms"], 2), "max_ms": round(w["lat_max_ms"], 2)}


async def phase_send(a, api, proc, state, results):
    users = state["users"]
    tag = f"s{a.round}"
    body = json.dumps({"text": "send test %UNIQUE%", "client_id": f"{NONCE}-{tag}-%UNIQUE%"})
    for name, chat, conns in (("send64", state["send64"], 64), ("send_nm", state["send10"], 10)):
        rec = {}
        with Phase(proc, rec):
            rec.update(await wrk_loop(a, conns, a.send_s, [f"/api/v1/chats/{chat}/messages"],
                                      [u["token"] for u in users[:conns]],
                                      body.replace(tag, f"{tag}{name}")))
        results[name] = rec
        log(f"{name}:", json.dumps(rec))


async def phase_history(a, api, proc, state, results):
    chat = state["history_chat"]
    token = state["searcher"]["token"]
    total = state["corpus"][0]["count"]
    path = f"/api/v1/chats/{chat}/messages"
    page = await api.call("GET", path, token=token, params={"limit": "50"})
    if len(page["items"]) != 50 or page["items"][0]["seq"] < total:
        raise SystemExit(f"history: the newest page has {len(page['items'])} items from seq "
                         f"{page['items'][0]['seq'] if page['items'] else None}")
    deep = await api.call("GET", path, token=token, params={"limit": "50", "before": "52"})
    if [m["seq"] for m in deep["items"]] != list(range(51, 1, -1)):
        raise SystemExit("history: the page before seq 52 is not seqs 51..2")
    rng = random.Random(a.round)
    deep_paths = [f"{path}?limit=50&before={rng.randint(52, total)}" for _ in range(20_000)]
    for name, paths in (("history_latest64", [f"{path}?limit=50"]), ("history_deep64", deep_paths)):
        for suffix, delay in (("", None), ("_steady", a.steady_delay_ms)):
            rec = {}
            with Phase(proc, rec):
                rec.update(await wrk_loop(a, 64, a.history_s, paths, [token], delay_ms=delay))
            results[name + suffix] = rec
            log(f"{name}{suffix}:", json.dumps(rec))
    rec = {}
    with Phase(proc, rec):
        lat = []
        for _ in range(100):
            t0 = time.perf_counter()
            await api.call("GET", path, token=token, params={"limit": "50"})
            lat.append(time.perf_counter() - t0)
        rec.update({"count": len(lat), **stats_ms(lat)})
    results["history_latest_seq"] = rec
    log("history latest x100:", json.dumps(rec))


async def phase_search(a, api, proc, state, results, expect):
    token = state["searcher"]["token"]
    checks = []
    per_query = []
    for e in expect["queries"]:
        r = await api.call("GET", "/api/v1/messages/search", token=token, params={"q": e["q"]})
        got = [m["id"] for m in r["items"]]
        want = e["newest"][:20]
        ok = got == want and (r["next"] is not None) == (e["count"] > 20)
        checks.append({"q": e["q"], "ok": ok, "expected_count": e["count"], "got": len(got)})
        if not ok:
            log(f"search {e['q']!r}: got {got[:5]}… next {r['next']}, expected {want[:5]}… of {e['count']}")
        lat = []
        rec = {"label": e["label"], "q": e["q"], "matches": e["count"]}
        with Phase(proc, rec):
            for _ in range(a.search_reqs):
                t0 = time.perf_counter()
                await api.call("GET", "/api/v1/messages/search", token=token, params={"q": e["q"]})
                lat.append(time.perf_counter() - t0)
            rec.update(stats_ms(lat))
        per_query.append(rec)
        log("search:", json.dumps(rec, ensure_ascii=False))
    results["search_checks"] = checks
    results["search_seq"] = per_query
    paths = [f"/api/v1/messages/search?q={urllib.parse.quote(e['q'])}" for e in expect["queries"]]
    for suffix, delay in (("", None), ("_steady", a.steady_delay_ms)):
        rec = {}
        with Phase(proc, rec):
            rec.update(await wrk_loop(a, 64, a.search_s, paths, [token], delay_ms=delay))
        results["search64" + suffix] = rec
        log(f"search64{suffix}:", json.dumps(rec))
    if not all(c["ok"] for c in checks):
        raise SystemExit("search answers differ from the seeded corpus")


async def phase_idle(a, api, proc, state, results):
    users = state["users"]
    n = a.idle_sockets
    socks = Sockets(a.base, api.s)
    rec = {"sockets": n}
    await asyncio.sleep(1)
    with Phase(proc, rec):
        rec["connect_s"] = round(await socks.open([users[i % len(users)] for i in range(n)], a.conc), 2)
        rec["ready"] = socks.ready
        await asyncio.sleep(a.idle_hold)
        rec["held_rss_kb"] = proc.kb("VmRSS")
        rec["closed_while_held"] = len(socks.closed)
    rec["rss_per_socket_kib"] = round((rec["held_rss_kb"] - rec["server_rss_start_kb"]) / max(n, 1), 2)
    results["idle"] = rec
    log("idle:", json.dumps(rec))
    await socks.close()
    if socks.ready != n:
        raise SystemExit(f"idle: only {socks.ready} of {n} sockets authenticated: {socks.closed[:5]}")


async def run(a):
    state = json.load(open(a.state))
    expect = json.load(open(a.expect))
    proc = Proc(a.pid)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    results = {"meta": {"round": a.round, "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                        "loadavg_start": [round(x, 2) for x in os.getloadavg()], "nofile": hard,
                        "args": {k: v for k, v in vars(a).items() if k != "func"}}}
    phases = a.phases.split(",")
    conn = aiohttp.TCPConnector(limit=0)
    try:
        async with aiohttp.ClientSession(connector=conn) as session:
            api = Api(a.base, session)
            async with asyncio.timeout(a.max_seconds):
                for p in phases:
                    fn = {"fanout": phase_fanout, "send": phase_send, "history": phase_history,
                          "search": lambda *x: phase_search(*x, expect), "idle": phase_idle}[p]
                    await fn(a, api, proc, state, results)
    finally:
        results["meta"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
        json.dump(results, open(a.out, "w"), indent=1, ensure_ascii=False)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("setup")
    s.add_argument("--base", required=True)
    s.add_argument("--state", required=True)
    s.add_argument("--users", type=int, default=1000)
    s.add_argument("--group-size", type=int, default=20)
    s.add_argument("--corpus", type=int, default=1_000_000)
    s.add_argument("--corpus-chats", type=int, default=10)
    s.add_argument("--history", type=int, default=100_000)
    s.add_argument("--probes", type=int, default=200)
    s.add_argument("--conc", type=int, default=4, help="registrations at a time (argon2 is slow)")
    r = sub.add_parser("run")
    r.add_argument("--base", required=True)
    r.add_argument("--state", required=True)
    r.add_argument("--expect", required=True)
    r.add_argument("--pid", type=int, required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--round", type=int, default=1)
    r.add_argument("--phases", default="fanout,send,history,search,idle")
    r.add_argument("--rates-a", type=lambda v: [float(x) for x in v.split(",")], default=[50, 100, 200, 400, 800])
    r.add_argument("--rates-b", type=lambda v: [float(x) for x in v.split(",")], default=[2, 5, 10, 20, 40])
    r.add_argument("--step-s", type=float, default=8.0)
    r.add_argument("--grace", type=float, default=15.0)
    r.add_argument("--stop-ms", type=float, default=1000.0)
    r.add_argument("--conc", type=int, default=100, help="sockets connecting at a time")
    r.add_argument("--send-s", type=float, default=10.0)
    r.add_argument("--history-s", type=float, default=5.0)
    r.add_argument("--search-reqs", type=int, default=30)
    r.add_argument("--search-s", type=float, default=5.0)
    r.add_argument("--steady-delay-ms", type=int, default=60,
                   help="the steady runs' pause per connection between requests (64 connections: ~1,000 req/s)")
    r.add_argument("--idle-sockets", type=int, default=10_000)
    r.add_argument("--idle-hold", type=float, default=5.0)
    r.add_argument("--max-seconds", type=float, default=1500)
    r.add_argument("--fanout-bin", default="", help="bench/chat_fanout.rs binary: sockets in Rust")
    a = ap.parse_args()
    asyncio.run(setup(a) if a.cmd == "setup" else run(a))


if __name__ == "__main__":
    main()
