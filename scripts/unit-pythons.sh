#!/usr/bin/env bash
# The target-side tests (tests/unit/target: standard-library module_utils, no ansible) under every
# python3.X from 3.8 up that this machine has, besides the venv's: on PATH, and pyenv's versions
# (~/.pyenv or PYENV_ROOT) when present. A node's older Python is then tested, not assumed.
# Each interpreter gets a small venv of its own under .build/ with a pytest that supports it.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BEAMOPS_BUILD_DIR:-$PWD/.build}
venv_python=$(.venv/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')

declare -A found=()
for minor in 8 9 10 11 12 13 14; do
  v=3.$minor
  [ "$v" = "$venv_python" ] && continue # the venv's own runs them in `make unit` already
  for candidate in "$(command -v "python$v" 2>/dev/null || true)" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$v".*/bin/"python$v"; do
    # pyenv's shims on PATH answer for a version that is not installed: ask the interpreter itself.
    if [ -x "$candidate" ] && "$candidate" -c 'import venv, sys; sys.exit(sys.version_info < (3, 8))' 2>/dev/null; then
      found[$v]=$candidate
      break
    fi
  done
done

if [ ${#found[@]} -eq 0 ]; then
  echo "target tests: no python3.X besides the venv's $venv_python on this machine (PATH, pyenv)"
  exit 0
fi

pytest_for() {
  case $1 in
    3.8) echo "pytest==8.3.5" ;;
    3.9) echo "pytest==8.4.2" ;;
    *) sed -n 's/^\(pytest==.*\)$/\1/p' requirements-dev.txt ;;
  esac
}

failed=()
for v in $(printf '%s\n' "${!found[@]}" | sort -V); do
  venv=$build/venv-target-$v
  want=$(pytest_for "$v")
  if [ "$(cat "$venv/.installed" 2>/dev/null || true)" != "$want" ]; then
    rm -rf "$venv"
    "${found[$v]}" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "$want"
    echo "$want" >"$venv/.installed"
  fi
  echo "== target tests under python$v (${found[$v]})"
  "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/unit/target || failed+=("$v")
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "target tests failed under python ${failed[*]}" >&2
  exit 1
fi
