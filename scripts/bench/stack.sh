# shellcheck shell=bash
# The services around Parley for the production-shaped scenario (sourced
# after lib.sh): Redis, one node or a Redis Cluster of 3 masters and 3
# replicas, and nginx from deploy/nginx.conf, each on free loopback ports,
# started with lib.sh's spawn (so its cleanup stops them); plus what the
# scenario reads of them and of Postgres.
#
#   REDIS_SERVER_BIN, REDIS_CLI_BIN, NGINX_BIN   the binaries (default: from
#                                                PATH; nginx also /usr/sbin)

REDIS_SERVER_BIN="${REDIS_SERVER_BIN:-$(command -v redis-server || true)}"
REDIS_CLI_BIN="${REDIS_CLI_BIN:-$(command -v redis-cli || true)}"
NGINX_BIN="${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}"

# Filled by start_redis / start_redis_cluster: one entry per node.
REDIS_PORTS=()
REDIS_PIDS=()

need_bin() {
    local var=$1 what=$2
    if [[ ! -x "${!var}" ]]; then
        echo "$what not found: install it or set $var" >&2
        exit 1
    fi
}

# n_free_ports N: N distinct free ports, one a line.
n_free_ports() {
    local n=$1 port ports=()
    while (( ${#ports[@]} < n )); do
        port="$(free_port)"
        [[ " ${ports[*]} " == *" $port "* ]] || ports+=("$port")
    done
    printf '%s\n' "${ports[@]}"
}

redis_cli() {
    local port=$1
    shift
    "$REDIS_CLI_BIN" -h 127.0.0.1 -p "$port" "$@"
}

# redis_node PORT [ARGS…]: a redis-server on 127.0.0.1:PORT, no persistence
# (as scripts/test starts it), waits for PING.
redis_node() {
    local port=$1
    shift
    local dir="$WORK/redis-$port"
    mkdir -p "$dir"
    spawn "$dir/redis.log" "$REDIS_SERVER_BIN" --bind 127.0.0.1 --port "$port" \
        --save '' --appendonly no --daemonize no --dir "$dir" "$@"
    REDIS_PORTS+=("$port")
    REDIS_PIDS+=("$SPAWNED_PID")
    for _ in $(seq 1 100); do
        [[ "$(redis_cli "$port" ping 2>/dev/null)" != PONG ]] || return 0
        sleep 0.1
    done
    echo "redis-server on port $port did not answer PING:" >&2
    tail -n 20 "$dir/redis.log" >&2
    exit 1
}

# start_redis: one node; sets REDIS_URL.
start_redis() {
    need_bin REDIS_SERVER_BIN redis-server
    need_bin REDIS_CLI_BIN redis-cli
    redis_node "$(free_port)"
    REDIS_URL="redis://127.0.0.1:${REDIS_PORTS[0]}"
    echo "redis at $REDIS_URL" >&2
}

# cluster_ready: every node sees 6 nodes and cluster_state:ok, every
# replica's link to its master is up, and every node maps 3 slot ranges.
cluster_ready() {
    local port info
    for port in "${REDIS_PORTS[@]}"; do
        info="$(redis_cli "$port" cluster info 2>/dev/null)" || return 1
        [[ "$info" == *cluster_state:ok* && "$info" == *cluster_known_nodes:6* ]] || return 1
        info="$(redis_cli "$port" info replication 2>/dev/null)" || return 1
        [[ "$info" != *role:slave* || "$info" == *master_link_status:up* ]] || return 1
        [[ "$(redis_cli "$port" cluster shards 2>/dev/null | grep -c '^slots$')" == 3 ]] || return 1
    done
}

# start_redis_cluster: six `--cluster-enabled` nodes joined by
# `redis-cli --cluster create --cluster-replicas 1` (as tests/cluster/sharded.rs
# does); sets REDIS_CLUSTER_NODES to the three masters (README, "Redis
# Cluster": some of the nodes are enough as seeds).
start_redis_cluster() {
    need_bin REDIS_SERVER_BIN redis-server
    need_bin REDIS_CLI_BIN redis-cli
    local ports=() i
    mapfile -t ports < <(n_free_ports 12)
    for i in 0 1 2 3 4 5; do
        # The bus port is given: port + 10000 may be taken or out of range.
        redis_node "${ports[i]}" --cluster-enabled yes --cluster-port "${ports[i + 6]}" \
            --cluster-config-file nodes.conf --cluster-node-timeout 5000 \
            --repl-diskless-sync-delay 0
    done
    local addrs=()
    for i in 0 1 2 3 4 5; do addrs+=("127.0.0.1:${ports[i]}"); done
    # The first three become the masters, the last three their replicas.
    redis_cli "${ports[0]}" --cluster create "${addrs[@]}" --cluster-replicas 1 \
        --cluster-yes >"$WORK/redis-cluster-create.log" 2>&1 ||
        { cat "$WORK/redis-cluster-create.log" >&2; exit 1; }
    for _ in $(seq 1 300); do
        if cluster_ready; then
            REDIS_CLUSTER_NODES="$(IFS=,; echo "${addrs[*]:0:3}")"
            echo "redis cluster ready, seeds $REDIS_CLUSTER_NODES" >&2
            return 0
        fi
        sleep 0.1
    done
    echo "the redis cluster did not reach cluster_state:ok with replicas in sync" >&2
    exit 1
}

# redis_role PORT: master or slave.
redis_role() {
    redis_cli "$1" role 2>/dev/null | head -n1
}

# start_nginx UPSTREAM_PORT…: nginx from the deploy/nginx.conf template
# (filled the way docker-compose.yml and tests/cluster do), balancing over
# the given parley ports; sets NGINX_PORT, NGINX_PID, NGINX_DIR.
start_nginx() {
    need_bin NGINX_BIN nginx
    NGINX_DIR="$WORK/nginx"
    mkdir -p "$NGINX_DIR"
    NGINX_PORT="$(free_port)"
    local servers="" port
    for port in "$@"; do servers+="server 127.0.0.1:$port; "; done
    sed -e "s|\${NGINX_LISTEN}|127.0.0.1:$NGINX_PORT|g" \
        -e "s|\${PARLEY_UPSTREAM_SERVERS}|$servers|g" \
        -e "s|\${NGINX_RUN_DIR}|$NGINX_DIR|g" \
        -e "s|\${NGINX_LOG_DIR}|$NGINX_DIR|g" \
        "$ROOT/deploy/nginx.conf" >"$NGINX_DIR/nginx.conf"
    if sed -e 's/#.*//' "$NGINX_DIR/nginx.conf" | grep -qF "\${"; then
        echo "deploy/nginx.conf has a placeholder this script does not fill" >&2
        exit 1
    fi
    # The template has no daemon/user directive on purpose (see its header);
    # as root, workers run as root too, since the temp dir is private.
    local globals="daemon off;"
    [[ "$(id -u)" != 0 ]] || globals+=" user root;"
    spawn "$NGINX_DIR/nginx.out" "$NGINX_BIN" -p "$NGINX_DIR/" -c "$NGINX_DIR/nginx.conf" \
        -e "$NGINX_DIR/startup-error.log" -g "$globals"
    NGINX_PID=$SPAWNED_PID
    wait_http "http://127.0.0.1:$NGINX_PORT/lb-health" "$NGINX_PID" "$NGINX_DIR/nginx.out" nginx
    echo "nginx pid $NGINX_PID on port $NGINX_PORT, upstreams $*" >&2
}

# websockets_per_upstream PORT…: WebSocket sessions nginx logged (each at
# its close) per parley port, one count a line.
websockets_per_upstream() {
    local port
    for port in "$@"; do
        grep -c "\"GET /ws .*upstream=127.0.0.1:$port\$\|\"GET /ws .*upstream=127.0.0.1:$port " \
            "$NGINX_DIR/access.log" || true
    done
}

# postmaster_pid: the pid of DATABASE_URL's postmaster (the parent of its
# checkpointer), if that server runs on this machine; empty otherwise.
postmaster_pid() {
    local aux
    aux="$(psql "$DATABASE_URL" -Atc \
        "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'" 2>/dev/null)" || return 0
    [[ "$aux" =~ ^[0-9]+$ && -r "/proc/$aux/stat" ]] || return 0
    # The fields after the command name (which may hold spaces): state ppid …
    sed -e 's/.*) //' "/proc/$aux/stat" | cut -d' ' -f2
}
