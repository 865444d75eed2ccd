#!/usr/bin/env bash
# Files benchmark: vitrine's file store against nginx sending the same bytes from disk, in
# the same run. One command; prints a markdown table. All traffic stays on 127.0.0.1, every
# step has a time bound, and the temporary files (several GiB at the peak) and processes are
# removed on exit.
#
#   bash bench/files.sh                     # files on the local disk
#   BENCH_STORAGE=s3 bash bench/files.sh    # files on s3s-fs, an S3-compatible server
#
# Measured in ROUNDS rounds, vitrine and nginx taking turns (the order flips every round):
#   - uploads of a 1 GiB file as a raw body (PUT /api/v1/files/stream) and as multipart
#     (POST /api/v1/files), with the server's peak memory while each runs; nginx's WebDAV PUT
#     of the same file is the ceiling for the raw upload;
#   - downloads of the 1 GiB file by its owner (GET /api/v1/files/{uid}) and from nginx;
#   - a public 1 MiB file under wrk -t2 -c64, from vitrine and from nginx.
# The tables show medians [min–max] over the rounds and the ratios of the medians, beside
# the goals of issue 9 (1 MiB GET and raw upload ≥ 0.9× nginx, multipart ≥ 0.8× raw).
# On S3 the same transfers also go to s3s-fs directly (curl with SigV4, wrk on a presigned
# link), which tells the cost of vitrine apart from the cost of the S3 server.
#
# Knobs (environment):
#   BENCH_STORAGE=local    local | s3
#   ROUNDS=3               rounds; in each, vitrine and nginx take turns (the order flips
#                          every round) and the tables show medians [min–max] over them
#   DUR=10                 seconds of each wrk run (after a 3 s warm-up)
#   BIG_MIB=1024           size of the big file in MiB
#   DOWNLOADS=2            timed downloads of the big file per server and round
#   BENCH_BIN=             run this server binary instead of building target/release/vitrine
#   START_TIMEOUT=60       seconds to wait for each server to answer
#   TRANSFER_TIMEOUT=600   seconds one transfer of the big file may take
#   S3_PORT=58014          first port tried for s3s-fs; the next free one is used
#   KEEP_WORK=1            keep the logs and raw wrk output (the big files go anyway)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
ADDR=127.0.0.1:18080
BASE=http://$ADDR
NGINX_ADDR=127.0.0.1:18088
NGINX=http://$NGINX_ADDR
STORAGE_KIND=${BENCH_STORAGE:-local}
ROUNDS=${ROUNDS:-3}
DUR=${DUR:-10}
BIG_MIB=${BIG_MIB:-1024}
DOWNLOADS=${DOWNLOADS:-2}
START_TIMEOUT=${START_TIMEOUT:-60}
TRANSFER_TIMEOUT=${TRANSFER_TIMEOUT:-600}
S3_PORT=${S3_PORT:-58014}
S3S_FS_VERSION=0.14.1
REGISTER_BODY='{"username":"bench","email":"bench@example.com","password":"bench-password-123"}'

die() { echo "bench: $*" >&2; exit 1; }
step() { echo "-- $*" >&2; }

for knob in ROUNDS DUR BIG_MIB DOWNLOADS START_TIMEOUT TRANSFER_TIMEOUT S3_PORT; do
  [[ ${!knob} =~ ^[1-9][0-9]*$ ]] || die "$knob must be a positive integer, not '${!knob}'"
done
case "$STORAGE_KIND" in
  local | s3) ;;
  *) die "BENCH_STORAGE must be local or s3, not '$STORAGE_KIND'" ;;
esac
BIG_BYTES=$((BIG_MIB * 1024 * 1024))
SMALL_BYTES=$((1024 * 1024))
# The server's default limit is 2 GiB; a bigger test file raises it.
MAX_UPLOAD=$((2 * 1024 * 1024 * 1024))
[ "$BIG_BYTES" -lt "$MAX_UPLOAD" ] || MAX_UPLOAD=$((BIG_BYTES + 1024 * 1024))

# ---------------------------------------------------------------------------------------
# Tools
# ---------------------------------------------------------------------------------------
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v curl >/dev/null || missing+=(curl)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
if [ "${#missing[@]}" -gt 0 ]; then
  step "installing ${missing[*]} (apt)"
  timeout 300 "${sudo[@]}" apt-get update -qq
  # Where no policy says otherwise, the nginx package would start a server on port 80:
  # forbid service starts for the length of the install.
  policy_added=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee /usr/sbin/policy-rc.d >/dev/null
    "${sudo[@]}" chmod 755 /usr/sbin/policy-rc.d
    policy_added=1
  fi
  rc=0
  timeout 600 "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || rc=$?
  [ "$policy_added" = 0 ] || "${sudo[@]}" rm -f /usr/sbin/policy-rc.d
  [ "$rc" = 0 ] || die "apt-get install ${missing[*]} failed"
fi
NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
command -v python3 >/dev/null || die "python3 is needed to read JSON"
command -v sha256sum >/dev/null || die "sha256sum (coreutils) is needed"

if [ "$STORAGE_KIND" = s3 ] && ! command -v s3s-fs >/dev/null; then
  step "cargo install s3s-fs@$S3S_FS_VERSION (about 3 min)"
  timeout 20m cargo install "s3s-fs@$S3S_FS_VERSION" --features binary --locked
  command -v s3s-fs >/dev/null || export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
  command -v s3s-fs >/dev/null || die "s3s-fs not found after cargo install"
fi

# ---------------------------------------------------------------------------------------
# Server binary and work dir
# ---------------------------------------------------------------------------------------
if [ -n "${BENCH_BIN:-}" ]; then
  BIN=$(realpath "$BENCH_BIN")
else
  step "cargo build --release"
  (cd "$ROOT" && timeout 45m cargo build --release)
  TARGET_DIR=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
  BIN=$TARGET_DIR/release/vitrine
fi
[ -x "$BIN" ] || die "no server binary at $BIN"

for addr in "$ADDR" "$NGINX_ADDR"; do
  # The addresses must be ours: a server left from another run would be measured instead.
  if (exec 3<>"/dev/tcp/127.0.0.1/${addr##*:}") 2>/dev/null; then
    die "something already listens on $addr"
  fi
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/vitrine-files-bench.XXXXXX")
# nginx workers may run as another user: they need to reach static/ and nginx/, not data/.
chmod 711 "$WORK"
mkdir -m 700 "$WORK/data" "$WORK/logs"
mkdir -m 755 "$WORK/static" "$WORK/nginx"
SERVER_PID=
NGINX_PID=
S3_PID=
SAMPLER_PID=

stop_pid() { # stop_pid PID: TERM, up to 10 s, then KILL
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$1" 2>/dev/null && kill -KILL "$1" 2>/dev/null
  wait "$1" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  set +e
  [ -z "$SAMPLER_PID" ] || stop_pid "$SAMPLER_PID"
  [ -z "$SERVER_PID" ] || stop_pid "$SERVER_PID"
  [ -z "$NGINX_PID" ] || stop_pid "$NGINX_PID"
  [ -z "$S3_PID" ] || stop_pid "$S3_PID"
  if [ "$rc" -ne 0 ]; then
    for log in server.log nginx/error.log s3s-fs.log; do
      if [ -s "$WORK/$log" ]; then
        echo "---- last lines of $log" >&2
        tail -n 20 "$WORK/$log" >&2
      fi
    done
  fi
  if [ "${KEEP_WORK:-0}" = 1 ]; then
    rm -rf "$WORK/static" "$WORK/data" "$WORK/s3" "$WORK/nginx/dav" "$WORK/nginx/client_body"
    echo "kept $WORK (logs and wrk output)" >&2
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The file, two stored copies and nginx's copy can exist at once; s3s-fs joins the parts of
# an upload into a new file.
need=$((BIG_BYTES * 5 + 512 * 1024 * 1024))
avail=$(df --output=avail -B1 "$WORK" | tail -n 1 | tr -d ' ')
[ "$avail" -ge "$need" ] ||
  die "$WORK has $((avail >> 20)) MiB free; this run needs about $((need >> 20)) MiB"

wait_for_port() { # wait_for_port PORT PID NAME
  local deadline=$((SECONDS + START_TIMEOUT))
  until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
    kill -0 "$2" 2>/dev/null || die "$3 exited during start-up"
    [ "$SECONDS" -lt "$deadline" ] || die "$3 did not listen on port $1 within ${START_TIMEOUT}s"
    sleep 0.1
  done
}

# ---------------------------------------------------------------------------------------
# Test files: ZIP signature, then random bytes (accepted as application/zip, incompressible)
# ---------------------------------------------------------------------------------------
make_file() { # make_file PATH BYTES
  { printf 'PK\003\004'; timeout 300 head -c "$(($2 - 4))" /dev/urandom; } >"$1"
  [ "$(stat -c %s "$1")" = "$2" ] || die "could not write $1"
  chmod 644 "$1"
}
step "writing a $BIG_MIB MiB and a 1 MiB test file"
BIG=$WORK/static/big.zip
SMALL=$WORK/static/small.zip
make_file "$BIG" "$BIG_BYTES"
make_file "$SMALL" "$SMALL_BYTES"
BIG_SHA=$(timeout 300 sha256sum "$BIG" | cut -d' ' -f1)
SMALL_SHA=$(sha256sum "$SMALL" | cut -d' ' -f1)

# ---------------------------------------------------------------------------------------
# Servers: nginx, s3s-fs when asked, vitrine
# ---------------------------------------------------------------------------------------
NGX=$WORK/nginx
mkdir -p "$NGX/dav"
# Workers of a root master run as nobody and write the WebDAV uploads.
[ "$(id -u)" -ne 0 ] || chown nobody "$NGX/dav"
cat >"$NGX/nginx.conf" <<EOF
# nginx as the ceiling: static files from disk, and a raw PUT to disk (WebDAV module).
worker_processes auto;
pid $NGX/nginx.pid;
error_log $NGX/error.log warn;
events { worker_connections 1024; }
http {
  default_type application/octet-stream;
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_body_temp_path $NGX/client_body;
  proxy_temp_path $NGX/proxy;
  fastcgi_temp_path $NGX/fastcgi;
  uwsgi_temp_path $NGX/uwsgi;
  scgi_temp_path $NGX/scgi;
  server {
    listen $NGINX_ADDR;
    root $WORK/static;
    location / { try_files \$uri =404; }
    location /dav/ {
      root $NGX;
      dav_methods PUT;
      create_full_put_path on;
      client_max_body_size 0;
      client_body_buffer_size 1m;
    }
  }
}
EOF
step "starting nginx on $NGINX_ADDR"
"$NGINX_BIN" -p "$NGX" -e "$NGX/error.log" -c "$NGX/nginx.conf" -g 'daemon off;' \
  </dev/null >"$NGX/stdout.log" 2>&1 &
NGINX_PID=$!
wait_for_port "${NGINX_ADDR##*:}" "$NGINX_PID" nginx

storage_env=()
if [ "$STORAGE_KIND" = s3 ]; then
  port=$S3_PORT
  while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    port=$((port + 1))
    [ "$port" -le $((S3_PORT + 50)) ] || die "no free port in $S3_PORT..$((S3_PORT + 50))"
  done
  S3_PORT=$port
  S3_ACCESS=bench
  S3_SECRET=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  mkdir -m 700 "$WORK/s3"
  step "starting s3s-fs on 127.0.0.1:$S3_PORT"
  s3s-fs --host 127.0.0.1 --port "$S3_PORT" --access-key "$S3_ACCESS" --secret-key "$S3_SECRET" \
    "$WORK/s3" </dev/null >"$WORK/s3s-fs.log" 2>&1 &
  S3_PID=$!
  wait_for_port "$S3_PORT" "$S3_PID" s3s-fs
  S3_URL=http://127.0.0.1:$S3_PORT
  storage_env=(STORAGE=s3 S3_ENDPOINT_URL="$S3_URL" S3_BUCKET_NAME=bench
    S3_ACCESS_KEY="$S3_ACCESS" S3_SECRET_KEY="$S3_SECRET" VITRINE_S3__CREATE_BUCKET=true)
  STORAGE_LABEL="S3 (s3s-fs $(s3s-fs --version | awk '{ print $2 }') on 127.0.0.1:$S3_PORT, bucket bench)"
else
  STORAGE_LABEL="local disk ($WORK/data/files)"
fi

step "starting $BIN serve on $ADDR, files on $STORAGE_LABEL"
# A clean environment and an empty work dir: no vitrine.toml, .env or shell setting of a
# checkout changes the setup. SQLite in the data dir; migrations run at start.
(
  cd "$WORK"
  exec env -i PATH="$PATH" HOME="$HOME" \
    VITRINE_ADDR="$ADDR" \
    VITRINE_DATA_DIR="$WORK/data" \
    VITRINE_LOG_DIR="$WORK/logs" \
    VITRINE_LOG_LEVEL=warn \
    VITRINE_MAX_UPLOAD_BYTES="$MAX_UPLOAD" \
    VITRINE_ACCESS_TOKEN_TTL_SECS=3600 \
    "${storage_env[@]}" "$BIN" serve
) </dev/null >"$WORK/server.log" 2>&1 &
SERVER_PID=$!

deadline=$((SECONDS + START_TIMEOUT))
until [ "$(curl -s --max-time 2 -o /dev/null -w '%{http_code}' "$BASE/healthz" || true)" = 200 ]; do
  kill -0 "$SERVER_PID" 2>/dev/null || die "the server exited during start-up"
  [ "$SECONDS" -lt "$deadline" ] || die "GET /healthz did not answer 200 within ${START_TIMEOUT}s"
  sleep 0.2
done

# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------
RESULTS=$WORK/results.txt
: >"$RESULTS"
record() { echo "$1 $2" >>"$RESULTS"; } # record KEY VALUE, read by the report
# Other work on the machine shares the CPUs with the servers and clients: the report says
# how busy it was.
record load.start "$(cut -d' ' -f1 /proc/loadavg)"

json_field() { # json_field FILE KEY
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}
status_kb() { # status_kb PID FIELD: a /proc/PID/status value in kB
  awk -v key="$2:" '$1 == key { print $2 }' "/proc/$1/status"
}

step "registering the bench user"
code=$(curl -sS --max-time 10 -o "$WORK/register.json" -w '%{http_code}' \
  -H 'Content-Type: application/json' -d "$REGISTER_BODY" "$BASE/api/v1/auth/register")
[ "$code" = 201 ] || die "POST /api/v1/auth/register answered $code: $(head -c 300 "$WORK/register.json")"
TOKEN=$(json_field "$WORK/register.json" access_token)
[ -n "$TOKEN" ] || die "empty access_token"
AUTH=(-H "Authorization: Bearer $TOKEN")

# The largest VmRSS seen, sampled every 50 ms; written to OUT as "KB SAMPLES" on TERM.
sample_rss() { # sample_rss PID OUT
  local pid=$1 out=$2 max=0 samples=0 key value
  trap 'echo "$max $samples" >"$out"; exit 0' TERM
  while [ -r "/proc/$pid/status" ]; do
    while read -r key value _; do
      if [ "$key" = VmRSS: ]; then
        [ "$value" -le "$max" ] || max=$value
        break
      fi
    done <"/proc/$pid/status"
    samples=$((samples + 1))
    sleep 0.05
  done
  echo "$max $samples" >"$out"
}

# Memory of one phase: VmHWM before, a reset of VmHWM to the current RSS (Linux 4.0+,
# /proc/PID/clear_refs), sampling during the phase, VmHWM after.
memory_start() { # memory_start NAME
  record "$1.hwm_before_kb" "$(status_kb "$SERVER_PID" VmHWM)"
  record "$1.rss_before_kb" "$(status_kb "$SERVER_PID" VmRSS)"
  if echo 5 2>/dev/null >"/proc/$SERVER_PID/clear_refs"; then
    record "$1.hwm_reset" 1
  else
    record "$1.hwm_reset" 0
  fi
  sample_rss "$SERVER_PID" "$WORK/rss.$1" &
  SAMPLER_PID=$!
}
memory_end() { # memory_end NAME
  stop_pid "$SAMPLER_PID"
  SAMPLER_PID=
  local max samples
  read -r max samples <"$WORK/rss.$1" || die "no RSS samples for $1"
  record "$1.rss_peak_kb" "$max"
  record "$1.rss_samples" "$samples"
  record "$1.hwm_after_kb" "$(status_kb "$SERVER_PID" VmHWM)"
}

# curl -w fields of a transfer: "code bytes_up bytes_down seconds"
CURL_W='%{http_code} %{size_upload} %{size_download} %{time_total}\n'

check_upload() { # check_upload LABEL RESPONSE_JSON CODE EXPECTED_SHA EXPECTED_SIZE
  [ "$3" = 201 ] || die "$1 answered $3: $(head -c 300 "$2")"
  local sha size
  sha=$(json_field "$2" sha256)
  size=$(json_field "$2" size)
  [ "$sha" = "$4" ] || die "$1: the server's sha256 $sha differs from sha256sum's $4"
  [ "$size" = "$5" ] || die "$1: the server counted $size bytes, the file has $5"
}

# ---------------------------------------------------------------------------------------
# Rounds: uploads, downloads and 1 MiB GETs, vitrine and nginx alternating
# ---------------------------------------------------------------------------------------
upload() { # upload NAME ROUND: one upload of the big file; NAME: stream, multipart, nginx_put
  local name=$1 round=$2 code up secs out="$WORK/$1.$2.json"
  step "round $round: upload $BIG_MIB MiB: $name"
  case "$name" in
    stream)
      memory_start stream
      read -r code up _ secs < <(curl -sS --max-time "$TRANSFER_TIMEOUT" -o "$out" -w "$CURL_W" \
        -H 'Expect:' "${AUTH[@]}" -T "$BIG" "$BASE/api/v1/files/stream?name=big.zip" || true)
      memory_end stream
      check_upload "PUT /api/v1/files/stream" "$out" "${code:-000}" "$BIG_SHA" "$BIG_BYTES"
      ;;
    multipart)
      memory_start multipart
      read -r code up _ secs < <(curl -sS --max-time "$TRANSFER_TIMEOUT" -o "$out" -w "$CURL_W" \
        -H 'Expect:' "${AUTH[@]}" -F "file=@$BIG" "$BASE/api/v1/files" || true)
      memory_end multipart
      check_upload "POST /api/v1/files" "$out" "${code:-000}" "$BIG_SHA" "$BIG_BYTES"
      ;;
    nginx_put)
      read -r code up _ secs < <(curl -sS --max-time "$TRANSFER_TIMEOUT" -o "$out" -w "$CURL_W" \
        -H 'Expect:' -T "$BIG" "$NGINX/dav/big.zip" || true)
      [ "${code:-000}" = 201 ] || die "nginx PUT answered ${code:-000}: $(head -c 300 "$out")"
      [ "$(stat -c %s "$NGX/dav/big.zip")" = "$BIG_BYTES" ] || die "nginx stored a different size"
      rm -f "$NGX/dav/big.zip"
      ;;
  esac
  record "$name.bytes" "$up"
  record "$name.seconds" "$secs"
  if [ "$name" != nginx_put ]; then
    # One stored copy is kept for the downloads; the others free their space at once.
    local uid
    uid=$(json_field "$out" uid)
    if [ -z "${BIG_UID:-}" ]; then
      BIG_UID=$uid
    else
      code=$(curl -sS --max-time 60 -o /dev/null -w '%{http_code}' -X DELETE "${AUTH[@]}" \
        "$BASE/api/v1/files/$uid")
      [ "$code" = 204 ] || die "DELETE of an uploaded copy answered $code"
    fi
  fi
}

download() { # download NAME URL [curl args...]: one timed download, recorded
  local name=$1 url=$2 code down secs
  shift 2
  read -r code _ down secs < <(curl -sS --max-time "$TRANSFER_TIMEOUT" -o /dev/null \
    -w "$CURL_W" "$@" "$url" || true)
  [ "${code:-000}" = 200 ] || die "$name download answered ${code:-000}"
  [ "$down" = "$BIG_BYTES" ] || die "$name download got $down of $BIG_BYTES bytes"
  record "$name.seconds" "$secs"
}

run_wrk() { # run_wrk OUT_FILE SECONDS URL
  timeout $(($2 + 30)) wrk -t2 -c64 -d"$2s" --timeout 10s --latency \
    -s "$HERE/wrk_report.lua" "$3" >"$1" 2>&1 ||
    { cat "$1" >&2; die "wrk failed on $3"; }
  grep -q '^JSON ' "$1" || { cat "$1" >&2; die "no summary from wrk on $3"; }
}
small_get() { # small_get NAME ROUND: 3 s warm-up, then DUR s of GET 1 MiB with 64 connections
  local name=$1 round=$2 url=$SMALL_URL
  [ "$name" = vitrine ] || url=$NGINX/small.zip
  step "round $round: GET 1 MiB from $name: 3 s warm-up, then ${DUR} s with 64 connections"
  run_wrk "$WORK/wrk.$name.warmup.txt" 3 "$url"
  [ "$name" != vitrine ] || memory_start wrk
  run_wrk "$WORK/wrk.$name.$round.txt" "$DUR" "$url"
  [ "$name" != vitrine ] || memory_end wrk
  echo "$name $round" >>"$WORK/wrk-runs.txt"
}

step "upload 1 MiB, public"
read -r code _ _ _ < <(curl -sS --max-time 60 -o "$WORK/small.json" -w "$CURL_W" \
  "${AUTH[@]}" -T "$SMALL" "$BASE/api/v1/files/stream?name=small.zip&visibility=public" || true)
check_upload "PUT /api/v1/files/stream?visibility=public" "$WORK/small.json" "${code:-000}" \
  "$SMALL_SHA" "$SMALL_BYTES"
SMALL_UID=$(json_field "$WORK/small.json" uid)
SMALL_URL=$BASE/api/v1/files/$SMALL_UID
sha=$(curl -sS --fail --max-time 10 "$SMALL_URL" | sha256sum | cut -d' ' -f1)
[ "$sha" = "$SMALL_SHA" ] || die "GET $SMALL_URL without a token did not send the file"

BIG_UID=
: >"$WORK/wrk-runs.txt"
for round in $(seq 1 "$ROUNDS"); do
  if ((round % 2)); then order=(vitrine nginx) uploads=(stream nginx_put multipart)
  else order=(nginx vitrine) uploads=(multipart nginx_put stream); fi
  for name in "${uploads[@]}"; do upload "$name" "$round"; done
  if [ "$round" = 1 ]; then
    step "download $BIG_MIB MiB: checking the bytes vitrine sends"
    sha=$(curl -sS --fail --max-time "$TRANSFER_TIMEOUT" "${AUTH[@]}" "$BASE/api/v1/files/$BIG_UID" |
      sha256sum | cut -d' ' -f1)
    [ "$sha" = "$BIG_SHA" ] || die "GET /api/v1/files/$BIG_UID sent other bytes (sha256 $sha)"
  fi
  step "round $round: download $BIG_MIB MiB, $DOWNLOADS times from each, alternating"
  memory_start download
  for _ in $(seq 1 "$DOWNLOADS"); do
    for name in "${order[@]}"; do
      if [ "$name" = vitrine ]; then
        download vitrine_get "$BASE/api/v1/files/$BIG_UID" "${AUTH[@]}"
      else
        download nginx_get "$NGINX/big.zip"
      fi
    done
  done
  memory_end download
  for name in "${order[@]}"; do small_get "$name" "$round"; done
done

# ---------------------------------------------------------------------------------------
# S3 only: the same transfers straight to s3s-fs
# ---------------------------------------------------------------------------------------
if [ "$STORAGE_KIND" = s3 ]; then
  # (an emptied Expect header would break curl's signature: the PUT keeps 100-continue)
  SIGV4=(--aws-sigv4 "aws:amz:us-east-1:s3" --user "$S3_ACCESS:$S3_SECRET"
    -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD')
  DIRECT=$S3_URL/bench/direct/big.zip
  step "s3s-fs directly: PUT $BIG_MIB MiB, $DOWNLOADS GETs, GET 1 MiB under wrk (presigned link)"
  read -r code up _ secs < <(curl -sS --max-time "$TRANSFER_TIMEOUT" -o "$WORK/s3-put.txt" \
    -w "$CURL_W" "${SIGV4[@]}" -T "$BIG" "$DIRECT" || true)
  [ "${code:-000}" = 200 ] || die "s3s-fs PUT answered ${code:-000}: $(head -c 300 "$WORK/s3-put.txt")"
  record s3_put.bytes "$up"
  record s3_put.seconds "$secs"
  for _ in $(seq 1 "$DOWNLOADS"); do download s3_get "$DIRECT" "${SIGV4[@]}"; done
  code=$(curl -sS --max-time 60 -o /dev/null -w '%{http_code}' -X DELETE "${SIGV4[@]}" "$DIRECT")
  [ "$code" = 204 ] || die "s3s-fs DELETE answered $code"
  # vitrine's expiring link on S3 is a presigned URL of the bucket itself.
  code=$(curl -sS --max-time 10 -o "$WORK/link.json" -w '%{http_code}' "${AUTH[@]}" \
    -H 'Content-Type: application/json' -d '{"expires_in":900}' \
    "$BASE/api/v1/files/$SMALL_UID/link")
  [ "$code" = 200 ] || die "POST /api/v1/files/$SMALL_UID/link answered $code"
  PRESIGNED=$(json_field "$WORK/link.json" url)
  [[ $PRESIGNED == "$S3_URL/"* ]] || die "the link $PRESIGNED does not point at s3s-fs"
  sha=$(curl -sS --fail --max-time 10 "$PRESIGNED" | sha256sum | cut -d' ' -f1)
  [ "$sha" = "$SMALL_SHA" ] || die "the presigned link did not send the file"
  run_wrk "$WORK/wrk.s3.warmup.txt" 3 "$PRESIGNED"
  run_wrk "$WORK/wrk.s3.txt" "$DUR" "$PRESIGNED"
fi

record server.hwm_end_kb "$(status_kb "$SERVER_PID" VmHWM)"
record load.end "$(cut -d' ' -f1 /proc/loadavg)"
[ -z "$S3_PID" ] || record s3s.hwm_end_kb "$(status_kb "$S3_PID" VmHWM)"
kill -0 "$SERVER_PID" 2>/dev/null || die "the server is gone"

# ---------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------
echo
python3 - "$WORK" "$STORAGE_LABEL" "$BIG_MIB" "$DUR" "$DOWNLOADS" "$ROUNDS" \
  "$(wrk --version 2>&1 | sed -n 1p)" "$("$NGINX_BIN" -v 2>&1)" <<'PY'
import json, os, statistics, sys

work, storage, big_mib, dur, downloads, rounds, wrk_version, nginx_version = sys.argv[1:]
values = {}
with open(os.path.join(work, "results.txt")) as f:
    for line in f:
        key, value = line.split()
        values.setdefault(key, []).append(float(value))

def one(key):
    return values[key][0]

def wrk_summary(name):
    with open(os.path.join(work, name)) as f:
        for line in f:
            if line.startswith("JSON "):
                return json.loads(line[5:])
    raise SystemExit(f"no summary in {name}")

def mb_s(nbytes, seconds):
    return nbytes / seconds / 1e6

def mib(kb):
    return f"{kb / 1024:.1f} MiB"

def spread(runs, fmt):
    med = statistics.median(runs)
    if len(runs) == 1:
        return fmt(med)
    return f"{fmt(med)} [{fmt(min(runs))}–{fmt(max(runs))}]"

big = int(big_mib) * 1024 * 1024
big_label = "1 GiB" if int(big_mib) == 1024 else f"{big_mib} MiB"
on_s3 = "s3_get.seconds" in values

def throughputs(name):
    return [mb_s(b, s) for b, s in zip(values[f"{name}.bytes"], values[f"{name}.seconds"])]

wrk_runs = {"vitrine": [], "nginx": []}
with open(os.path.join(work, "wrk-runs.txt")) as f:
    for line in f:
        name, rnd = line.split()
        wrk_runs[name].append(wrk_summary(f"wrk.{name}.{rnd}.txt"))
if on_s3:
    wrk_runs["s3"] = [wrk_summary("wrk.s3.txt")]
put = {"vitrine": throughputs("stream"), "nginx": throughputs("nginx_put")}
multipart = throughputs("multipart")
gets = {"vitrine": [mb_s(big, s) for s in values["vitrine_get.seconds"]],
        "nginx": [mb_s(big, s) for s in values["nginx_get.seconds"]]}
if on_s3:
    put["s3"] = throughputs("s3_put")
    gets["s3"] = [mb_s(big, s) for s in values["s3_get.seconds"]]
rps = {name: [s["rps"] for s in runs] for name, runs in wrk_runs.items()}
med = statistics.median
mbs = lambda v: f"{v:.0f}"

rows = [
    (f"upload {big_label}, raw body (vitrine PUT /files/stream, nginx WebDAV PUT"
     + (", S3 PutObject" if on_s3 else "") + "), MB/s", put, mbs),
    (f"upload {big_label}, multipart (vitrine POST /files), MB/s", {"vitrine": multipart}, mbs),
    (f"download {big_label}, curl, MB/s", gets, mbs),
    (f"GET 1 MiB public file, wrk -t2 -c64, {dur} s, req/s", rps, mbs),
    ("GET 1 MiB: p99 latency, ms", {n: [s["lat_p99_ms"] for s in r] for n, r in wrk_runs.items()},
     lambda v: f"{v:.1f}"),
]
print(f"### vitrine files benchmark: {storage}")
print()
print(f"{rounds} round(s), vitrine and nginx taking turns (the order flips every round); "
      f"median [min–max] over the runs; ratios are of the medians.")
print()
if on_s3:
    print("| test | vitrine | nginx | vitrine/nginx | s3s-fs direct | vitrine/s3s-fs |")
    print("|---|---:|---:|---:|---:|---:|")
else:
    print("| test | vitrine | nginx | vitrine/nginx |")
    print("|---|---:|---:|---:|")
for label, runs, fmt in rows:
    ratio = lambda other: f"{med(runs['vitrine']) / med(runs[other]):.2f}×" if other in runs else "–"
    line = (f"| {label} | {spread(runs['vitrine'], fmt)} | "
            f"{spread(runs['nginx'], fmt) if 'nginx' in runs else '–'} | {ratio('nginx')} |")
    if on_s3:
        line += f" {spread(runs['s3'], fmt) if 's3' in runs else '–'} | {ratio('s3')} |"
    print(line)
print()
goals = [
    ("1 MiB GET ≥ 0.9× nginx", med(rps["vitrine"]) / med(rps["nginx"]), 0.9),
    (f"{big_label} raw upload ≥ 0.9× nginx's WebDAV PUT", med(put["vitrine"]) / med(put["nginx"]), 0.9),
    ("multipart upload ≥ 0.8× the raw upload", med(multipart) / med(put["vitrine"]), 0.8),
]
print("| goal of issue 9 (medians of this run) | measured | met |")
print("|---|---:|---|")
for goal, value, floor in goals:
    print(f"| {goal} | {value:.2f}× | {'yes' if value >= floor else '**no**'} |")
peaks = [max(values[f"{name}.rss_peak_kb"] + values[f"{name}.hwm_after_kb"])
         for name in ("stream", "multipart", "download", "wrk")]
print(f"| server memory < 64 MiB in every phase (peak VmRSS or VmHWM) | {mib(max(peaks))} | "
      f"{'yes' if max(peaks) < 64 * 1024 else '**no**'} |")
print()
print("Server memory, the highest over the rounds (VmRSS sampled every 50 ms; VmHWM is the "
      "kernel's peak, reset to the current RSS at the start of each phase when marked):")
for name, label in (("stream", f"upload {big_label}, raw body"),
                    ("multipart", f"upload {big_label}, multipart"),
                    ("download", f"download {big_label} x{downloads} per round"),
                    ("wrk", "GET 1 MiB under wrk")):
    reset = " (reset)" if min(values[f"{name}.hwm_reset"]) else ""
    print(f"- {label}: peak VmRSS {mib(max(values[f'{name}.rss_peak_kb']))} "
          f"({int(sum(values[f'{name}.rss_samples']))} samples, {mib(max(values[f'{name}.rss_before_kb']))} "
          f"before at most); VmHWM after{reset} {mib(max(values[f'{name}.hwm_after_kb']))}")
print(f"- server VmHWM at the end: {mib(one('server.hwm_end_kb'))}")
if "s3s.hwm_end_kb" in values:
    print(f"- s3s-fs VmHWM at the end: {mib(one('s3s.hwm_end_kb'))}")
print()
print("- each upload: " + "; ".join(f"{name} " + ", ".join(f"{v:.0f}" for v in runs)
                                   for name, runs in (("raw", put["vitrine"]), ("nginx PUT", put["nginx"]),
                                                      ("multipart", multipart))) + " MB/s")
print(f"- each {big_label} download: "
      + "; ".join(f"{name} " + ", ".join(f"{v:.0f}" for v in runs) for name, runs in gets.items())
      + " MB/s")
bad = 0
for name, runs in wrk_runs.items():
    for s in runs:
        bad += s["non2xx"] + s["err_connect"] + s["err_read"] + s["err_write"] + s["err_timeout"]
    print(f"- wrk {name}: " + ", ".join(f"{s['requests']} requests" for s in runs)
          + f"; non-2xx or socket errors: {sum(s['non2xx'] + s['err_connect'] + s['err_read'] + s['err_write'] + s['err_timeout'] for s in runs)}")
print("- MB/s = 10^6 bytes/s over curl's time_total (uploads include the server's answer); "
      "the sha256 of every upload was checked against sha256sum")
print(f"- {wrk_version.split(' [')[0]}; {nginx_version.replace('nginx version: ', '')}, "
      f"sendfile on, access_log off, worker_processes auto; {os.cpu_count()} CPUs shared by "
      f"server, nginx{', s3s-fs' if on_s3 else ''} and the clients; "
      f"1-min load average {one('load.start'):.2f} at the start, {one('load.end'):.2f} at the end")
if bad:
    print(f"\nFAILED: {bad} wrk requests failed", file=sys.stderr)
    sys.exit(1)
PY
