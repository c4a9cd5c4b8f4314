#!/bin/sh
# Managed by voip.algo.provisioning_server.
# Usage: nginx-check SITE_FILE
# Tests an nginx http-level site file (server blocks, log_format) inside a minimal main config with `nginx -t`, so a
# broken candidate is refused before it replaces the file that the running nginx uses. nginx's messages go to stderr.
set -eu
site=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/nginx.conf" <<CONF
pid $tmp/nginx.pid;
error_log stderr;
events { worker_connections 16; }
http {
    include /etc/nginx/mime.types;
    include $site;
}
CONF
/usr/sbin/nginx -t -q -p "$tmp" -c "$tmp/nginx.conf"
