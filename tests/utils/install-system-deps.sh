#!/bin/sh
# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Installs the Debian packages the tests start for real (daemons and clients).  Idempotent; needs root.
set -eu

PACKAGES="tftpd-hpa tftp-hpa nginx vsftpd isc-dhcp-server isc-dhcp-client kea-dhcp4-server fail2ban rsyslog \
sip-tester sipsak tshark curl busybox udhcpc iptables nftables iproute2 procps psmisc openssl shellcheck lftp openssh-server"

missing=""
for pkg in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
if [ -z "$missing" ]; then
    echo "system packages: all present"
    exit 0
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# Installing must not start daemons on their default ports: the tests start their own instances.
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
