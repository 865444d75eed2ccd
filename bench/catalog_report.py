#!/usr/bin/env python3
"""The tables of bench/catalog.sh (standard library only).

    catalog_report.py WORK

Reads WORK/meta.json, stats.json, vprobe.json, pbprobe.json, paths.json and runs.jsonl (one
line per wrk run: test, server, mode, round, the wrk summary, server CPU, every server's
VmHWM during the run, and the writer's figures in mixed runs). Prints, in this order: the
setup, the random-key figures, the goals of issue 9, the writes mixed in, memory per phase,
every run's median in detail, and the single-URL figures when they were measured. Exits 1
when any request or write failed.
"""
import json
import os
import sys

SERVERS = {
    "vitrine_nocache": "vitrine, cache off",
    "vitrine": "vitrine, cache on",
    "pocketbase": "PocketBase, log on",
    "pocketbase_nolog": "PocketBase, log off",
}
TESTS = {
    "get": "(a) GET watch by id",
    "list": "(b) filtered list, 30 per page",
    "list_skiptotal": "(b′) filtered list, PocketBase `skipTotal=1`",
    "search": "(c) search, one alias word",
}
WRITE_KINDS = ("login", "collection_add", "collection_remove", "upload", "chat_message")
GOAL_RSS_MIB = 150
GOAL_P99_MS = 20
GOAL_GET_RATIO = 2
GOAL_MIXED_RATIO = 0.9


def median(values):
    values = sorted(v for v in values if v is not None)
    n = len(values)
    if n == 0:
        return None
    return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2


def load_json(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def fmt_rate(v):
    if v is None:
        return "–"
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}"


def fmt_ms(v):
    if v is None:
        return "–"
    return f"{v:.1f} ms" if v >= 10 else f"{v:.2f} ms"


def fmt_mib(kb):
    return "–" if not kb else f"{kb / 1024:.0f} MiB"


def spread(values, fmt):
    """'median [min–max]' over the rounds, or the one value."""
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    if len(values) == 1:
        return fmt(values[0])
    return f"{fmt(median(values))} [{fmt(min(values))}–{fmt(max(values))}]"


class Runs:
    def __init__(self, runs):
        self.groups = {}
        for run in runs:
            key = (run["test"], run["server"], run.get("mode", "read"))
            self.groups.setdefault(key, []).append(run)

    def get(self, test, server, mode="read"):
        return self.groups.get((test, server, mode), [])

    def rps(self, test, server, mode="read"):
        return median(r["rps"] for r in self.get(test, server, mode))

    def p99(self, test, server, mode="read"):
        return median(r["lat_p99_ms"] for r in self.get(test, server, mode))

    def cell(self, test, server, mode="read"):
        rs = self.get(test, server, mode)
        if not rs:
            return "–"
        return (f"**{spread([r['rps'] for r in rs], fmt_rate)}** req/s, "
                f"p99 {spread([r['lat_p99_ms'] for r in rs], lambda v: fmt_ms(v)[:-3])} ms")

    def mixed_ratios(self, test, server):
        """read throughput with writes ÷ without, paired by round."""
        read = {r["round"]: r["rps"] for r in self.get(test, server, "read")}
        return [r["rps"] / read[r["round"]] for r in self.get(test, server, "mixed")
                if read.get(r["round"])]


def print_setup(meta, stats, vprobe, pbprobe, paths):
    n = meta.get("count") or 0
    print("| step | vitrine | PocketBase |")
    print("|---|---|---|")
    imp = meta.get("import") or {}
    if imp.get("seconds") is not None:
        rss = fmt_mib(imp.get("rss_kb"))
        v_load = (f"`vitrine import catalog`: {imp['seconds']:.1f} s, **{n / imp['seconds']:,.0f} "
                  f"records/s** ({imp.get('summary') or 'no summary line'}); peak RSS {rss}")
    else:
        v_load = f"not run: {imp.get('missing', 'unknown')}"
    seed = meta.get("pb_seed") or {}
    pb_load = (f"seed.py (batch API, 500 per request): {seed['seconds']:.1f} s, "
               f"**{seed['inserted'] / seed['seconds']:,.0f} records/s**" if seed.get("seconds") else "–")
    print(f"| load {n:,} records | {v_load} | {pb_load} |")
    print(f"| database size after load | {fmt_mib((meta.get('v_db_bytes') or 0) / 1024)} | "
          f"{fmt_mib((meta.get('pb_db_bytes') or 0) / 1024)} (pb_data) |")
    print(f"| check: Omega, bracelet, from {stats.get('list_year_from')}: matches (generator "
          f"expects {stats.get('list_matches_overlap')} / {stats.get('list_matches')}) | "
          f"{vprobe.get('list_matches', '–')} (`year_from`: released in or after) | "
          f"{pbprobe.get('list_matches', '–')} (`start_release>=`) |")
    print(f"| check: search `{stats.get('search')}` matches (generator expects "
          f"{stats.get('search_matches')}) | {vprobe.get('search_matches', '–')} | – |")
    print(f"| answer size: detail / list page | {vprobe.get('detail_bytes', '–')} B / "
          f"{vprobe.get('list_page_bytes', '–')} B | {pbprobe.get('detail_bytes', '–')} B / "
          f"{pbprobe.get('list_page_bytes', '–')} B |")
    print(f"| random keys | {paths.get('ids', '–'):,} watch ids; {paths.get('list_combos', '–')} "
          f"filters ({paths.get('brands')} brands × {paths.get('years')} years); "
          f"{paths.get('words', '–')} alias words | the same watches (by folder) and filters |")
    print()


def print_random(runs, meta):
    servers = [s for s in SERVERS if any(runs.get(t, s) for t in TESTS)]
    print(f"**Random keys, read only.** Each run: wrk -t2 -c64 -d{meta.get('dur')}s --latency, "
          f"a random id, filter or word per request (bench/wrk_random.lua), after a 3 s warm-up "
          f"and a {meta.get('settle')} s pause; {meta.get('rounds')} round(s), servers "
          f"alternating; median [min–max] over the rounds.")
    print()
    print("| workload (random keys) | " + " | ".join(SERVERS[s] for s in servers) + " |")
    print("|---|" + "---:|" * len(servers))
    for test, name in TESTS.items():
        if any(runs.get(test, s) for s in servers):
            print(f"| {name} | " + " | ".join(runs.cell(test, s) for s in servers) + " |")
    print()


def peak_rss(all_runs, meta, server):
    values = [r.get(f"rss_{server}") for r in all_runs] + [meta.get(f"start_rss_kb_{server}")]
    values = [v for v in values if v]
    return max(values) if values else None


def print_goals(runs, all_runs, meta):
    v, pb, pb_off = "vitrine_nocache", "pocketbase", "pocketbase_nolog"
    rows = []

    def row(goal, figure, met):
        rows.append((goal, figure, "–" if met is None else ("yes" if met else "**no**")))

    v_get, pb_get, pb_off_get = runs.rps("get", v), runs.rps("get", pb), runs.rps("get", pb_off)
    if v_get and pb_get:
        figure = f"{v_get / pb_get:.2f}× ({fmt_rate(v_get)} vs {fmt_rate(pb_get)} req/s)"
        if pb_off_get:
            figure += f"; {v_get / pb_off_get:.2f}× PocketBase with its log off ({fmt_rate(pb_off_get)})"
        row(f"GET by id, cache off: ≥ {GOAL_GET_RATIO}× PocketBase (log on)", figure,
            v_get / pb_get >= GOAL_GET_RATIO)
        vp, pp = runs.p99("get", v), runs.p99("get", pb)
        row("GET by id, cache off: p99 below PocketBase's", f"{fmt_ms(vp)} vs {fmt_ms(pp)}", vp < pp)
    for test in ("list", "search"):
        p = runs.p99(test, v)
        if p is not None:
            row(f"{TESTS[test][4:]}, cache off: p99 < {GOAL_P99_MS} ms", fmt_ms(p), p < GOAL_P99_MS)
    ratios = {t: median(runs.mixed_ratios(t, v)) for t in ("get", "list", "search")}
    ratios = {t: r for t, r in ratios.items() if r is not None}
    if ratios:
        row(f"{meta.get('write_rate')} writes/s mixed in, cache off: read throughput within "
            f"{100 - GOAL_MIXED_RATIO * 100:.0f} %",
            ", ".join(f"{t} {r:.2f}×" for t, r in ratios.items()),
            all(r >= GOAL_MIXED_RATIO for r in ratios.values()))
    for server in ("vitrine_nocache", "vitrine"):
        kb = peak_rss(all_runs, meta, server)
        if kb:
            row(f"{SERVERS[server]}: RSS < {GOAL_RSS_MIB} MiB through the whole run",
                f"peak {fmt_mib(kb)}", kb / 1024 < GOAL_RSS_MIB)
    if not rows:
        return
    print("**Goals of issue 9** (this run; medians):")
    print()
    print("| goal | measured | met |")
    print("|---|---|---|")
    for goal, figure, met in rows:
        print(f"| {goal} | {figure} | {met} |")
    print()


def print_mixed(runs, meta):
    servers = [s for s in ("vitrine_nocache", "vitrine") if any(runs.get(t, s, "mixed") for t in TESTS)]
    if not servers:
        return
    print(f"**Writes mixed in.** The same random-key runs with {meta.get('write_rate')} writes/s "
          f"against the server being measured (bench/writes.py, {meta.get('writers')} members "
          f"taking turns: a sign-in with a password, a collection add, a 4 KiB upload, a chat "
          f"message to a group, a collection remove); ratio = with writes ÷ read only, paired "
          f"by round; late = writes started over 100 ms after their turn; writer CPU = the "
          f"writer's own share of one core, taken from the machine the servers share.")
    print()
    print("| workload | server | read only | with writes | ratio | writes done/s | write errors | late | writer CPU |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for test in ("get", "list", "search"):
        for server in servers:
            mixed = runs.get(test, server, "mixed")
            if not mixed:
                continue
            writes = [r.get("writes") or {} for r in mixed]
            print(f"| {TESTS[test]} | {SERVERS[server]} | {runs.cell(test, server)} | "
                  f"{runs.cell(test, server, 'mixed')} | "
                  f"**{spread(runs.mixed_ratios(test, server), lambda x: f'{x:.2f}')}** | "
                  f"{spread([w.get('rate') for w in writes], lambda x: f'{x:.1f}')} | "
                  f"{sum(w.get('errors', 0) for w in writes)} | {sum(w.get('late', 0) for w in writes)} | "
                  f"{spread([100 * w['cpu_s'] / w['seconds'] for w in writes if w.get('seconds') and 'cpu_s' in w], lambda x: f'{x:.0f} %')} |")
    print()
    print("| write (all mixed runs) | server | writes | errors (statuses) | p50 | p99 |")
    print("|---|---|---:|---:|---:|---:|")
    for server in servers:
        kinds = [k for r in runs.groups.get(("get", server, "mixed"), []) +
                 runs.groups.get(("list", server, "mixed"), []) +
                 runs.groups.get(("search", server, "mixed"), [])
                 for k in [(r.get("writes") or {}).get("kinds", {})]]
        for kind in WRITE_KINDS:
            ks = [k[kind] for k in kinds if kind in k]
            if not ks:
                continue
            statuses = {}
            for k in ks:
                for status, count in k["statuses"].items():
                    statuses[status] = statuses.get(status, 0) + count
            errors = sum(k["errors"] for k in ks)
            detail = f" ({', '.join(f'{s}: {c}' for s, c in sorted(statuses.items()))})" if statuses else ""
            print(f"| {kind} | {SERVERS[server]} | {sum(k['n'] for k in ks)} | {errors}{detail} | "
                  f"{fmt_ms(median(k['p50_ms'] for k in ks))} | {fmt_ms(median(k['p99_ms'] for k in ks))} |")
    print()


def print_memory(runs, all_runs, meta):
    procs = [s for s in ("vitrine_nocache", "vitrine", "pocketbase")
             if any(f"rss_{s}" in r for r in all_runs)]
    if not procs:
        return
    print("**Server memory by phase**: peak RSS (VmHWM, reset through /proc/PID/clear_refs before "
          "each run, read after it; the highest over the rounds).")
    print()
    print("| phase | " + " | ".join(SERVERS[p].replace(", log on", "") for p in procs) + " |")
    print("|---|" + "---:|" * len(procs))
    print("| start-up, checks, ids, writers' set-up | "
          + " | ".join(fmt_mib(meta.get(f"start_rss_kb_{p}")) for p in procs) + " |")

    def owner(server):
        return "pocketbase" if server.startswith("pocketbase") else server

    phases = []
    for (test, server, mode) in runs.groups:
        label = (test, mode)
        if label not in phases:
            phases.append(label)
    for test, mode in phases:
        cells = []
        for p in procs:
            values = [r.get(f"rss_{p}") for (t, s, m), rs in runs.groups.items()
                      if (t, m) == (test, mode) and owner(s) == p for r in rs]
            cells.append(fmt_mib(max([v for v in values if v], default=0)))
        mode_label = {"read": "", "mixed": ", writes mixed in", "single": ", single URL"}[mode]
        print(f"| {TESTS[test]}{mode_label} | " + " | ".join(cells) + " |")
    idle = []
    for p in procs:
        values = [r.get(f"rss_{p}") for r in all_runs if owner(r["server"]) != p]
        idle.append(fmt_mib(max([v for v in values if v], default=0)))
    print("| while the other servers were measured | " + " | ".join(idle) + " |")
    print("| **whole run** | " + " | ".join(f"**{fmt_mib(peak_rss(all_runs, meta, p))}**" for p in procs) + " |")
    print()


def print_detail(runs, mode, title):
    keys = [k for k in runs.groups if k[2] == mode]
    if not keys:
        return
    print(title)
    print()
    print("| test | server | req/s | p50 | p90 | p99 | non-2xx | socket errors | server CPU µs/req |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for test in TESTS:
        for server in SERVERS:
            rs = runs.get(test, server, mode)
            if not rs:
                continue
            sock = sum(r["err_connect"] + r["err_read"] + r["err_write"] + r["err_timeout"] for r in rs)
            print(f"| {TESTS[test]} | {SERVERS[server]} | {spread([r['rps'] for r in rs], fmt_rate)} | "
                  f"{fmt_ms(median(r['lat_p50_ms'] for r in rs))} | "
                  f"{fmt_ms(median(r.get('lat_p90_ms') for r in rs))} | "
                  f"{spread([r['lat_p99_ms'] for r in rs], lambda v: fmt_ms(v)[:-3])} ms | "
                  f"{sum(r['non2xx'] for r in rs)} | "
                  f"{sock} | {median(r.get('cpu_us_per_req') for r in rs) or 0:.0f} |")
    print()


def main():
    work = sys.argv[1]
    meta = load_json(os.path.join(work, "meta.json"), {})
    stats = load_json(os.path.join(work, "stats.json"), {})
    vprobe = load_json(os.path.join(work, "vprobe.json"), {})
    pbprobe = load_json(os.path.join(work, "pbprobe.json"), {})
    paths = load_json(os.path.join(work, "paths.json"), {})
    all_runs = []
    path = os.path.join(work, "runs.jsonl")
    if os.path.exists(path):
        with open(path) as f:
            all_runs = [json.loads(line) for line in f if line.strip()]
    runs = Runs(all_runs)

    print(f"### vitrine vs PocketBase {meta.get('pb_version', '')}: catalog, {meta.get('count', 0):,} "
          f"watches, random keys; vitrine on {meta.get('db_kind', '?')}")
    print()
    print_setup(meta, stats, vprobe, pbprobe, paths)
    print_random(runs, meta)
    print_goals(runs, all_runs, meta)
    print_mixed(runs, meta)
    print_memory(runs, all_runs, meta)
    print_detail(runs, "read", "Every read-only run, median [min–max] over the rounds:")
    print_detail(runs, "mixed", "Every run with writes mixed in:")
    print_detail(runs, "single", "**Single URL repeated** (SINGLE_URL=1: the first id, filter and word of "
                 "the random ones, every request the same, so vitrine's cache-on server answers "
                 "nearly all from memory; this is not how users load a catalog):")
    for line in meta.get("notes", []) + paths.get("notes", []):
        print(f"- {line}")
    for key, why in (meta.get("vitrine_missing") or {}).items():
        print(f"- vitrine {key}: not measured: {why[:200]}")
    for w in vprobe.get("warnings", []):
        print(f"- vitrine check: {w}")
    for w in pbprobe.get("warnings", []):
        print(f"- PocketBase check: {w}")
    bad = sum(r["non2xx"] + r["err_connect"] + r["err_read"] + r["err_write"] + r["err_timeout"]
              for r in all_runs)
    bad_writes = sum((r.get("writes") or {}).get("errors", 0) for r in all_runs)
    if bad or bad_writes:
        print(f"\nFAILED: {bad} error responses or socket errors during the load runs, "
              f"{bad_writes} failed writes", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
