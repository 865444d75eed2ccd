#!/usr/bin/env bash
# Checks a running vitrine from outside: /healthz and /readyz, a sign-up, an upload and
# its download (same bytes). Leaves one member and one private file behind.
#   bash deploy/smoke.sh http://127.0.0.1:8080 [http://127.0.0.1:8081]
# With a second URL the file uploaded through the first is fetched through the second
# (two replicas on one database and one store). Needs curl and python3.
set -euo pipefail

FIRST=${1:?usage: smoke.sh BASE_URL [SECOND_BASE_URL]}
SECOND=${2:-$FIRST}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

fail() { printf 'SMOKE FAILED: %s\n' "$*" >&2; exit 1; }
json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

for base in "$FIRST" "$SECOND"; do
  for path in /healthz /readyz; do
    status=$(curl -sS -o /dev/null -w '%{http_code}' "$base$path")
    [ "$status" = 200 ] || fail "GET $base$path answered $status"
  done
done
echo "ok: /healthz and /readyz"

name="smoke$(date +%s)$RANDOM"
status=$(curl -sS -o "$WORK/register.json" -w '%{http_code}' -H 'content-type: application/json' \
  -d "{\"username\":\"$name\",\"email\":\"$name@example.com\",\"password\":\"smoke test password 1\"}" \
  "$FIRST/api/v1/auth/register")
[ "$status" = 201 ] || fail "sign-up answered $status: $(cat "$WORK/register.json")"
token=$(json_field access_token <"$WORK/register.json")
echo "ok: signed up $name"

printf 'vitrine smoke test %s\n' "$name" >"$WORK/upload.txt"
status=$(curl -sS -o "$WORK/file.json" -w '%{http_code}' -H "authorization: Bearer $token" \
  -F "file=@$WORK/upload.txt;filename=smoke.txt" "$FIRST/api/v1/files")
[ "$status" = 201 ] || fail "upload answered $status: $(cat "$WORK/file.json")"
uid=$(json_field uid <"$WORK/file.json")
echo "ok: uploaded file $uid (storage: $(json_field storage <"$WORK/file.json"))"

status=$(curl -sS -o "$WORK/download.txt" -w '%{http_code}' -L -H "authorization: Bearer $token" \
  "$SECOND/api/v1/files/$uid")
[ "$status" = 200 ] || fail "download through $SECOND answered $status"
cmp -s "$WORK/upload.txt" "$WORK/download.txt" || fail "the downloaded bytes differ"
echo "ok: downloaded the same bytes through $SECOND"
