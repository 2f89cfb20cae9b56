# Services the tests use (sourced by scripts/test).

# ensure_postgresql: make 127.0.0.1:5432 answer, starting the local cluster if it is down.
ensure_postgresql() {
    local url="${HOTLINE_TEST_PG_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/postgres}"
    if "$VENV/bin/python" -m hotline.testing.pg "$url" >/dev/null 2>&1; then
        echo "==> PostgreSQL reachable"
        return 0
    fi
    if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
        echo "==> starting the local PostgreSQL cluster"
        for version in $(ls /etc/postgresql); do
            as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
        done
        for _ in $(seq 1 30); do
            "$VENV/bin/python" -m hotline.testing.pg "$url" >/dev/null 2>&1 && return 0
            sleep 1
        done
    fi
    if [ "${CI:-}" = "true" ]; then
        echo "PostgreSQL is not reachable at $url and CI=true: failing" >&2
        return 1
    fi
    echo "==> PostgreSQL not reachable: PostgreSQL variants of the tests will be skipped"
}

# ensure_asterisk: the Asterisk 22 chroot the real-telephony tests run (cached after the
# first install). It needs root; elsewhere those tests skip, and with CI=true they fail.
ensure_asterisk() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "==> not root: the real-Asterisk tests will be skipped"
        return 0
    fi
    echo "==> Asterisk chroot"
    "$ROOT/scripts/asterisk.sh" install
    echo "==> Kamailio in the chroot (the SIP proxy of the two-node tests)"
    "$ROOT/scripts/kamailio.sh" install
}
