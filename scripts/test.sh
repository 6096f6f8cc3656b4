#!/usr/bin/env bash
# Run every test of ohnb on a fresh machine: installs what the tests need, then runs them.
# (npm install, not npm ci: the registry here lacks rollup's optional per-platform packages, so the
# lock file cannot list them all and npm ci refuses it; install honours the lock for the rest.)
#   - the widget front end (npm install, type-check, vitest, build into ohnb/static/);
#   - ohnb itself with its test extras (pip, editable);
#   - Debian's chromium for the real-browser tests (Playwright's own browser download cannot work here);
#   - pytest over tests/ (extra arguments are passed to pytest).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== front end: install, type-check, unit tests, build"
(cd js && npm install --no-audit --no-fund --loglevel=error && npm run typecheck && npm test && npm run build)

echo "== python: install ohnb with test extras"
python -m pip install --quiet --disable-pip-version-check -e ".[test]"

if [ ! -x /usr/bin/chromium ]; then
  echo "== browser: installing Debian's chromium"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium >/dev/null
fi

echo "== lint"
python -m ruff check ohnb tests

echo "== pytest"
python -m pytest "$@"
