#!/bin/sh
# The Kamailio image's recipe, run as root inside a Debian sid root file system: by
# docker/kamailio/Dockerfile for the image, and by scripts/kamailio.sh inside the test chroot
# (the Asterisk one), so the tests run the SIP proxy exactly as the image installs it.
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends kamailio
apt-get clean
rm -rf /var/lib/apt/lists/*
# Our rendered kamailio.cfg replaces the package's sample (kept for reference).
if [ ! -d /etc/kamailio.dist ]; then mv /etc/kamailio /etc/kamailio.dist; fi
mkdir -p /etc/kamailio /run/kamailio
kamailio -v | head -1
