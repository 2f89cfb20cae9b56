#!/usr/bin/env bash
# Kamailio (Debian sid's package), the SIP proxy in front of several Asterisk nodes, for the
# tests. It is installed into the Asterisk chroot (scripts/asterisk.sh) by its image's recipe,
# docker/kamailio/install.sh, so the tests run the proxy the image has.
#
#   scripts/kamailio.sh install        apt-get install kamailio in the chroot (cached)
#   scripts/kamailio.sh start CFGDIR   copy CFGDIR/kamailio.cfg and dispatcher.list (from
#                                      `hotline dialplan render-proxy`) into the instance and
#                                      start it
#   scripts/kamailio.sh stop           stop the instance
#   scripts/kamailio.sh rpc CMD ...    one kamcmd command (dispatcher.list, ul.dump, ...)
#
# Instances are named by HOTLINE_KAMAILIO_INSTANCE (default "main"): each has its folder
# /srv/hotline-kamailio/NAME in the chroot. Needs root. Listens where the config says.
set -euo pipefail

HERE_DIR="$(cd "$(dirname "$0")" && pwd)"
ROOT=${HOTLINE_ASTERISK_ROOT:-/var/tmp/hotline-asterisk/sid}
RUN=$(dirname "$ROOT")/run
NAME=${HOTLINE_KAMAILIO_INSTANCE:-main}
[[ "$NAME" =~ ^[A-Za-z0-9_.-]+$ ]] || { echo "bad instance name: $NAME" >&2; exit 1; }
PIDFILE=$RUN/kamailio-$NAME.pid
HERE=/srv/hotline-kamailio/$NAME
INSTANCE=$ROOT$HERE
RECIPE="$HERE_DIR/../docker/kamailio/install.sh"

log() { printf '[kamailio %(%T)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (chroot)"

in_root() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }

recipe_hash() { sha256sum "$RECIPE" | cut -d' ' -f1; }

installed() {
    [ -x "$ROOT/usr/sbin/kamailio" ] && [ -f "$ROOT/.hotline-kamailio-ok" ] \
        && [ "$(cat "$ROOT/.hotline-kamailio-ok")" = "$(recipe_hash)" ]
}

install() {
    if installed; then return 0; fi
    "$HERE_DIR/asterisk.sh" install   # the chroot
    exec 8>"$(dirname "$ROOT")/install-kamailio.lock"   # one apt in the chroot at a time
    flock 8
    if installed; then exec 8>&-; return 0; fi
    local t0=$SECONDS mounted=0 rc=0
    cp "$RECIPE" "$ROOT/tmp/hotline-kamailio-install.sh"
    if ! mountpoint -q "$ROOT/proc"; then mount -t proc proc "$ROOT/proc"; mounted=1; fi
    in_root sh /tmp/hotline-kamailio-install.sh > "$(dirname "$ROOT")/apt-kamailio.log" 2>&1 || rc=$?
    if [ $mounted = 1 ]; then umount "$ROOT/proc" || umount -l "$ROOT/proc"; fi
    rm -f "$ROOT/tmp/hotline-kamailio-install.sh"
    [ $rc = 0 ] || { tail -20 "$(dirname "$ROOT")/apt-kamailio.log" >&2; die "the Kamailio recipe failed"; }
    recipe_hash > "$ROOT/.hotline-kamailio-ok"
    log "installed $(in_root kamailio -v | head -1) in $((SECONDS - t0)) s"
    exec 8>&-
}

running_pid() {
    local p
    [ -f "$PIDFILE" ] || return 1
    p=$(cat "$PIDFILE")
    [ -n "$p" ] && kill -0 "$p" 2>/dev/null && grep -q kamailio "/proc/$p/cmdline" 2>/dev/null && echo "$p"
}

forget_old_instances() {  # folders of stopped instances, kept an hour for their logs
    local dir name p
    for dir in "$ROOT"/srv/hotline-kamailio/*/; do
        [ -d "$dir" ] || continue
        name=$(basename "$dir")
        p=$(cat "$RUN/kamailio-$name.pid" 2>/dev/null || true)
        if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then continue; fi
        if [ -z "$(find "$dir" -maxdepth 0 -mmin -60)" ]; then rm -rf "$dir"; fi
    done
}

start() {
    local conf=${1:?usage: start CFGDIR} i
    installed || install
    if running_pid >/dev/null; then stop; fi
    mkdir -p "$RUN"
    forget_old_instances
    rm -rf "$INSTANCE"
    mkdir -p "$INSTANCE"
    cp "$conf/kamailio.cfg" "$conf/dispatcher.list" "$INSTANCE/"
    sed -i "s#/etc/kamailio/#$HERE/#g" "$INSTANCE/kamailio.cfg"
    in_root kamailio -c -f "$HERE/kamailio.cfg" > "$INSTANCE/check.log" 2>&1 \
        || { tail -30 "$INSTANCE/check.log" >&2; die "kamailio.cfg does not check"; }
    # -DD: stays in the foreground (its PID is ours to stop); -E: log to stderr
    setsid chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/bin HOME=/root LANG=C.UTF-8 \
        /usr/sbin/kamailio -DD -E -m 64 -M 8 -f "$HERE/kamailio.cfg" -Y "$HERE" \
        < /dev/null > "$INSTANCE/kamailio.log" 2>&1 &
    echo $! > "$PIDFILE"
    for i in $(seq 1 200); do
        [ -S "$INSTANCE/kamailio.ctl" ] && break
        kill -0 "$(cat "$PIDFILE")" 2>/dev/null \
            || { tail -30 "$INSTANCE/kamailio.log" >&2; die "kamailio exited"; }
        sleep 0.05
    done
    [ -S "$INSTANCE/kamailio.ctl" ] || die "kamailio did not open its control socket"
    log "kamailio $NAME pid $(cat "$PIDFILE") started"
}

stop() {
    local p i
    if ! p=$(running_pid); then rm -f "$PIDFILE"; return 0; fi
    kill -TERM "$p" 2>/dev/null || true
    for i in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
    if kill -0 "$p" 2>/dev/null; then kill -KILL "$p"; fi
    rm -f "$PIDFILE"
}

rpc() { in_root kamcmd -s "unix:$HERE/kamailio.ctl" "$@"; }

cmd=${1:-}
shift || true
case "$cmd" in
    install) install ;;
    start) start "$@" ;;
    stop) stop ;;
    rpc) rpc "$@" ;;
    instance) echo "$INSTANCE" ;;
    *) die "usage: $0 install|start CFGDIR|stop|rpc CMD|instance" ;;
esac
