#!/usr/bin/env python3
"""Helpers of bench/catalog.sh (standard library only).

    catalog_util.py pg-url URL [DBNAME]        URL with its database replaced (or unchanged)
    catalog_util.py pg-describe URL            "PostgreSQL (host:port/db)", never credentials
    catalog_util.py probe-vitrine BASE STATS OUT_ENV OUT_JSON
    catalog_util.py probe-pb PB_URL STATS FOLDER STATE_ENV OUT_ENV OUT_JSON
    catalog_util.py wrk-line RAW KEY=VALUE...  one JSON line: the wrk summary plus the fields
                                               (cpu_s=… also gives cpu_us_per_req)
    catalog_util.py report WORK                the tables

The probes check each benchmark URL once before any load: status, shape of the answer,
whether the items satisfy the filter, and how many watches match in all (by following
next_cursor for vitrine, from totalItems for PocketBase). They write shell assignments
(the URL of each test that is ready, and ids) and a JSON report.
"""
import json
import math
import os
import shlex
import sys
import urllib.error
import urllib.parse
import urllib.request

TIMEOUT = 10
MAX_PAGES = 2000


def fetch(url):
    """(status, parsed JSON or None, first 300 characters of the body)."""
    req = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
            status, body = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status, body = err.code, err.read()
    except (urllib.error.URLError, OSError) as err:
        return 0, None, str(err)
    text = body.decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    return status, data, text[:300].replace("\n", " ")


def page_items(data):
    if isinstance(data, dict) and isinstance(data.get("items"), list):
        return data["items"]
    return None


def write_env(path, values):
    with open(path, "w") as f:
        for key, value in values.items():
            f.write(f"{key}={shlex.quote(str(value))}\n")


def count_pages(url, limit=100):
    """Follows next_cursor over the whole result; (count, pages, problem or None)."""
    sep = "&" if "?" in url else "?"
    cursor, seen, count, pages = None, set(), 0, 0
    while pages < MAX_PAGES:
        page_url = f"{url}{sep}limit={limit}"
        if cursor:
            page_url += "&cursor=" + urllib.parse.quote(cursor, safe="")
        status, data, text = fetch(page_url)
        items = page_items(data)
        if status != 200 or items is None:
            return count, pages, f"page {pages + 1} answered {status}: {text}"
        count += len(items)
        pages += 1
        cursor = data.get("next_cursor")
        if not cursor:
            return count, pages, None
        if cursor in seen:
            return count, pages, "next_cursor repeats"
        seen.add(cursor)
    return count, pages, f"stopped after {MAX_PAGES} pages"


def check_list_items(items, brand_id, year_from, warnings, label):
    """Warns about items that break the filter or the order (only fields that are there)."""
    last = math.inf
    for item in items:
        if not isinstance(item, dict):
            warnings.append(f"{label}: an item is not an object")
            return
        bid = item.get("brand_id")
        if bid is None and isinstance(item.get("brand"), dict):
            bid = item["brand"].get("id")
        if bid is not None and bid != brand_id:
            warnings.append(f"{label}: item {item.get('id')} has brand {bid}, not {brand_id}")
            return
        if item.get("integrated_bracelet") is False:
            warnings.append(f"{label}: item {item.get('id')} has no integrated bracelet")
            return
        start, end = item.get("start_release"), item.get("end_release")
        latest = end if isinstance(end, int) else start
        if isinstance(latest, int) and latest < year_from:
            # year_from: the release years overlap [year_from, ∞)
            warnings.append(f"{label}: item {item.get('id')} was released until {latest} < {year_from}")
            return
        if isinstance(start, int):
            if start > last:
                warnings.append(f"{label}: items are not sorted by -start_release")
                return
            last = start


def probe_vitrine(base, stats_path, out_env, out_json):
    stats = json.load(open(stats_path))
    brand, year_from, word = stats["list_brand"], stats["list_year_from"], stats["search"]
    api = base.rstrip("/") + "/api/v1"
    env = {}
    rep = {"missing": {}, "warnings": [], "expected_list_matches": stats["list_matches_overlap"],
           "expected_search_matches": stats["search_matches"]}

    # the brand's id
    brand_id = None
    status, data, text = fetch(f"{api}/brands?q={urllib.parse.quote(brand)}&limit=100")
    items = page_items(data)
    if status != 200 or items is None:
        rep["missing"]["brand"] = f"GET /api/v1/brands?q={brand} answered {status}: {text}"
    else:
        found = [i for i in items if isinstance(i, dict) and str(i.get("name", "")).casefold() == brand.casefold()]
        if found:
            brand_id = found[0]["id"]
        else:
            rep["missing"]["brand"] = f"no brand named {brand} (brands?q= answered {len(items)} items)"
    rep["brand_id"] = brand_id

    # (b) the filtered list
    watch_id = folder = None
    if brand_id is None:
        rep["missing"]["list"] = f"needs the id of brand {brand}"
    else:
        filt = (f"{api}/watches?brand_id={brand_id}&integrated_bracelet=true"
                f"&year_from={year_from}&sort=-start_release")
        list_url = f"{filt}&limit=30"
        status, data, text = fetch(list_url)
        items = page_items(data)
        if status != 200 or items is None:
            rep["missing"]["list"] = f"GET {list_url[len(base):]} answered {status}: {text}"
        else:
            if "next_cursor" not in data:
                rep["warnings"].append("list answer has no next_cursor field")
            expected = stats["list_matches_overlap"]
            want = min(30, expected)
            if len(items) != want:
                rep["warnings"].append(f"list page holds {len(items)} items, expected {want}")
            check_list_items(items, brand_id, year_from, rep["warnings"], "list")
            count, pages, problem = count_pages(filt)
            rep["list_matches"] = count
            rep["list_pages"] = pages
            if problem:
                rep["warnings"].append(f"counting list matches: {problem}")
            elif count != expected:
                rep["warnings"].append(f"list matches {count} watches, the generator expects "
                                       f"{expected}")
            rep["list_page_bytes"] = len(json.dumps(data, ensure_ascii=False).encode())
            env["V_LIST_URL"] = list_url
            if items and isinstance(items[0], dict) and "id" in items[0]:
                watch_id, folder = items[0]["id"], items[0].get("folder")

    # (a) one watch by id: the first of the filtered list, else the first of any list
    if watch_id is None:
        status, data, text = fetch(f"{api}/watches?limit=1")
        items = page_items(data)
        if status == 200 and items and isinstance(items[0], dict) and "id" in items[0]:
            watch_id, folder = items[0]["id"], items[0].get("folder")
    if watch_id is None:
        rep["missing"]["get"] = "no watch id: the watch list is missing or empty"
    else:
        get_url = f"{api}/watches/{watch_id}"
        status, data, text = fetch(get_url)
        if status != 200 or not isinstance(data, dict):
            rep["missing"]["get"] = f"GET /api/v1/watches/{watch_id} answered {status}: {text}"
        else:
            if data.get("id") != watch_id:
                rep["warnings"].append(f"detail answer's id is {data.get('id')!r}, not {watch_id}")
            folder = data.get("folder", folder)
            rep["detail_bytes"] = len(json.dumps(data, ensure_ascii=False).encode())
            env["V_GET_URL"] = get_url
    rep["watch_id"], rep["watch_folder"] = watch_id, folder
    env["V_WATCH_FOLDER"] = folder or ""

    # (c) search
    q = urllib.parse.quote(word)
    search_url = f"{api}/watches?q={q}&limit=30"
    status, data, text = fetch(search_url)
    items = page_items(data)
    if status != 200 or items is None:
        rep["missing"]["search"] = f"GET /api/v1/watches?q={word}&limit=30 answered {status}: {text}"
    else:
        want = min(30, stats["search_matches"])
        if len(items) != want:
            rep["warnings"].append(f"search page holds {len(items)} items, expected {want}")
        count, pages, problem = count_pages(f"{api}/watches?q={q}")
        rep["search_matches"] = count
        if problem:
            rep["warnings"].append(f"counting search matches: {problem}")
        elif count != stats["search_matches"]:
            rep["warnings"].append(f"search matches {count} watches, the generator expects "
                                   f"{stats['search_matches']}")
        env["V_SEARCH_URL"] = search_url

    write_env(out_env, env)
    json.dump(rep, open(out_json, "w"), ensure_ascii=False)
    for key, why in rep["missing"].items():
        print(f"   vitrine {key}: MISSING: {why}", file=sys.stderr)
    for warning in rep["warnings"]:
        print(f"   vitrine: warning: {warning}", file=sys.stderr)


def probe_pb(pb_url, stats_path, folder, state_env, out_env, out_json):
    stats = json.load(open(stats_path))
    api = pb_url.rstrip("/") + "/api/collections/watches/records"
    rep = {"warnings": []}
    # the same filter and sort as the peer's bench.sh
    filt = (f"(brand='{stats['list_brand']}' && integrated_bracelet=true && "
            f"start_release>={stats['list_year_from']})")
    list_url = f"{api}?filter={urllib.parse.quote(filt)}&sort=-start_release&page=1&perPage=30"
    status, data, text = fetch(list_url)
    if status != 200 or page_items(data) is None:
        sys.exit(f"PocketBase list answered {status}: {text}")
    rep["list_matches"] = data.get("totalItems")
    if rep["list_matches"] != stats["list_matches"]:
        rep["warnings"].append(f"PocketBase list matches {rep['list_matches']}, the generator expects "
                               f"{stats['list_matches']}")
    rep["list_page_bytes"] = len(json.dumps(data).encode())
    status, data, text = fetch(list_url + "&skipTotal=1")
    if status != 200 or page_items(data) is None:
        sys.exit(f"PocketBase list with skipTotal answered {status}: {text}")

    # (a): the same watch (by folder) as on vitrine, else seed.py's WATCH_ID
    watch_id = None
    if folder:
        f2 = urllib.parse.quote(f"folder='{folder}'")
        status, data, text = fetch(f"{api}?filter={f2}&perPage=1&skipTotal=1")
        if status == 200 and page_items(data):
            watch_id = data["items"][0]["id"]
            rep["same_watch_as_vitrine"] = True
    if watch_id is None:
        with open(state_env) as f:
            for line in f:
                if line.startswith("WATCH_ID="):
                    watch_id = line.split("=", 1)[1].strip().strip("'")
        rep["same_watch_as_vitrine"] = False
    get_url = f"{api}/{watch_id}"
    status, data, text = fetch(get_url)
    if status != 200:
        sys.exit(f"PocketBase GET record answered {status}: {text}")
    rep["watch_id"], rep["watch_folder"] = watch_id, data.get("folder")
    rep["detail_bytes"] = len(json.dumps(data).encode())
    write_env(out_env, {"PB_GET_URL": get_url, "PB_LIST_URL": list_url,
                        "PB_LIST_SKIP_URL": list_url + "&skipTotal=1"})
    json.dump(rep, open(out_json, "w"))
    for warning in rep["warnings"]:
        print(f"   PocketBase: warning: {warning}", file=sys.stderr)


def wrk_line(raw, fields):
    summary = None
    with open(raw) as f:
        for line in f:
            if line.startswith("JSON "):
                summary = json.loads(line[5:])
    if summary is None:
        sys.exit(f"no wrk summary in {raw}")
    for field in fields:
        key, value = field.split("=", 1)
        try:
            value = int(value) if value.lstrip("-").isdigit() else float(value)
        except ValueError:
            pass
        summary[key] = value
    if "cpu_s" in summary:
        summary["cpu_us_per_req"] = summary["cpu_s"] * 1e6 / max(1, summary["requests"])
    print(json.dumps(summary))
    brief = (f"   {summary['rps']:.0f} req/s, p50 {summary['lat_p50_ms']:.2f} ms, "
             f"p99 {summary['lat_p99_ms']:.2f} ms, non-2xx {summary['non2xx']}")
    if "cpu_us_per_req" in summary:
        brief += f", {summary['cpu_us_per_req']:.0f} µs CPU/req"
    print(brief, file=sys.stderr)


# ---------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------
def median(values):
    values = sorted(values)
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


def fmt_bytes(n):
    if n is None:
        return "–"
    return f"{n / 1048576:.1f} MiB"


def report(work):
    meta = load_json(os.path.join(work, "meta.json"), {})
    stats = load_json(os.path.join(work, "stats.json"), {})
    vprobe = load_json(os.path.join(work, "vprobe.json"), {})
    pbprobe = load_json(os.path.join(work, "pbprobe.json"), {})
    runs = []
    path = os.path.join(work, "runs.jsonl")
    if os.path.exists(path):
        with open(path) as f:
            runs = [json.loads(line) for line in f if line.strip()]

    groups = {}
    for run in runs:
        groups.setdefault((run["test"], run["server"]), []).append(run)

    def agg(test, server):
        rs = groups.get((test, server))
        if not rs:
            return None
        return {
            "rps": median([r["rps"] for r in rs]),
            "p50": median([r["lat_p50_ms"] for r in rs]),
            "p99": median([r["lat_p99_ms"] for r in rs]),
            "non2xx": sum(r["non2xx"] for r in rs),
            "sock": sum(r["err_connect"] + r["err_read"] + r["err_write"] + r["err_timeout"] for r in rs),
            "cpu": median([r["cpu_us_per_req"] for r in rs]),
            "n": len(rs),
            "rps_all": [r["rps"] for r in rs],
        }

    n = meta.get("count")
    print(f"### vitrine vs PocketBase {meta.get('pb_version', '')}: catalog, {n:,} watches, "
          f"vitrine on {meta.get('db_kind', '?')}")
    print()
    print("| step | vitrine | PocketBase |")
    print("|---|---|---|")
    imp = meta.get("import") or {}
    if imp.get("seconds") is not None:
        created = imp.get("summary") or "no summary line"
        v_load = (f"`vitrine import catalog`: {imp['seconds']:.1f} s, "
                  f"**{n / imp['seconds']:,.0f} records/s** ({created}); peak RSS {fmt_bytes(imp.get('rss_kb', 0) * 1024) if imp.get('rss_kb') else '–'}")
    else:
        v_load = f"not run: {imp.get('missing', 'unknown')}"
    seed = meta.get("pb_seed") or {}
    pb_load = (f"seed.py (REST batch API, 500 per request): {seed['seconds']:.1f} s, "
               f"**{seed['inserted'] / seed['seconds']:,.0f} records/s**"
               if seed.get("seconds") else "–")
    print(f"| load {n:,} records | {v_load} | {pb_load} |")
    print(f"| database size after load | {fmt_bytes(meta.get('v_db_bytes'))} | "
          f"{fmt_bytes(meta.get('pb_db_bytes'))} (pb_data) |")
    print(f"| filtered list: matches (generator expects {stats.get('list_matches_overlap')} / "
          f"{stats.get('list_matches')}) | {vprobe.get('list_matches', '–')} (`year_from`: released in or "
          f"after; counted by next_cursor) | {pbprobe.get('list_matches', '–')} (`start_release>=`; "
          f"totalItems) |")
    print(f"| search `{stats.get('search')}`: matches (generator expects {stats.get('search_matches')}) | "
          f"{vprobe.get('search_matches', '–')} | – |")
    print(f"| answer size: detail / list page | {vprobe.get('detail_bytes', '–')} B / "
          f"{vprobe.get('list_page_bytes', '–')} B | {pbprobe.get('detail_bytes', '–')} B / "
          f"{pbprobe.get('list_page_bytes', '–')} B |")
    print(f"| server peak RSS (VmHWM) at the end | {fmt_bytes(meta.get('v_rss_kb', 0) * 1024) if meta.get('v_rss_kb') else '–'} | "
          f"{fmt_bytes(meta.get('pb_rss_kb', 0) * 1024) if meta.get('pb_rss_kb') else '–'} |")
    print()

    names = {
        "get": "(a) GET one watch by id",
        "list": "(b) filtered list, 30 per page",
        "list_skiptotal": "(b′) filtered list, `skipTotal=1`",
        "search": f"(c) search `q={stats.get('search')}`, 30 per page",
    }
    servers = {
        "vitrine": "vitrine",
        "vitrine_nocache": "vitrine, answer cache off",
        "pocketbase": "PocketBase",
    }
    print(f"Each run: wrk -t2 -c64 -d{meta.get('dur')}s --latency after a 3 s warm-up and a "
          f"{meta.get('settle')} s pause; {meta.get('rounds')} round(s), servers alternating; "
          f"the median where there is more than one run.")
    print()
    print("| test | server | req/s | p50 | p99 | non-2xx | socket errors | server CPU µs/req |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for test in ("get", "list", "list_skiptotal", "search"):
        for server in ("vitrine", "vitrine_nocache", "pocketbase"):
            a = agg(test, server)
            if a is None:
                continue
            rps = fmt_rate(a["rps"])
            if a["n"] > 1:
                rps += " [" + ", ".join(fmt_rate(x) for x in a["rps_all"]) + "]"
            print(f"| {names[test]} | {servers[server]} | {rps} | {fmt_ms(a['p50'])} | {fmt_ms(a['p99'])} | "
                  f"{a['non2xx']} | {a['sock']} | {a['cpu']:.0f} |")
    missing = meta.get("vitrine_missing") or {}
    for key, why in missing.items():
        print(f"| {names.get(key, key)} | vitrine | not measured: {why[:160]} | | | | | |")
    print()

    print("| test | vitrine req/s | PocketBase req/s | ratio | vitrine p99 | PocketBase p99 | goal | met |")
    print("|---|---:|---:|---:|---:|---:|---|---|")
    vservers = [("vitrine", ""), ("vitrine_nocache", ", vitrine answer cache off")]
    for test, pbtest, goal in (("get", "get", 3), ("list", "list", 5), ("list", "list_skiptotal", 5)):
        p = agg(pbtest, "pocketbase")
        if p is None:
            continue
        name = names[test] if pbtest == test else names["list_skiptotal"] + " on PocketBase"
        if not any(agg(test, vserver) for vserver, _ in vservers):
            print(f"| {name} | – | {fmt_rate(p['rps'])} | – | – | {fmt_ms(p['p99'])} | ≥ {goal}× | not measured |")
        for vserver, label in vservers:
            v = agg(test, vserver)
            if v is None:
                continue
            ratio = v["rps"] / p["rps"] if p["rps"] else float("inf")
            met = "yes" if ratio >= goal else "no"
            print(f"| {name}{label} | {fmt_rate(v['rps'])} | {fmt_rate(p['rps'])} | **{ratio:.2f}×** | "
                  f"{fmt_ms(v['p99'])} | {fmt_ms(p['p99'])} | ≥ {goal}× | {met} |")
    searched = False
    for vserver, label in vservers:
        s = agg("search", vserver)
        if s is not None:
            searched = True
            met = "yes" if s["p99"] < 20 else "no"
            print(f"| {names['search']}{label} | {fmt_rate(s['rps'])} | – | – | **{fmt_ms(s['p99'])}** | – | "
                  f"p99 < 20 ms | {met} |")
    if not searched:
        print(f"| {names['search']} | – | – | – | – | – | p99 < 20 ms | not measured |")
    print()
    for line in meta.get("notes", []):
        print(f"- {line}")
    for w in vprobe.get("warnings", []):
        print(f"- vitrine check: {w}")
    for w in pbprobe.get("warnings", []):
        print(f"- PocketBase check: {w}")
    bad = sum(a["non2xx"] + a["sock"] for a in (agg(t, s) for t, s in groups) if a)
    if bad:
        print(f"\nFAILED: {bad} error responses or socket errors during the load runs", file=sys.stderr)
        return 1
    return 0


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "pg-url":
        u = urllib.parse.urlsplit(args[0])
        if len(args) > 1:
            u = u._replace(path="/" + args[1])
        print(urllib.parse.urlunsplit(u))
    elif cmd == "pg-describe":
        u = urllib.parse.urlsplit(args[0])
        where = (u.hostname or "") + (f":{u.port}" if u.port else "")
        print(f"PostgreSQL ({where}{u.path})")
    elif cmd == "probe-vitrine":
        probe_vitrine(*args)
    elif cmd == "probe-pb":
        probe_pb(*args)
    elif cmd == "wrk-line":
        wrk_line(args[0], args[1:])
    elif cmd == "report":
        sys.exit(report(args[0]))
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
