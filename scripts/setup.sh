#!/usr/bin/env bash
# Creates (or refreshes) everything salesbot needs on this machine. Idempotent: a second
# run with nothing changed takes a few seconds.
#   .venv        main environment (Python >= 3.11): salesbot, analytics, action server, bot
#   .venv-rasa   Rasa Open Source 3.6.21 (Python 3.10), kept in a cache folder outside the
#                clone (keyed by the Rasa version) and linked here, so fresh clones reuse it
#   var/         the SQLite store (migrated) and trained Rasa models
set -euo pipefail
cd "$(dirname "$0")/.."

RASA_VERSION=3.6.21
CACHE_DIR=${SALESBOT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/salesbot}
RASA_VENV=${SALESBOT_RASA_VENV:-$CACHE_DIR/rasa-$RASA_VERSION}

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'setup: %s\n' "$*" >&2; exit 1; }

find_python() {  # find_python MAJOR.MINOR [--at-least]
  local want=$1 cand ver
  for cand in "python$want" python3 python; do
    if command -v "$cand" >/dev/null 2>&1; then
      ver=$("$cand" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) || continue
      if [ "$ver" = "$want" ] || { [ "${2:-}" = --at-least ] && "$cand" -c "import sys; sys.exit(sys.version_info[:2] < tuple(map(int, '$want'.split('.'))))" 2>/dev/null; }; then
        command -v "$cand"; return 0
      fi
    fi
  done
  if command -v pyenv >/dev/null 2>&1; then
    for cand in "$(pyenv root)"/versions/"$want".*/bin/python; do
      [ -x "$cand" ] && { echo "$cand"; return 0; }
    done
  fi
  return 1
}

mkdir -p "$CACHE_DIR" var
exec 9>"$CACHE_DIR/setup.lock"
flock 9  # two setups at once (a CI clone and a working copy) take turns

# --- main environment -------------------------------------------------------------
PY_MAIN=$(find_python 3.11 --at-least) || die "Python 3.11 or newer is needed for .venv: install it (e.g. 'pyenv install 3.11' or 'apt-get install python3.11 python3.11-venv')."
if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $PY_MAIN"
  "$PY_MAIN" -m venv .venv
fi
stamp=$(cat pyproject.toml | sha256sum | cut -c1-16)
if [ "$(cat .venv/.salesbot-installed 2>/dev/null)" != "$stamp" ]; then
  say "installing salesbot and its dependencies into .venv"
  .venv/bin/pip install --quiet --disable-pip-version-check -e '.[dev]' 2>&1 | grep -v "is ignored: it is neither a file nor a directory" || true
  .venv/bin/python -c "import store, analytics, actions, bot, rasa_sdk, spacy, slack_bolt" || die "the main environment did not install cleanly"
  echo "$stamp" > .venv/.salesbot-installed
fi

# --- Rasa environment --------------------------------------------------------------
if [ ! -f "$RASA_VENV/.complete" ]; then
  PY_RASA=$(find_python 3.10) || die "Rasa $RASA_VERSION needs Python 3.10, which was not found on PATH or under pyenv: install it (e.g. 'pyenv install 3.10.13' or 'apt-get install python3.10 python3.10-venv'), or point SALESBOT_RASA_VENV at an existing Rasa $RASA_VERSION environment."
  say "creating the Rasa $RASA_VERSION environment in $RASA_VENV (about 2.7 GB, a few minutes the first time)"
  rm -rf "$RASA_VENV"
  "$PY_RASA" -m venv "$RASA_VENV"
  "$RASA_VENV/bin/pip" install --quiet --disable-pip-version-check "rasa==$RASA_VERSION" 2>&1 | grep -v "is ignored: it is neither a file nor a directory" || true
  "$RASA_VENV/bin/python" -c "import rasa, psycopg2, redis" || die "rasa==$RASA_VERSION did not install into $RASA_VENV"
  touch "$RASA_VENV/.complete"
fi
if [ "$(readlink .venv-rasa 2>/dev/null)" != "$RASA_VENV" ]; then
  rm -rf .venv-rasa
  ln -s "$RASA_VENV" .venv-rasa
fi

# --- store and model ---------------------------------------------------------------
.venv/bin/salesbot migrate
# `make demo` trains later, once its data (account and rep names) is in the store
if [ "${SALESBOT_SETUP_TRAIN:-1}" != 0 ]; then
  .venv/bin/salesbot train
fi
say "setup complete"
