#!/usr/bin/env bash
# Real Asterisk 22 for the tests, from Debian sid's packages in a chroot on a Debian 12 host.
#
#   scripts/asterisk.sh install        debootstrap + apt-get install asterisk (cached: a second
#                                      run only checks and takes well under a second)
#   scripts/asterisk.sh start CONFDIR  copy CONFDIR/*.conf (and sounds/) into the chroot, start,
#                                      wait for FullyBooted
#   scripts/asterisk.sh stop           stop by CLI, then by PID
#   scripts/asterisk.sh cli 'CMD'      one CLI command
#   scripts/asterisk.sh root           print the chroot path
#
# HOTLINE_ASTERISK_ROOT (default /var/tmp/hotline-asterisk/sid) is the chroot;
# HOTLINE_ASTERISK_MIRROR overrides the Debian mirror (default: the host's apt source).
# Needs root. Host packages touched: debootstrap only. Listens on 127.0.0.1 only.
set -euo pipefail

ROOT=${HOTLINE_ASTERISK_ROOT:-/var/tmp/hotline-asterisk/sid}
WORK=$(dirname "$ROOT")
RUN=$WORK/run
PIDFILE=$RUN/asterisk.pid

log() { printf '[asterisk %(%T)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (debootstrap and chroot)"

mirror() {
    if [ -n "${HOTLINE_ASTERISK_MIRROR:-}" ]; then echo "$HOTLINE_ASTERISK_MIRROR"; return; fi
    local m=""
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        m=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
    fi
    if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
        m=$(awk '$1=="deb" && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list)
    fi
    echo "${m:-http://deb.debian.org/debian}"
}

in_root() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }

with_proc() {  # /proc only while apt and dpkg run; Asterisk itself does not need it
    local mounted=0 rc=0
    if ! mountpoint -q "$ROOT/proc"; then mount -t proc proc "$ROOT/proc"; mounted=1; fi
    "$@" || rc=$?
    if [ $mounted = 1 ]; then umount "$ROOT/proc" || umount -l "$ROOT/proc"; fi
    return $rc
}

RECIPE="$(cd "$(dirname "$0")/.." && pwd)/docker/asterisk/install.sh"  # the image's recipe

recipe_hash() { sha256sum "$RECIPE" | cut -d' ' -f1; }

installed() {  # by the current recipe: a changed recipe installs again
    [ -x "$ROOT/usr/sbin/asterisk" ] && [ -f "$ROOT/.hotline-asterisk-ok" ] \
        && [ "$(cat "$ROOT/.hotline-asterisk-ok")" = "$(recipe_hash)" ]
}

install() {
    if installed; then return 0; fi
    mkdir -p "$WORK" "$RUN"
    local t0=$SECONDS m
    m=$(mirror)
    if ! command -v debootstrap >/dev/null; then
        log "installing debootstrap on the host"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
    fi
    if [ ! -f "$ROOT/.debootstrap-ok" ]; then
        if [ -d "$ROOT/proc" ] && mountpoint -q "$ROOT/proc"; then umount "$ROOT/proc"; fi
        rm -rf "$ROOT"
        log "debootstrap --variant=minbase sid $ROOT ($m)"
        debootstrap --variant=minbase sid "$ROOT" "$m" > "$WORK/debootstrap.log" 2>&1 \
            || { tail -20 "$WORK/debootstrap.log" >&2; die "debootstrap failed ($WORK/debootstrap.log)"; }
        touch "$ROOT/.debootstrap-ok"
    fi
    # The mirror may serve a frozen sid whose Release is past Valid-Until: accept it.
    echo "deb $m sid main" > "$ROOT/etc/apt/sources.list"
    echo 'Acquire::Check-Valid-Until "false";' > "$ROOT/etc/apt/apt.conf.d/99no-valid-until"
    printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
        > "$ROOT/etc/apt/apt.conf.d/99no-recommends"
    printf '#!/bin/sh\nexit 101\n' > "$ROOT/usr/sbin/policy-rc.d"
    chmod 755 "$ROOT/usr/sbin/policy-rc.d"
    cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
    log "docker/asterisk/install.sh (the image's recipe) in the chroot"
    cp "$RECIPE" "$ROOT/tmp/hotline-asterisk-install.sh"
    with_proc in_root sh /tmp/hotline-asterisk-install.sh > "$WORK/apt-asterisk.log" 2>&1 \
        || { tail -20 "$WORK/apt-asterisk.log" >&2; die "the Asterisk recipe failed"; }
    rm -f "$ROOT/tmp/hotline-asterisk-install.sh"
    recipe_hash > "$ROOT/.hotline-asterisk-ok"
    log "installed $(in_root asterisk -V) in $((SECONDS - t0)) s"
}

running_pid() {
    [ -f "$PIDFILE" ] || return 1
    local p
    p=$(cat "$PIDFILE")
    [ -n "$p" ] && kill -0 "$p" 2>/dev/null && grep -q asterisk "/proc/$p/cmdline" 2>/dev/null && echo "$p"
}

start() {
    local conf=${1:?usage: start CONFDIR}
    installed || install
    if running_pid >/dev/null; then stop; fi
    mkdir -p "$RUN" "$ROOT/run/asterisk" "$ROOT/var/log/asterisk" "$ROOT/var/lib/asterisk" \
        "$ROOT/var/spool/asterisk/monitor" "$ROOT/var/spool/asterisk/tmp"
    rm -f "$ROOT/etc/asterisk/"*.conf "$ROOT/run/asterisk/asterisk.ctl"
    cp "$conf"/*.conf "$ROOT/etc/asterisk/"
    if [ -d "$conf/sounds" ]; then  # prompts: sounds/hotline/<lang>/<key>.wav
        rm -rf "$ROOT/usr/share/asterisk/sounds/hotline"
        mkdir -p "$ROOT/usr/share/asterisk/sounds/hotline"
        cp -r "$conf/sounds/." "$ROOT/usr/share/asterisk/sounds/hotline/"
    fi
    rm -f "$ROOT/var/spool/asterisk/monitor/"*.wav  # recordings of an earlier run
    : > "$ROOT/var/log/asterisk/messages.log"
    : > "$ROOT/var/log/asterisk/queue_log"
    setsid chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/bin HOME=/root LANG=C.UTF-8 \
        /usr/sbin/asterisk -f < /dev/null > "$RUN/asterisk.stdout" 2>&1 &
    echo $! > "$PIDFILE"
    local i
    for i in $(seq 1 300); do
        [ -S "$ROOT/run/asterisk/asterisk.ctl" ] && break
        kill -0 "$(cat "$PIDFILE")" 2>/dev/null || { tail -20 "$RUN/asterisk.stdout" >&2; die "asterisk exited"; }
        sleep 0.05
    done
    timeout 30 chroot "$ROOT" asterisk -rx 'core waitfullybooted' >/dev/null \
        || die "asterisk did not boot (see $ROOT/var/log/asterisk/messages.log)"
    log "asterisk pid $(cat "$PIDFILE") fully booted"
}

stop() {
    local p i
    if ! p=$(running_pid); then rm -f "$PIDFILE"; return 0; fi
    timeout 10 chroot "$ROOT" asterisk -rx 'core stop now' >/dev/null 2>&1 || true
    for i in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
    if kill -0 "$p" 2>/dev/null; then kill -TERM "$p"; sleep 2; fi
    if kill -0 "$p" 2>/dev/null; then kill -KILL "$p"; fi
    rm -f "$PIDFILE"
}

cmd=${1:-}
shift || true
case "$cmd" in
    install) install ;;
    start) start "$@" ;;
    stop) stop ;;
    cli) chroot "$ROOT" asterisk -rx "$*" ;;
    root) echo "$ROOT" ;;
    *) die "usage: $0 install|start CONFDIR|stop|cli CMD|root" ;;
esac
