#!/usr/bin/env python3
"""The chat benchmark's table: vitrine's rounds (chat_client.py run) and the peers' rounds
(their own results.json), each figure the median over rounds, rows side by side.

  python3 chat_report.py RESULTS_DIR     (files r<N>-vitrine.json, r<N>-synapse/results.json,
                                          r<N>-pocketbase/results.json, setup.json)
"""
import glob
import json
import os
import statistics
import sys

GOALS = {"fanout_p99_ms": 50, "history_p99_ms": 10, "search_p99_ms": 20, "idle_rss_mib": 400,
         "send_p99_ms": 20}


def med(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return None
    return statistics.median(vals)


def fnum(v, digits=1):
    if v is None:
        return "–"
    if isinstance(v, float) and abs(v) >= 1000:
        return f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return f"{v:,.{digits}f}"


def mib(kb):
    return None if kb is None else kb / 1024


def load(results):
    rounds = {"vitrine": [], "synapse": [], "pocketbase": []}
    for path in sorted(glob.glob(os.path.join(results, "r*-vitrine.json"))):
        rounds["vitrine"].append(json.load(open(path)))
    for peer in ("synapse", "pocketbase"):
        for path in sorted(glob.glob(os.path.join(results, f"r*-{peer}", "results.json"))):
            rounds[peer].append(json.load(open(path)))
    return rounds


def peer_row(runs, test_prefix, params_part=None):
    """median of a peer's rows whose test starts with test_prefix"""
    rows = []
    for run in runs:
        for row in run["rows"]:
            if row["test"].startswith(test_prefix) and (params_part is None or params_part in row["params"]):
                rows.append(row)
                break
    if not rows:
        return None
    out = {"runs": len(rows), "params": rows[0]["params"]}
    for k in ("rate", "p50_ms", "p99_ms", "max_ms", "missed", "server_vmhwm_kb", "server_cpu_s", "client_cpu_s"):
        vals = [r.get(k) for r in rows]
        out[k] = med([v for v in vals if isinstance(v, (int, float))])
    return out


def vit(runs, getter):
    vals = []
    for run in runs:
        try:
            vals.append(getter(run))
        except (KeyError, IndexError, TypeError):
            pass
    return med(vals)


def cell(d, rate_label="/s"):
    """'rate; p50 / p99 / max ms; missed; RSS' for one side of a row"""
    if d is None:
        return "–"
    parts = []
    if d.get("rate") is not None:
        parts.append(f"{fnum(d['rate'])}{rate_label}")
    lat = [d.get("p50_ms"), d.get("p99_ms"), d.get("max_ms")]
    if any(v is not None for v in lat):
        parts.append("p50 " + fnum(lat[0]) + " / p99 " + fnum(lat[1]) + (
            f" / max {fnum(lat[2])}" if lat[2] is not None else "") + " ms")
    if d.get("missed") is not None:
        parts.append(f"missed {fnum(int(d['missed']))}")
    if d.get("server_vmhwm_kb") is not None:
        parts.append(f"RSS {fnum(mib(d['server_vmhwm_kb']), 0)} MiB")
    return "; ".join(parts)


def vside(runs, key, rate_key="rate_per_s"):
    return {"rate": vit(runs, lambda r: r[key][rate_key]) if rate_key else None,
            "p50_ms": vit(runs, lambda r: r[key]["p50_ms"]),
            "p99_ms": vit(runs, lambda r: r[key]["p99_ms"]),
            "max_ms": vit(runs, lambda r: r[key]["max_ms"]),
            "server_vmhwm_kb": vit(runs, lambda r: r[key]["server_vmhwm_kb"])}


def fanout_steps(runs, which):
    """per rate: the median of each figure over the rounds that reached it"""
    by_rate = {}
    for run in runs:
        for step in run.get(f"fanout_{which}", []):
            by_rate.setdefault(step["rate"], []).append(step)
    out = []
    for rate in sorted(by_rate):
        steps = by_rate[rate]
        out.append({"rate": rate, "rounds": len(steps),
                    "deliveries": med([s["delivered"] for s in steps]),
                    "expected": med([s["expected"] for s in steps]),
                    "p50_ms": med([s["p50_ms"] for s in steps]), "p99_ms": med([s["p99_ms"] for s in steps]),
                    "max_ms": med([s["max_ms"] for s in steps]), "missed": max(s["missed"] for s in steps),
                    "duplicates": max(s["duplicates"] for s in steps),
                    "send_p50_ms": med([s["send"]["p50_ms"] for s in steps]),
                    "send_p99_ms": med([s["send"]["p99_ms"] for s in steps]),
                    "achieved_rate": med([s["achieved_rate"] for s in steps]),
                    "server_vmhwm_kb": med([s["server_vmhwm_kb"] for s in steps]),
                    "server_cpu_s": med([s["server_cpu_s"] for s in steps]),
                    "client_cpu_s": med([s["client_cpu_s"] for s in steps]),
                    "wall_s": med([s["wall_s"] for s in steps])})
    return out


def held(steps, runs, which):
    """the highest rate every round held with p99 < 50 ms and nothing missed"""
    best = None
    n = len(runs)
    for run in runs:
        ok = [s["rate"] for s in run.get(f"fanout_{which}", [])
              if s["p99_ms"] is not None and s["p99_ms"] < GOALS["fanout_p99_ms"] and not s["missed"]]
        top = max(ok) if ok else 0
        best = top if best is None else min(best, top)
    return best if n else None


def held_text(rate, steps):
    if rate:
        return f"{fnum(rate)} msg/s"
    lowest = fnum(steps[0]["rate"]) if steps else "?"
    return f"none: below the lowest step ({lowest} msg/s)"


def main():
    results = sys.argv[1]
    rounds = load(results)
    v, syn, pb = rounds["vitrine"], rounds["synapse"], rounds["pocketbase"]
    setup = json.load(open(os.path.join(results, "setup.json"))) if os.path.exists(
        os.path.join(results, "setup.json")) else {}
    out = []
    w = out.append
    w(f"### Chat benchmark: vitrine ({setup.get('db', 'SQLite')}) beside Synapse 1.163.2 and PocketBase 0.40.6, "
      f"same run")
    w("")
    w(f"Rounds: vitrine {len(v)}, Synapse {len(syn)}, PocketBase {len(pb)}; every figure is the median over "
      f"rounds (nearest-rank p50/p99 within a round). {setup.get('note', '')}")
    w("")
    w("| test | vitrine | Synapse 1.163.2 (SQLite) | PocketBase 0.40.6 | goal |")
    w("|---|---|---|---|---|")

    def row(test, vcell, scell, pcell, goal=""):
        w(f"| {test} | {vcell} | {scell} | {pcell} | {goal} |")

    corpus = fnum(int(setup.get("corpus", 1_000_000)))
    hist = fnum(int(setup.get("history", 100_000)))
    # send
    s_nm = vside(v, "send_nm")
    s_nm["missed"] = vit(v, lambda r: r["send_nm"]["errors"])
    syn_send = peer_row(syn, "send (PUT")
    pb_send = peer_row(pb, "send (POST")
    ratio = ""
    if s_nm["rate"] and syn_send and syn_send["rate"]:
        ratio = f"{s_nm['rate'] / syn_send['rate']:.0f}× Synapse"
    if s_nm["rate"] and pb_send and pb_send["rate"]:
        ratio += f", {s_nm['rate'] / pb_send['rate']:.1f}× PocketBase"
    row("send over HTTP, 10 connections back to back (peers: N=10 senders × M=100), one chat, wrk", cell(s_nm, " msg/s"),
        cell(syn_send, " msg/s"), cell(pb_send, " rec/s"),
        f"≥ 20× Synapse, > PocketBase, p99 < 20 ms ({ratio})")
    s64 = vside(v, "send64")
    s64["missed"] = vit(v, lambda r: r["send64"]["errors"])
    row("send over HTTP, 64 connections (64 members, one chat), wrk", cell(s64, " msg/s"), "–", "–", "messages/s and p99")

    # history
    h64 = vside(v, "history_latest64")
    row(f"history: newest page of 50, chat of {hist}, 64 connections, wrk", cell(h64, " req/s"), "–", "–", "p99 < 10 ms")
    hd = vside(v, "history_deep64")
    row("history: page of 50 before a random seq, 64 connections, wrk", cell(hd, " req/s"), "–", "–", "p99 < 10 ms")
    for key, label in (("history_latest64_steady", "newest page"), ("history_deep64_steady", "page before a random seq")):
        if all(key in r for r in v):
            row(f"history: {label}, 64 connections at a steady rate (each pausing between requests), wrk",
                cell(vside(v, key), " req/s"), "–", "–", "p99 < 10 ms")
    hs = vside(v, "history_latest_seq", rate_key=None)
    row("history: newest page of 50 ×100, one connection (peers: 10,000 in the room)",
        cell(hs), cell(peer_row(syn, "history GET", "latest page")), cell(peer_row(pb, "history GET", "latest page")),
        "")
    syn_walk, pb_walk = peer_row(syn, "history GET", "walk back"), peer_row(pb, "history GET", "walk back")
    if syn_walk or pb_walk:
        row("history: walk back 100 pages, one connection", "(random deep pages above)", cell(syn_walk),
            cell(pb_walk), "")

    # search
    for i, label in enumerate([q["label"] for q in (v[0].get("search_seq", []) if v else [])]):
        d = {"p50_ms": vit(v, lambda r: r["search_seq"][i]["p50_ms"]),
             "p99_ms": vit(v, lambda r: r["search_seq"][i]["p99_ms"]),
             "max_ms": vit(v, lambda r: r["search_seq"][i]["max_ms"])}
        q = v[0]["search_seq"][i]
        row(f"search {corpus} msgs, one connection: {label}, q={q['q']!r} ({q['matches']:,} matches)",
            cell(d), "–", "–", "p99 < 20 ms")
    s64q = vside(v, "search64")
    row(f"search {corpus} msgs, all queries mixed, 64 connections, wrk", cell(s64q, " req/s"), "–", "–", "p99 < 20 ms")
    if all("search64_steady" in r for r in v):
        row(f"search {corpus} msgs, all queries mixed, 64 connections at a steady rate, wrk",
            cell(vside(v, "search64_steady"), " req/s"), "–", "–", "p99 < 20 ms")

    # fan-out
    k = fnum(int(setup.get("users", 1000)))
    for which, title in (("a", f"fan-out (a): {k} sockets in {int(setup.get('users', 1000)) // 20} groups of 20"),
                         ("b", f"fan-out (b): {k} sockets in one chat")):
        steps = fanout_steps(v, which)
        for s in steps:
            per = "chat" if which == "b" else "total, 1 per group in turn"
            vcell = (f"{fnum(s['p50_ms'])} / {fnum(s['p99_ms'])} / max {fnum(s['max_ms'])} ms; missed "
                     f"{fnum(int(s['missed']))}, dup {int(s['duplicates'])}; send p50 {fnum(s['send_p50_ms'])} / p99 "
                     f"{fnum(s['send_p99_ms'])} ms; RSS {fnum(mib(s['server_vmhwm_kb']), 0)} MiB; "
                     f"CPU server {fnum(s['server_cpu_s'])} s, client {fnum(s['client_cpu_s'])} s / "
                     f"{fnum(s['wall_s'])} s ({s['rounds']} rounds)")
            scell = pcell = "–"
            if which == "b" and s is steps[0]:
                sf = peer_row(syn, "fan-out /sync")
                ss = peer_row(syn, "fan-out: sender")
                pf = peer_row(pb, "fan-out SSE")
                ps = peer_row(pb, "fan-out: writer")
                if sf:
                    scell = f"{sf['params']}: {cell(sf)}; sender PUT p50 {fnum(ss and ss['p50_ms'])} / p99 {fnum(ss and ss['p99_ms'])} ms"
                if pf:
                    pcell = f"{pf['params']}: {cell(pf)}; writer POST p50 {fnum(ps and ps['p50_ms'])} / p99 {fnum(ps and ps['p99_ms'])} ms"
            if which == "b" and s is steps[-1]:
                pbb = peer_row(pb, "burst: delivery")
                pbc = peer_row(pb, "burst: create rate")
                if pbb and pcell == "–":
                    pcell = (f"burst {pbc['params'] if pbc else ''}: {fnum(pbc and pbc['rate'])} rec/s, delivery "
                             f"{cell(pbb)}")
            row(f"{title}, {fnum(s['rate'])} msg/s ({per})", vcell, scell, pcell,
                "p99 < 50 ms, 0 missed" if which == "b" else "0 missed")
        row(f"{title}: highest rate held with p99 < 50 ms, 0 missed (every round)",
            held_text(held(steps, v, which), steps) if v else "–", "–", "–", "")
    fc = vit(v, lambda r: r["fanout_connect"]["connect_s"])
    sc = peer_row(pb, "SSE connect")
    si = peer_row(syn, "initial /sync")
    row(f"{k} sockets: connect + authenticate (100 at a time)", f"{fnum(fc, 2)} s for all",
        f"initial /sync ×1000: {cell(si)}" if si else "–",
        f"SSE connect+subscribe ×1000: {fnum(sc and sc.get('rate'))}/s" if sc else "–", "")

    # idle
    idle_rss = vit(v, lambda r: r["idle"]["held_rss_kb"])
    idle_hwm = vit(v, lambda r: r["idle"]["server_vmhwm_kb"])
    per = vit(v, lambda r: r["idle"]["rss_per_socket_kib"])
    n_idle = vit(v, lambda r: r["idle"]["ready"])
    row(f"{fnum(int(n_idle)) if n_idle else '–'} idle authenticated sockets: server RSS",
        f"RSS {fnum(mib(idle_rss), 0)} MiB (peak {fnum(mib(idle_hwm), 0)} MiB), {fnum(per, 1)} KiB per socket",
        "–", "–", "< 400 MiB")
    w("")
    # peak RSS by phase
    w("Server peak RSS (VmHWM, reset per phase), MiB — vitrine: " + ", ".join(
        f"{k} {fnum(mib(vit(v, lambda r, k=k: r[k]['server_vmhwm_kb'])), 0)}"
        for k in ("send64", "send_nm", "history_latest64", "history_deep64", "search64", "idle")) +
      "; Synapse: " + ", ".join(f"{r['test']} {fnum(mib(r['server_vmhwm_kb']), 0)}"
                                for r in peer_rows_all(syn) if r.get("server_vmhwm_kb")) +
      "; PocketBase: " + ", ".join(f"{r['test']} {fnum(mib(r['server_vmhwm_kb']), 0)}"
                                   for r in peer_rows_all(pb) if r.get("server_vmhwm_kb")))
    w("")
    clients = {step.get("client", "python") for run in v for which in ("a", "b")
               for step in run.get(f"fanout_{which}", [])}
    if clients:
        w("vitrine's fan-out sockets: " + ", ".join(sorted(
            "one Rust process (bench/chat_fanout.rs)" if c == "rust" else "one Python process (chat_client.py)"
            for c in clients)) + "; the peers' sockets: one Python process (their harnesses).")
    checks = [c for run in v for c in run.get("search_checks", [])]
    if checks:
        bad = [c for c in checks if not c["ok"]]
        w(f"Search answers checked against the seeded corpus: {len(checks) - len(bad)} of {len(checks)} match.")
    loads = [(f"vitrine r{r['meta']['round']}", r["meta"]["loadavg_start"], r["meta"].get("loadavg_end")) for r in v]
    loads += [(f"Synapse", r["meta"]["loadavg_start"], r["meta"].get("loadavg_end")) for r in syn]
    loads += [(f"PocketBase", r["meta"]["loadavg_start"], r["meta"].get("loadavg_end")) for r in pb]
    w("Load average (1 min) start → end: " + "; ".join(
        f"{n} {s[0]} → {e[0] if e else '?'}" for n, s, e in loads))
    print("\n".join(out))


def peer_rows_all(runs):
    """the last run's rows (for the RSS line)"""
    return runs[-1]["rows"] if runs else []


if __name__ == "__main__":
    main()
