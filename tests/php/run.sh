#!/bin/sh
# PHP side of ModulePbxFederation: installs what the tests need (idempotent), lints every PHP file,
# runs PHPUnit and the zip build/install test. Exits non-zero on any failure.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

need_apt=""
command -v php >/dev/null 2>&1 || need_apt="yes"
command -v phpunit >/dev/null 2>&1 || need_apt="yes"
if [ -n "$need_apt" ]; then
    # Waits (bounded) for another apt run to finish instead of failing on the lock.
    apt-get install -y -o DPkg::Lock::Timeout=600 php-cli php-sqlite3 php-mbstring php-xml phpunit
fi

echo "== php -l"
failed=0
for f in $(cd "$REPO" && git ls-files '*.php' && git ls-files --others --exclude-standard '*.php'); do
    case "$f" in python_worker/*|tests/unit/*|tests/e2e/*) continue ;; esac
    if ! out=$(php -l "$REPO/$f" 2>&1); then
        echo "$out"
        failed=1
    fi
done
[ "$failed" -eq 0 ] || { echo "php -l failed"; exit 1; }
echo "all PHP files parse"

echo "== sh -n bin/safe.sh bin/pbxfed"
sh -n "$REPO/bin/safe.sh" && sh -n "$REPO/bin/pbxfed"

echo "== phpunit"
phpunit -c "$HERE/phpunit.xml"

echo "== zip build, layout, and the doctor from the unpacked zip"
PY="$REPO/.venv/bin/python"
[ -x "$PY" ] || PY=python3
if ! "$PY" -c "import pytest" 2>/dev/null; then
    echo "pytest is missing for $PY"; exit 1
fi
if [ -z "${PBXFED_OFFLINE:-}" ]; then
    # build/dist/<zip>: fills build/wheels-cache (PyPI) and build/stdlib-cache (apt-get download) when they lack
    # an input of python/runtime.lock; offline afterwards (each input checked by its sha256). tests/box installs it.
    "$PY" "$REPO/scripts/build_zip.py" --out "$REPO/build/dist"
fi
cd "$REPO"
"$PY" -m pytest -q -p no:cacheprovider tests/php/test_build_zip.py
