#!/usr/bin/env bash
# Change the running test cluster (tests/cluster/start.sh) for a moment, to test status and
# submission against other SLURM configurations; `restore` puts the normal configuration back.
# Others may use the cluster at the same time: every change restarts only slurmctld (or slurmdbd),
# which takes a few seconds and keeps every job.
#
#   accounting.sh dbd-stop              stop slurmdbd (sacct fails: "Connection refused")
#   accounting.sh dbd-start             start it again
#   accounting.sh off                   AccountingStorageType=accounting_storage/none (sacct: disabled)
#   accounting.sh max-array-size N      MaxArraySize=N (array indices 0..N-1)
#   accounting.sh submit-limit ACCT N   account ACCT (user root) may have N jobs queued or running;
#                                       AccountingStorageEnforce=associations,limits
#   accounting.sh restore               the configuration start.sh writes, slurmdbd running
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CONF=/etc/slurm/slurm.conf
BACKUP=/etc/slurm/slurm.conf.s1slurm-accounting-backup

log() { echo "[s1slurm-accounting +${SECONDS}s] $*" >&2; }
[[ "$(id -u)" == 0 ]] || { echo "accounting.sh must run as root" >&2; exit 1; }

pid_of() {  # pid_of PIDFILE NAME
    local pid
    [[ -r "$1" ]] || return 1
    pid="$(tr -dc '0-9' <"$1")"
    [[ -n "$pid" && "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$2" ]] || return 1
    echo "$pid"
}

stop_daemon() {  # stop_daemon PIDFILE NAME
    local pid
    if pid="$(pid_of "$1" "$2")"; then
        kill -TERM "$pid"
        for _ in $(seq 1 100); do [[ -e "/proc/$pid" ]] || return 0; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
}

wait_for() {  # wait_for SECONDS COMMAND...
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || { log "timed out waiting for: $*"; return 1; }
        sleep 0.3
    done
}

backup() { [[ -f "$BACKUP" ]] || cp -p "$CONF" "$BACKUP"; }

set_option() {  # set_option KEY VALUE: replace or add KEY=VALUE in slurm.conf
    backup
    if grep -q "^$1=" "$CONF"; then
        sed -i "s|^$1=.*|$1=$2|" "$CONF"
    else
        sed -i "0,/^GresTypes=/s||$1=$2\n&|" "$CONF"
    fi
}

restart_ctld() {
    log "restarting slurmctld"
    stop_daemon /run/slurmctld.pid slurmctld
    slurmctld
    wait_for 30 bash -c 'scontrol ping | grep -q "is UP"'
    # Both nodes answer again before anyone submits (they keep their jobs).
    wait_for 30 bash -c '[[ "$(sinfo -h -N -o "%t" | grep -cE "^(idle|mix|alloc)")" -ge 2 ]]'
}

start_dbd() {
    pid_of /run/slurmdbd.pid slurmdbd >/dev/null || slurmdbd
    wait_for 60 sacctmgr -n -P list cluster format=cluster
}

case "${1:-}" in
dbd-stop)
    log "stopping slurmdbd"
    stop_daemon /run/slurmdbd.pid slurmdbd ;;
dbd-start)
    start_dbd ;;
off)
    set_option AccountingStorageType accounting_storage/none
    restart_ctld ;;
max-array-size)
    [[ "${2:-}" =~ ^[0-9]+$ ]] || { echo "usage: $0 max-array-size N" >&2; exit 2; }
    set_option MaxArraySize "$2"
    restart_ctld ;;
submit-limit)
    [[ -n "${2:-}" && "${3:-}" =~ ^[0-9]+$ ]] || { echo "usage: $0 submit-limit ACCOUNT N" >&2; exit 2; }
    start_dbd
    cluster="$(awk -F= '/^ClusterName=/ {print $2}' "$CONF")"
    sacctmgr -i add account "$2" cluster="$cluster" >/dev/null 2>&1 || true
    sacctmgr -i add user root account="$2" cluster="$cluster" >/dev/null 2>&1 || true
    sacctmgr -i modify user root where account="$2" cluster="$cluster" set MaxSubmitJobs="$3" >/dev/null
    set_option AccountingStorageEnforce associations,limits
    restart_ctld ;;
restore)
    pid_of /run/slurmdbd.pid slurmdbd >/dev/null || slurmdbd
    if [[ -f "$BACKUP" ]]; then
        if ! cmp -s "$BACKUP" "$CONF"; then
            cp -p "$BACKUP" "$CONF"
            restart_ctld
        fi
        rm -f "$BACKUP"
    fi
    # start.sh owns the normal configuration: it rewrites (and restarts) only what still differs.
    start_dbd
    bash "$HERE/start.sh" >/dev/null 2>&1 || bash "$HERE/start.sh"
    wait_for 30 sacct -n -X -S now-1minutes ;;
*)
    sed -n '2,14p' "$0" >&2
    exit 2 ;;
esac
log "done: $*"
