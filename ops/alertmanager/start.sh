#!/bin/sh
# Starts Alertmanager with the receivers' base URL taken from the environment.
# alertmanager.yml names the placeholder http://ops-webhook.invalid; this writes a copy with
# $OPS_WEBHOOK_BASE_URL in its place and runs Alertmanager on the copy (Alertmanager does not
# expand variables in its config). POSIX sh: the image has busybox, no bash.
# Extra arguments go to Alertmanager. AM_TEMPLATE, AM_RENDERED and AM_BINARY exist for the
# tests; the container uses the defaults.
set -eu
base="${OPS_WEBHOOK_BASE_URL:-}"
case "$base" in
  http://* | https://*) ;;
  *) echo "start.sh: error: OPS_WEBHOOK_BASE_URL must be an http(s) URL, got '$base'" >&2; exit 2 ;;
esac
case "$base" in
  *'|'* | *'&'* | *'\'* | *' '*)
    echo "start.sh: error: OPS_WEBHOOK_BASE_URL must not contain '|', '&', '\\' or spaces" >&2; exit 2 ;;
esac
base="${base%/}"
template="${AM_TEMPLATE:-/etc/alertmanager/alertmanager.yml}"
rendered="${AM_RENDERED:-/alertmanager/alertmanager.yml}"
sed "s|http://ops-webhook.invalid|$base|g" "$template" > "$rendered"
exec "${AM_BINARY:-/bin/alertmanager}" --config.file="$rendered" --storage.path=/alertmanager "$@"
