# A throwaway PostgreSQL for the sweep tests (a study two workers share), sourced by .ci/run:
# Debian's package (installed if missing), its own data folder, 127.0.0.1 on a free port, run
# as the postgres user; MNIST_TUI_TEST_POSTGRES is its URL, and it stops when the caller exits.
# Without it the PostgreSQL test skips and says why.

start_postgres() {
    if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql \
            >/dev/null || return 1
    fi
    local bin port
    bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
    PG_DIR="$(mktemp -d /tmp/mnist-tui-pg.XXXXXX)"
    chown postgres: "$PG_DIR" || return 1
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    runuser -u postgres -- "$bin/initdb" -D "$PG_DIR/data" -A trust -U postgres >/dev/null || return 1
    runuser -u postgres -- "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
        -o "-h 127.0.0.1 -p $port -k $PG_DIR" start >/dev/null || return 1
    PG_STOP="runuser -u postgres -- $bin/pg_ctl -D $PG_DIR/data -m fast -w stop"
    trap 'stop_postgres' EXIT
    runuser -u postgres -- "$bin/createdb" -h 127.0.0.1 -p "$port" mnist_tui || return 1
    export MNIST_TUI_TEST_POSTGRES="postgresql://postgres@127.0.0.1:$port/mnist_tui"
}

stop_postgres() {
    if [ -n "${PG_STOP:-}" ]; then
        $PG_STOP >/dev/null 2>&1 || true
    fi
    rm -rf "${PG_DIR:-/nonexistent}"
}
