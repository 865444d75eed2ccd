#!/usr/bin/env bash
# The web app's end-to-end tests: Chromium (Debian's package) driven by Playwright from
# PyPI against a real `vitrine serve` with the sample catalog. Screenshots at 375 px and
# 1280 px, axe reports and the first visit's measures land in target/e2e-artifacts/.
# Installs what it needs: chromium (apt), a venv with tests/e2e/requirements.txt.
#   E2E_VENV=…  where the venv lives (default target/e2e-venv)
#   extra arguments go to pytest (e.g. -k catalog)
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v chromium >/dev/null; then
  [ "$(id -u)" -eq 0 ] || { echo "chromium is missing and not root: apt-get install chromium" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi
export CHROMIUM
CHROMIUM=$(command -v chromium)

VENV=${E2E_VENV:-target/e2e-venv}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
# the wheel carries Playwright's driver; the browser is Debian's, so no `playwright install`
"$VENV/bin/pip" install -q --disable-pip-version-check -r tests/e2e/requirements.txt

cargo build --bin vitrine
export VITRINE_BIN=$PWD/target/debug/vitrine
rm -rf target/e2e-artifacts
"$VENV/bin/python" -m pytest -p no:cacheprovider -q tests/e2e "$@"
[ -f target/e2e-artifacts/measures.json ] && echo "first visit: $(tr -d "\n " <target/e2e-artifacts/measures.json)"
