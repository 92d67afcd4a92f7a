#!/usr/bin/env bash
# Stop the single-machine SLURM cluster started by tests/cluster/start.sh.
#   stop.sh        cancel the jobs, stop slurmd x2, slurmctld, slurmdbd, MariaDB and munged
#   stop.sh slurm  stop only slurmd x2, slurmctld and slurmdbd (jobs keep their state);
#                  start.sh uses this when the configuration changed
# Never fails because something is not running.
set -euo pipefail

MODE="${1:-all}"
case "$MODE" in all | slurm) ;; *) echo "usage: $0 [slurm]" >&2; exit 2 ;; esac
[[ "$(id -u)" == 0 ]] || { echo "stop.sh must run as root" >&2; exit 1; }

log() { echo "[s1slurm-cluster +${SECONDS}s] $*" >&2; }

# pid_of PIDFILE NAME: print the pid in PIDFILE if it is a live process whose comm is NAME.
pid_of() {
    local pidfile="$1" name="$2" pid
    [[ -r "$pidfile" ]] || return 1
    pid="$(tr -dc '0-9' <"$pidfile")"
    [[ -n "$pid" ]] || return 1
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$name" ]] || return 1
    echo "$pid"
}

# wait_gone PID SECONDS: wait until PID has exited; returns 1 if it is still there.
wait_gone() {
    local pid="$1" deadline=$((SECONDS + $2))
    while [[ -e "/proc/$pid" ]]; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

# stop_pidfiles NAME PIDFILE...: SIGTERM to each live NAME process, wait up to 15 s, then SIGKILL.
stop_pidfiles() {
    local name="$1" pidfile pid pids=()
    shift
    for pidfile in "$@"; do
        if pid="$(pid_of "$pidfile" "$name")"; then
            log "stopping $name (pid $pid)"
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
    done
    for pid in "${pids[@]}"; do
        if ! wait_gone "$pid" 15; then
            log "$name (pid $pid) ignored SIGTERM for 15s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            wait_gone "$pid" 5 || true
        fi
    done
    rm -f "$@"
}

if [[ "$MODE" == all ]] && pid_of /run/slurmctld.pid slurmctld >/dev/null; then
    # Cancel whatever still runs so that no job step outlives the cluster.
    jobs="$(timeout 10 squeue -h -o %A 2>/dev/null || true)"
    if [[ -n "$jobs" ]]; then
        log "cancelling jobs: ${jobs//$'\n'/ }"
        # shellcheck disable=SC2086
        timeout 10 scancel $jobs 2>/dev/null || true
        deadline=$((SECONDS + 15))
        while [[ -n "$(timeout 5 squeue -h -t R,CG -o %A 2>/dev/null || true)" ]] && ((SECONDS < deadline)); do
            sleep 0.5
        done
    fi
fi

stop_pidfiles slurmd /run/slurmd-node1.pid /run/slurmd-node2.pid
stop_pidfiles slurmctld /run/slurmctld.pid
stop_pidfiles slurmdbd /run/slurmdbd.pid

if [[ "$MODE" == slurm ]]; then
    exit 0
fi

# Job steps whose slurmd is gone (machine has no other slurm, so these are ours).
for d in /proc/[0-9]*; do
    if [[ "$(readlink "$d/exe" 2>/dev/null)" == */slurmstepd ]]; then
        log "stopping leftover slurmstepd (pid ${d#/proc/})"
        kill -TERM "${d#/proc/}" 2>/dev/null || true
    fi
done

# MariaDB: a clean shutdown also ends mysqld_safe (which would restart a killed mysqld).
if pid="$(pid_of /run/mysqld/mysqld.pid mariadbd)" || pid="$(pid_of /run/mysqld/mysqld.pid mysqld)"; then
    log "stopping MariaDB (pid $pid)"
    timeout 30 mariadb-admin --protocol=socket -uroot shutdown 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" 30; then
        log "MariaDB (pid $pid) still there after 30s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
fi
for d in /proc/[0-9]*; do
    # mysqld_safe is a shell script; end it only if it is the one started for MariaDB.
    if [[ "$(cat "$d/comm" 2>/dev/null)" == mysqld_safe ]]; then
        kill -TERM "${d#/proc/}" 2>/dev/null || true
    fi
done

stop_pidfiles munged /run/munge/munged.pid
log "cluster stopped"
