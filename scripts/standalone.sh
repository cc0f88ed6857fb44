#!/usr/bin/env bash
# A real Spark standalone cluster on this machine, from the installed pyspark: one master and
# two workers (one core each), for `CDP_ENV=standalone`. The same jobs run against it as in
# local mode; only conf/env/standalone.yml differs.
#   bash scripts/standalone.sh start | stop | status
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
export SPARK_HOME="$repo/.venv/lib/python3.11/site-packages/pyspark"
export SPARK_LOG_DIR="$repo/.spark-standalone/logs" SPARK_PID_DIR="$repo/.spark-standalone/pids"
export SPARK_WORKER_DIR="$repo/.spark-standalone/work" SPARK_LOCAL_IP=127.0.0.1
# Executors start Python workers with the project's interpreter, like the driver does.
export PYSPARK_PYTHON="$repo/.venv/bin/python"
master_url=spark://127.0.0.1:7077
workers=${CDP_STANDALONE_WORKERS:-2}
worker_memory=${CDP_STANDALONE_WORKER_MEMORY:-6g}
daemon="$SPARK_HOME/sbin/spark-daemon.sh"

start() {
    mkdir -p "$SPARK_LOG_DIR" "$SPARK_PID_DIR" "$SPARK_WORKER_DIR"
    bash "$daemon" start org.apache.spark.deploy.master.Master 1 \
        --host 127.0.0.1 --port 7077 --webui-port 8090 >/dev/null
    for i in $(seq 1 "$workers"); do
        bash "$daemon" start org.apache.spark.deploy.worker.Worker "$i" "$master_url" \
            --host 127.0.0.1 --cores 1 --memory "$worker_memory" --webui-port $((8090 + i)) >/dev/null
    done
    # Ready when the master lists every worker as alive.
    for _ in $(seq 1 60); do
        alive=$(curl -s http://127.0.0.1:8090/json/ 2>/dev/null | grep -o '"state" *: *"ALIVE"' | wc -l || true)
        if [ "${alive:-0}" -ge "$workers" ]; then
            echo "standalone: master $master_url with $workers workers"
            return 0
        fi
        sleep 1
    done
    echo "standalone: workers did not register; see $SPARK_LOG_DIR" >&2
    return 1
}

stop() {
    for i in $(seq 1 "$workers"); do
        bash "$daemon" stop org.apache.spark.deploy.worker.Worker "$i" >/dev/null || true
    done
    bash "$daemon" stop org.apache.spark.deploy.master.Master 1 >/dev/null || true
    echo "standalone: stopped"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) curl -s http://127.0.0.1:8090/json/ || echo "standalone: not running" ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
