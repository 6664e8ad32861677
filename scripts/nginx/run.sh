#!/usr/bin/env bash
# nginx balancing websocket connections over several `speechstream serve` processes, as the current user.
#   bash scripts/nginx/run.sh LISTEN UPSTREAM [UPSTREAM...]          run nginx in the foreground
#   bash scripts/nginx/run.sh --check LISTEN UPSTREAM [UPSTREAM...]  test the config (nginx -t) and print it
# LISTEN and each UPSTREAM: PORT (on 127.0.0.1) or HOST:PORT. The config, pid file, logs and temp files go to
# $NGINX_DIR (default: a new folder under $TMPDIR), so no root and nothing under /etc, /var or /run.
# Example: speechstream serve --port 6006 & speechstream serve --port 6007 &
#          bash scripts/nginx/run.sh 8080 6006 6007      # clients connect to ws://127.0.0.1:8080
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
check=0
[[ "${1:-}" == "--check" ]] && { check=1; shift; }
if (( $# < 2 )); then
  sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
nginx=$(command -v nginx || true)
[[ -z "$nginx" && -x /usr/sbin/nginx ]] && nginx=/usr/sbin/nginx   # Debian's, outside a user's PATH
[[ -n "$nginx" ]] || { echo "run.sh: nginx is not installed (apt-get install nginx-light)" >&2; exit 1; }

address() { [[ "$1" == *:* ]] && echo "$1" || echo "127.0.0.1:$1"; }
listen=$(address "$1"); shift
servers=""
for upstream in "$@"; do
  servers+="        server $(address "$upstream") max_fails=1 fail_timeout=10s;"$'\n'
done
dir=${NGINX_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/speechstream-nginx.XXXXXX")}
(( check )) && [[ -z "${NGINX_DIR:-}" ]] && trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
# As root, nginx's worker processes would switch to `nobody` and lose the temp folder: keep them as root.
user=""; [[ $(id -u) -eq 0 ]] && user="user root;"
while IFS= read -r line; do
  line=${line//@USER@/$user}; line=${line//@DIR@/$dir}; line=${line//@LISTEN@/$listen}
  [[ "$line" == "@SERVERS@" ]] && { printf '%s' "$servers"; continue; }
  printf '%s\n' "$line"
done < "$here/speechstream.conf.template" > "$dir/nginx.conf"

if (( check )); then
  "$nginx" -t -q -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf"
  cat "$dir/nginx.conf"
  exit 0
fi
echo "run.sh: nginx on $listen for $*; config, pid and logs in $dir" >&2
exec "$nginx" -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf"
