#!/usr/bin/env bash
# The main job on the embedded default: a synthetic distributor in SQLite, nightly scoring,
# the assistant running (Rasa, action server, bot; no Slack credentials needed), a manager
# digest rendered to files, then a chat as a demo rep. Without a terminal it runs a short
# scripted conversation and exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export SALESBOT_HOME=${SALESBOT_HOME:-var}
DEMO_ACCOUNTS=${DEMO_ACCOUNTS:-2000}
OUT=$SALESBOT_HOME/demo

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

say "generating a synthetic distributor ($DEMO_ACCOUNTS accounts) into $SALESBOT_HOME/salesbot.db"
$BIN/salesbot demo-data --accounts "$DEMO_ACCOUNTS" --out "$OUT" --replace

say "scoring every account (slipping and pitch) and writing the insight tables"
$BIN/salesbot score --out "$OUT"

say "training the language model if the data changed"
$BIN/salesbot train

REP=$($BIN/python -c "from store.demo import DEMO_REP_EMAIL; print(DEMO_REP_EMAIL)")
MANAGER=$($BIN/python -c "from store.demo import DEMO_MANAGER_EMAIL; print(DEMO_MANAGER_EMAIL)")

say "rendering the manager digest for $MANAGER into $OUT/digest"
$BIN/salesbot digest --manager "$MANAGER" --out "$OUT/digest"

say "starting the assistant (logs in $SALESBOT_HOME/logs)"
$BIN/salesbot serve > "$SALESBOT_HOME/serve.log" 2>&1 &
SERVE_PID=$!
trap 'kill -INT $SERVE_PID 2>/dev/null; wait $SERVE_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
  if $BIN/salesbot status > /dev/null 2>&1; then break; fi
  if ! kill -0 $SERVE_PID 2>/dev/null; then cat "$SALESBOT_HOME/serve.log"; exit 1; fi
  sleep 1
done
$BIN/salesbot status

if [ -t 0 ] && [ -t 1 ]; then
  say "chatting as $REP (try: which of my accounts are slipping? / what should I pitch to <account>? / quit)"
  $BIN/salesbot chat --as "$REP"
else
  say "no terminal: a short scripted conversation as $REP"
  for q in "hi" "which of my accounts are slipping?" "why?" "how does my pipeline look this quarter?" \
           "what's my win rate?" "which leads should I call first?" "who's due to reorder this week?"; do
    printf '\n\033[36myou> %s\033[0m\n' "$q"
    $BIN/salesbot ask --as "$REP" "$q"
  done
fi
