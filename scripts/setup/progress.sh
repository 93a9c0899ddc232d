# Sourced by the setup scripts: a line on stderr every 30 s while a long first-time build runs, so a newcomer
# never stares at a silent terminal. Usage: progress_start "building X" MINUTES; ...; progress_stop
progress_start() {
  local what="$1" estimate="$2" start=$SECONDS
  ( while sleep 30; do
      echo "setup: still $what: $(( (SECONDS - start) / 60 ))m$(( (SECONDS - start) % 60 ))s of about ${estimate}m" >&2
    done ) &
  PROGRESS_PID=$!
  trap 'progress_stop' EXIT
}

progress_stop() {
  [ -n "${PROGRESS_PID:-}" ] && kill "$PROGRESS_PID" 2>/dev/null || true
  PROGRESS_PID=
}
