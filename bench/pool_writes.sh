#!/usr/bin/env bash
# Writes beside a stream of messages (SQLite): how long a write through the connection
# pool (a profile edit, PATCH /api/v1/users/me) takes while 64 connections send messages
# as fast as they can through the messenger's writer, and without them. One markdown table.
#
#   bash bench/pool_writes.sh                     # release build, 3 rounds (~3 min)
#   ROUNDS=5 bash bench/pool_writes.sh
#   BENCH_BIN=a BASE_BIN=b bash bench/pool_writes.sh   # two builds, alternating round by round
#
# Each round and build: a fresh data dir, `vitrine serve`, two members and a group chat;
# EDITS profile edits one after another at 5 a second, alone; then the same while wrk
# (-t2 -c64) sends messages into the chat for the whole time. Medians over rounds.
# Rate limits on sign-up and sends are raised for the benchmark.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
ROUNDS=${ROUNDS:-3}
EDITS=${EDITS:-60}

die() { echo "pool_writes.sh: $*" >&2; exit 1; }
for tool in wrk curl python3; do command -v "$tool" >/dev/null || die "$tool is needed"; done

if [ -n "${BENCH_BIN:-}" ]; then
  BIN=$(realpath "$BENCH_BIN")
else
  (cd "$ROOT" && timeout 45m cargo build --release)
  BIN=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/release/vitrine
fi
BUILDS=("$BIN")
[ -n "${BASE_BIN:-}" ] && BUILDS+=("$(realpath "$BASE_BIN")")
for build in "${BUILDS[@]}"; do [ -x "$build" ] || die "no server binary at $build"; done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/vitrine-pool-writes.XXXXXX")
SERVER_PID=
stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=
}
cleanup() { stop_server; rm -rf "$WORK"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

cat >"$WORK/send.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil,
    '{"text":"message ' .. n .. ' of the benchmark, of an ordinary length for a chat"}')
end
LUA

# edits BASE TOKEN OUT: EDITS profile edits at 5 a second; one "status seconds" line each
edits() {
  for i in $(seq 1 "$EDITS"); do
    curl -s -o /dev/null -w "%{http_code} %{time_total}\n" -X PATCH \
      -H 'content-type: application/json' -H "authorization: Bearer $2" \
      "$1/api/v1/users/me" -d "{\"description\":\"edit $i\"}"
    sleep 0.2
  done >"$3"
}

# one BUILD LABEL: a fresh server; alone and beside the stream; results in $WORK/LABEL-*
one() {
  local build=$1 label=$2 port base dir
  port=$(free_port)
  base=http://127.0.0.1:$port
  dir=$WORK/$label
  rm -rf "$dir" && mkdir -p "$dir"
  env VITRINE_DATA_DIR="$dir/data" VITRINE_LOG_DIR="$dir/logs" VITRINE_LOG_LEVEL=warn \
    VITRINE_REGISTER_LIMIT_PER_IP=1000000 VITRINE_CHAT_SEND_BURST=100000000 \
    VITRINE_CHAT_SEND_PER_MINUTE=100000000 VITRINE_ACCESS_TOKEN_TTL_SECS=86400 \
    VITRINE_ADDR=127.0.0.1:$port "$build" serve </dev/null >"$dir/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 300); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.1; done
  curl -sf "$base/healthz" >/dev/null || die "$label: the server did not start"
  local ann bob token bob_id chat
  register() {
    curl -sf -X POST -H 'content-type: application/json' "$base/api/v1/auth/register" \
      -d "{\"username\":\"$1\",\"email\":\"$1@bench.example\",\"password\":\"correct horse battery\"}"
  }
  ann=$(register ann) bob=$(register bob)
  token=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["access_token"])' "$ann")
  bob_id=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["user"]["user_id"])' "$bob")
  chat=$(curl -sf -X POST -H 'content-type: application/json' -H "authorization: Bearer $token" \
    "$base/api/v1/chats" -d "{\"type\":\"group\",\"name\":\"bench\",\"member_ids\":[$bob_id]}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  edits "$base" "$token" "$dir/alone.txt"
  local seconds=$((EDITS / 5 + 6))
  TOKEN=$token wrk -t2 -c64 -d"${seconds}s" -s "$WORK/send.lua" \
    "$base/api/v1/chats/$chat/messages" >"$dir/wrk.txt" &
  local wrk_pid=$!
  sleep 3
  edits "$base" "$token" "$dir/beside.txt"
  wait "$wrk_pid"
  stop_server
}

for round in $(seq 1 "$ROUNDS"); do
  order=("${!BUILDS[@]}")
  # the order is reversed every other round
  [ $((round % 2)) -eq 0 ] && order=($(printf '%s\n' "${order[@]}" | sort -rn))
  for index in "${order[@]}"; do
    echo "round $round: build $index" >&2
    one "${BUILDS[$index]}" "b$index-r$round"
  done
done

python3 - "$WORK" "$ROUNDS" "${BUILDS[@]}" <<'PY'
import re, statistics, sys
from pathlib import Path
work, rounds, builds = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]

def latencies(path):
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    bad = sum(1 for status, _ in rows if status != "200")
    ms = sorted(float(seconds) * 1000 for _, seconds in rows)
    pick = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))]
    return statistics.median(ms), pick(0.9), ms[-1], bad

def sends(path):
    text = path.read_text()
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return rate, int(bad.group(1)) if bad else 0

med = statistics.median
print(f"Profile edits (PATCH /api/v1/users/me, a write through the pool) at 5/s, "
      f"medians over {rounds} round(s)\n")
print("| build | alone: median / p90 / max | beside 64 senders: median / p90 / max | "
      "messages sent/s | answers not 2xx |")
print("|---|---:|---:|---:|---:|")
for index, build in enumerate(builds):
    alone, beside, rates, bad = [], [], [], 0
    for r in range(1, rounds + 1):
        d = work / f"b{index}-r{r}"
        a, b, (rate, bad_sends) = latencies(d / "alone.txt"), latencies(d / "beside.txt"), sends(d / "wrk.txt")
        alone.append(a); beside.append(b); rates.append(rate)
        bad += a[3] + b[3] + bad_sends
    fmt = lambda rows: " / ".join(f"{med(row[k] for row in rows):.1f}" for k in range(3)) + " ms"
    print(f"| {build} | {fmt(alone)} | {fmt(beside)} | {med(rates):,.0f} | {bad} |")
PY
