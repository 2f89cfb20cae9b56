#!/bin/sh
# The Asterisk image's recipe, run as root inside a Debian sid root file system: by
# docker/asterisk/Dockerfile for the image, and by scripts/asterisk.sh inside the test
# chroot, so the tests run Asterisk exactly as the image installs it.
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends asterisk
apt-get clean
rm -rf /var/lib/apt/lists/*
# Our rendered configuration replaces the package's samples (kept for reference).
if [ ! -d /etc/asterisk.dist ]; then mv /etc/asterisk /etc/asterisk.dist; fi
mkdir -p /etc/asterisk /run/asterisk /var/log/asterisk /var/lib/asterisk \
    /var/spool/asterisk/monitor /var/spool/asterisk/tmp /usr/share/asterisk/sounds/hotline
if id asterisk >/dev/null 2>&1; then  # the image runs it as this user; the tests as root
    chown -R asterisk:asterisk /etc/asterisk /run/asterisk /var/log/asterisk /var/lib/asterisk \
        /var/spool/asterisk /usr/share/asterisk/sounds/hotline
fi
asterisk -V
