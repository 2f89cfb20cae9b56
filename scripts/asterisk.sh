#!/usr/bin/env bash
# Real Asterisk 22 for the tests, from Debian sid's packages in a chroot on a Debian 12 host.
#
#   scripts/asterisk.sh install        debootstrap + apt-get install asterisk (cached: a second
#                                      run only checks and takes well under a second)
#   scripts/asterisk.sh start CONFDIR  copy CONFDIR/*.conf (and sounds/) into the instance,
#                                      start it, wait for FullyBooted
#   scripts/asterisk.sh stop           stop the instance by CLI, then by PID
#   scripts/asterisk.sh cli 'CMD'      one CLI command to the instance
#   scripts/asterisk.sh root           print the chroot path
#   scripts/asterisk.sh instance       print the instance's folder (etc, log, spool, data)
#
# One chroot, any number of Asterisk instances: each has its own folder in the chroot
# (/srv/hotline/NAME: configuration, control socket, logs, spool, database, prompts) and its
# own process, named by HOTLINE_ASTERISK_INSTANCE (default "main"). Test sessions running
# side by side on one machine (two worktrees, CI beside a developer) each start their own;
# with a single shared instance, one session's start stopped the other's Asterisk in the
# middle of a call, and truncated its queue_log. The ports are the configuration's.
#
# HOTLINE_ASTERISK_ROOT (default /var/tmp/hotline-asterisk/sid) is the chroot;
# HOTLINE_ASTERISK_MIRROR overrides the Debian mirror (default: the host's apt source).
# Needs root. Host packages touched: debootstrap only. Listens on 127.0.0.1 only.
set -euo pipefail

ROOT=${HOTLINE_ASTERISK_ROOT:-/var/tmp/hotline-asterisk/sid}
WORK=$(dirname "$ROOT")
RUN=$WORK/run
NAME=${HOTLINE_ASTERISK_INSTANCE:-main}
[[ "$NAME" =~ ^[A-Za-z0-9_.-]+$ ]] || { echo "bad instance name: $NAME" >&2; exit 1; }
PIDFILE=$RUN/asterisk-$NAME.pid
HERE=/srv/hotline/$NAME        # the instance's folder, as Asterisk sees it in the chroot
INSTANCE=$ROOT$HERE            # ... and as the host sees it

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
    # Two installs at once (a test run and a CI clone on one machine) would unpack into
    # the same chroot and break each other: the second waits for the first, then finds
    # it installed.
    exec 9>"$WORK/install.lock"
    if ! flock -n 9; then
        log "another install of the chroot is running: waiting for it"
        flock 9
    fi
    if installed; then exec 9>&-; return 0; fi
    local t0=$SECONDS m
    m=$(mirror)
    if ! command -v debootstrap >/dev/null; then
        log "installing debootstrap on the host"
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 update -qq
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq debootstrap >/dev/null
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
    exec 9>&-
}

running_pid() {  # the PID in PIDFILE (default: this instance's) if it is a live Asterisk
    local file=${1:-$PIDFILE} p
    [ -f "$file" ] || return 1
    p=$(cat "$file")
    [ -n "$p" ] && kill -0 "$p" 2>/dev/null && grep -q asterisk "/proc/$p/cmdline" 2>/dev/null && echo "$p"
}

forget_dead_instances() {  # folders of instances whose process is gone, left an hour or more
    local dir name
    for dir in "$ROOT"/srv/hotline/*/; do
        [ -d "$dir" ] || continue
        name=$(basename "$dir")
        running_pid "$RUN/asterisk-$name.pid" >/dev/null && continue
        if [ -z "$(find "$dir" -maxdepth 0 -mmin -60)" ]; then
            rm -rf "$dir" "$RUN/asterisk-$name.pid"
        fi
    done
}

layout() {  # the instance's folder: its own etc, run, log, spool, lib, cache; the data folder
            # links to the package's, but for sounds/hotline (the prompts) and sounds/test
    local conf=$1 entry
    rm -rf "$INSTANCE"
    mkdir -p "$INSTANCE"/{etc,run,log,spool/monitor,spool/tmp,lib,cache,data/sounds}
    cp "$conf"/*.conf "$INSTANCE/etc/"
    sed -i \
        -e "s#^\[directories\](!)#[directories]#" \
        -e "s#^astetcdir => .*#astetcdir => $HERE/etc#" \
        -e "s#^astvarlibdir => .*#astvarlibdir => $HERE/lib#" \
        -e "s#^astdbdir => .*#astdbdir => $HERE/lib#" \
        -e "s#^astkeydir => .*#astkeydir => $HERE/lib#" \
        -e "s#^astdatadir => .*#astdatadir => $HERE/data#" \
        -e "s#^astspooldir => .*#astspooldir => $HERE/spool#" \
        -e "s#^astrundir => .*#astrundir => $HERE/run#" \
        -e "s#^astlogdir => .*#astlogdir => $HERE/log#" \
        -e "s#^astcachedir => .*#astcachedir => $HERE/cache#" \
        "$INSTANCE/etc/asterisk.conf"
    for entry in "$ROOT"/usr/share/asterisk/*; do
        [ "$(basename "$entry")" = sounds ] && continue
        ln -s "/usr/share/asterisk/$(basename "$entry")" "$INSTANCE/data/"
    done
    for entry in "$ROOT"/usr/share/asterisk/sounds/*; do
        case "$(basename "$entry")" in hotline|test) continue ;; esac
        ln -s "/usr/share/asterisk/sounds/$(basename "$entry")" "$INSTANCE/data/sounds/"
    done
    mkdir -p "$INSTANCE/data/sounds/hotline" "$INSTANCE/data/sounds/test"
    if [ -d "$conf/sounds" ]; then  # prompts: sounds/hotline/<lang>/<key>.wav
        cp -r "$conf/sounds/." "$INSTANCE/data/sounds/hotline/"
    fi
}

start() {
    local conf=${1:?usage: start CONFDIR}
    installed || install
    if running_pid >/dev/null; then stop; fi
    mkdir -p "$RUN"
    forget_dead_instances
    layout "$conf"
    setsid chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/bin HOME=/root LANG=C.UTF-8 \
        /usr/sbin/asterisk -C "$HERE/etc/asterisk.conf" -f < /dev/null \
        > "$INSTANCE/log/asterisk.stdout" 2>&1 &
    echo $! > "$PIDFILE"
    local i
    for i in $(seq 1 300); do
        [ -S "$INSTANCE/run/asterisk.ctl" ] && break
        kill -0 "$(cat "$PIDFILE")" 2>/dev/null \
            || { tail -20 "$INSTANCE/log/asterisk.stdout" >&2; die "asterisk exited"; }
        sleep 0.05
    done
    timeout 30 chroot "$ROOT" asterisk -C "$HERE/etc/asterisk.conf" -rx 'core waitfullybooted' \
        >/dev/null || die "asterisk did not boot (see $INSTANCE/log/messages.log)"
    log "asterisk $NAME pid $(cat "$PIDFILE") fully booted"
}

stop() {
    local p i
    if ! p=$(running_pid); then rm -f "$PIDFILE"; return 0; fi
    timeout 10 chroot "$ROOT" asterisk -C "$HERE/etc/asterisk.conf" -rx 'core stop now' \
        >/dev/null 2>&1 || true
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
    cli) chroot "$ROOT" asterisk -C "$HERE/etc/asterisk.conf" -rx "$*" ;;
    root) echo "$ROOT" ;;
    instance) echo "$INSTANCE" ;;
    *) die "usage: $0 install|start CONFDIR|stop|cli CMD|root|instance" ;;
esac
