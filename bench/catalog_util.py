#!/usr/bin/env python3
"""Helpers of bench/catalog.sh (standard library only).

    catalog_util.py pg-url URL [DBNAME]        URL with its database replaced (or unchanged)
    catalog_util.py pg-describe URL            "PostgreSQL (host:port/db)", never credentials
    catalog_util.py probe-vitrine BASE STATS OUT_ENV OUT_JSON
    catalog_util.py probe-pb PB_URL STATS FOLDER STATE_ENV OUT_ENV OUT_JSON
    catalog_util.py wrk-line RAW KEY=VALUE...  one JSON line: the wrk summary plus the fields
                                               (cpu_s=… also gives cpu_us_per_req)
    catalog_util.py ids-vitrine BASE OUT       folder<TAB>id of every watch
    catalog_util.py ids-pb PB_URL OUT          folder<TAB>id of every PocketBase record
    catalog_util.py brands-vitrine BASE OUT    name<TAB>id of every brand
    catalog_util.py paths WORK STATS WORDS     WORK/paths/TEST.SERVER.txt: request paths
                                               for wrk_random.lua (same records on both)
    catalog_util.py pb-logs PB_URL on|off      PocketBase's request log, as it ships or off

The probes check each benchmark URL once before any load: status, shape of the answer,
whether the items satisfy the filter, and how many watches match in all (by following
next_cursor for vitrine, from totalItems for PocketBase). They write shell assignments
(the URL of each test that is ready, and ids) and a JSON report. Those single URLs are
the labelled single-URL tests; the main tests ask for random keys (see `paths`).
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


def load_json(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


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
        if key == "writes_file":
            summary["writes"] = load_json(value, {"missing": f"no figures in {value}"})
            continue
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
    writes = summary.get("writes")
    if writes and "rate" in writes:
        brief += f"; writes {writes['rate']:.1f}/s, {writes['errors']} errors, {writes['late']} late"
    print(brief, file=sys.stderr)


# ---------------------------------------------------------------------------------------
# random keys: the ids, brands and words each server is asked for
# ---------------------------------------------------------------------------------------
def ids_vitrine(base, out):
    """folder<TAB>id of every watch, by following next_cursor over the whole list."""
    url = base.rstrip("/") + "/api/v1/watches?sort=id&limit=100"
    cursor, rows = None, []
    while True:
        page_url = url + ("&cursor=" + urllib.parse.quote(cursor, safe="") if cursor else "")
        status, data, text = fetch(page_url)
        items = page_items(data)
        if status != 200 or items is None:
            sys.exit(f"vitrine watch list answered {status}: {text}")
        rows += [(i["folder"], i["id"]) for i in items]
        cursor = data.get("next_cursor")
        if not cursor:
            break
    with open(out, "w") as f:
        f.writelines(f"{folder}\t{wid}\n" for folder, wid in rows)
    print(f"   vitrine: {len(rows)} watch ids", file=sys.stderr)


def ids_pb(pb_url, out):
    """folder<TAB>id of every watch record, page by page."""
    api = pb_url.rstrip("/") + "/api/collections/watches/records"
    rows, page = [], 1
    while True:
        status, data, text = fetch(f"{api}?perPage=500&page={page}&sort=folder&skipTotal=1"
                                   f"&fields=id,folder")
        items = page_items(data)
        if status != 200 or items is None:
            sys.exit(f"PocketBase record list answered {status}: {text}")
        rows += [(i["folder"], i["id"]) for i in items]
        if len(items) < 500:
            break
        page += 1
    with open(out, "w") as f:
        f.writelines(f"{folder}\t{rid}\n" for folder, rid in rows)
    print(f"   PocketBase: {len(rows)} record ids", file=sys.stderr)


def brands_vitrine(base, out):
    status, data, text = fetch(base.rstrip("/") + "/api/v1/brands?limit=100")
    items = page_items(data)
    if status != 200 or items is None:
        sys.exit(f"vitrine brand list answered {status}: {text}")
    with open(out, "w") as f:
        f.writelines(f"{i['name']}\t{i['id']}\n" for i in items)


def read_pairs(path):
    with open(path) as f:
        return dict(line.rstrip("\n").split("\t", 1) for line in f if line.strip())


YEARS = range(1950, 2021)  # seed.py's start_release range


def write_paths(work, stats_path, words_path):
    """The request paths of each test and server, one per line, for wrk_random.lua.

    Line i of a test's files asks every server for the same thing (the same watch by its
    folder, the same brand and year, the same word), so each server is asked for the same
    distribution of records. Only watches both servers hold are asked for."""
    stats = json.load(open(stats_path))
    out = os.path.join(work, "paths")
    os.makedirs(out, exist_ok=True)
    v_ids = read_pairs(os.path.join(work, "ids.vitrine.tsv"))
    pb_path = os.path.join(work, "ids.pocketbase.tsv")
    pb_ids = read_pairs(pb_path) if os.path.exists(pb_path) else None
    folders = sorted(f for f in v_ids if pb_ids is None or f in pb_ids)
    if not folders:
        sys.exit("no watch is on both servers")
    notes = []
    if pb_ids is not None and (len(folders) != len(v_ids) or len(folders) != len(pb_ids)):
        notes.append(f"GET by id asks for the {len(folders)} watches both servers hold "
                     f"(vitrine {len(v_ids)}, PocketBase {len(pb_ids)})")
    if len(v_ids) != stats["count"]:
        notes.append(f"vitrine lists {len(v_ids)} watches of the {stats['count']} generated")

    def write(name, lines):
        with open(os.path.join(out, name), "w") as f:
            f.writelines(line + "\n" for line in lines)

    v_api, pb_api = "/api/v1/watches", "/api/collections/watches/records"
    write("get.vitrine.txt", (f"{v_api}/{v_ids[f]}" for f in folders))
    write("watch_ids.vitrine.txt", (v_ids[f] for f in folders))
    if pb_ids is not None:
        write("get.pocketbase.txt", (f"{pb_api}/{pb_ids[f]}" for f in folders))

    brands = read_pairs(os.path.join(work, "brands.vitrine.tsv"))
    combos = [(b, y) for b in sorted(brands) for y in YEARS]
    write("list.vitrine.txt", (
        f"{v_api}?brand_id={brands[b]}&integrated_bracelet=true&year_from={y}"
        f"&sort=-start_release&limit=30" for b, y in combos))
    pb_lists = [f"{pb_api}?filter=" + urllib.parse.quote(
        f"(brand='{b}' && integrated_bracelet=true && start_release>={y})")
        + "&sort=-start_release&page=1&perPage=30" for b, y in combos]
    write("list.pocketbase.txt", pb_lists)
    write("list_skiptotal.pocketbase.txt", (u + "&skipTotal=1" for u in pb_lists))

    with open(words_path, encoding="utf-8") as f:
        words = [w.strip() for w in f if w.strip()]
    write("search.vitrine.txt", (f"{v_api}?q={urllib.parse.quote(w)}&limit=30" for w in words))
    json.dump({"ids": len(folders), "brands": len(brands), "years": len(YEARS),
               "list_combos": len(combos), "words": len(words), "notes": notes},
              open(os.path.join(work, "paths.json"), "w"))
    print(f"   {len(folders)} watch ids, {len(combos)} brand × year filters "
          f"({len(brands)} brands, {YEARS.start}–{YEARS.stop - 1}), {len(words)} search words",
          file=sys.stderr)
    for note in notes:
        print(f"   note: {note}", file=sys.stderr)


def pb_logs(pb_url, state):
    """Turns PocketBase's request log on (the shipped 5 days) or off (0), as a superuser."""
    body = json.dumps({"identity": os.environ.get("SU_EMAIL", "bench@example.com"),
                       "password": os.environ.get("SU_PASS", "benchpass12345")}).encode()
    req = urllib.request.Request(pb_url + "/api/collections/_superusers/auth-with-password",
                                 data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
        token = json.load(resp)["token"]
    days = 5 if state == "on" else 0
    req = urllib.request.Request(pb_url + "/api/settings", method="PATCH",
                                 data=json.dumps({"logs": {"maxDays": days}}).encode(),
                                 headers={"Content-Type": "application/json",
                                          "Authorization": token})
    with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
        got = json.load(resp)["logs"]["maxDays"]
    if got != days:
        sys.exit(f"PocketBase kept logs.maxDays = {got}, asked for {days}")


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
    elif cmd == "ids-vitrine":
        ids_vitrine(*args)
    elif cmd == "ids-pb":
        ids_pb(*args)
    elif cmd == "brands-vitrine":
        brands_vitrine(*args)
    elif cmd == "paths":
        write_paths(*args)
    elif cmd == "pb-logs":
        pb_logs(*args)
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
