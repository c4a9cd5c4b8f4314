#!/bin/sh
# Managed by voip.algo.provisioning_server.
# Usage: vsftpd-check CONFIG_FILE
# vsftpd has no test mode. Started with listen=NO on a non-socket it parses the whole config file, then stops with
# "must be started from inetd"; any other "500 OOPS" (unknown option, bad value) is a config error. vsftpd writes its
# messages to file descriptor 0, so that is pointed at a temporary file.
set -eu
conf=$1
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# The -o options come after the file so that they override its listen=YES; timeout guards against a listening vsftpd.
timeout 10 /usr/sbin/vsftpd "$conf" -olisten=NO -olisten_ipv6=NO 0<>"$out" >/dev/null 2>&1 || true
if ! grep -q 'must be started from inetd' "$out"; then
    echo "vsftpd refused $conf:" >&2
    cat "$out" >&2
    exit 1
fi
exit 0
