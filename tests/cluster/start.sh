#!/usr/bin/env bash
# Start a real SLURM 22.05 cluster on this one machine (Debian 12, run as root, no systemd):
#   munged, MariaDB + slurmdbd (so sacct works), slurmctld, and two slurmd daemons node1/node2,
#   each with 8 fake GPUs (Gres=gpu:8), in partition "debug" (never preempted); partitions
#   "preemptible" and "urgent" over the same nodes let tests preempt a job (partition_prio, REQUEUE).
# Idempotent: daemons that already run with unchanged configuration are left alone; a changed
# configuration restarts the slurm daemons. FORCE_RESTART=1 restarts the slurm daemons anyway.
# Waits until both nodes are usable and sacct answers, or fails with the relevant log tails.
#
# Environment overrides (all optional):
#   S1_CLUSTER_NAME   cluster name            (default s1slurm)
#   S1_CLUSTER_CPUS   CPUs per node           (default: nproc; more than nproc fakes them)
#   S1_CLUSTER_MEM_MB RealMemory per node, MB (default: half of MemTotal, rounded down to 1000)
#   S1_CLUSTER_TIMEOUT seconds to wait for readiness (default 90)
#   S1_CLUSTER_GRACE_TIME GraceTime of partition "preemptible", seconds (default 120:
#                     a step and a checkpoint of the CPU smoke training on a loaded 2-core machine)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CLUSTER_NAME="${S1_CLUSTER_NAME:-s1slurm}"
TIMEOUT="${S1_CLUSTER_TIMEOUT:-90}"
PARTITION=debug
PREEMPTIBLE_PARTITION=preemptible
URGENT_PARTITION=urgent
GRACE_TIME="${S1_CLUSTER_GRACE_TIME:-120}"
NODES=(node1 node2)
PORTS=(17001 17002)
PACKAGES=(slurmctld slurmd slurm-client munge mariadb-server slurmdbd)
DB_NAME=slurm_acct_db
DB_USER=slurm
DB_PASS=s1slurm-db-pass
SLURM_ETC=/etc/slurm
GPU_DIR=/var/lib/s1slurm-fake-gpus
SLURMCTLD_LOG=/var/log/slurm/slurmctld.log
SLURMDBD_LOG=/var/log/slurm/slurmdbd.log
MYSQL_LOG=/var/log/mysql/error.log
MUNGE_LOG=/var/log/munge/munged.log

log() { echo "[s1slurm-cluster +${SECONDS}s] $*" >&2; }

die() {
    log "ERROR: $*"
    local f
    for f in "$MUNGE_LOG" "$MYSQL_LOG" "$SLURMDBD_LOG" /var/log/slurmd-node1.log \
        /var/log/slurmd-node2.log "$SLURMCTLD_LOG"; do
        if [[ -s "$f" ]]; then
            echo "----- tail -n 15 $f -----" >&2
            tail -n 15 "$f" >&2 || true
        fi
    done
    exit 1
}

[[ "$(id -u)" == 0 ]] || { echo "start.sh must run as root" >&2; exit 1; }

# wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND every 0.5 s until it succeeds.
wait_for() {
    local secs="$1" what="$2"
    shift 2
    local deadline=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            die "timed out after ${secs}s waiting for: $what"
        fi
        sleep 0.5
    done
}

# pid_alive PIDFILE NAME: the pid in PIDFILE is a live process whose comm is NAME.
pid_alive() {
    local pidfile="$1" name="$2" pid
    [[ -r "$pidfile" ]] || return 1
    pid="$(tr -dc '0-9' <"$pidfile")"
    [[ -n "$pid" ]] || return 1
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$name" ]]
}

# ---------------------------------------------------------------- packages
t0=$SECONDS
missing=()
for p in "${PACKAGES[@]}"; do
    if [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]]; then
        missing+=("$p")
    fi
done
if ((${#missing[@]})); then
    log "installing ${missing[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    # Without systemd, the packages' postinst scripts run "invoke-rc.d slurmctld start || exit 1",
    # which fails before slurm.conf exists; a policy-rc.d that denies starts avoids that (Docker-
    # like images ship one already). The daemons are started below, by hand.
    own_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        own_policy=1
    fi
    apt_rc=0
    { apt-get update -qq && apt-get install -y -qq "${PACKAGES[@]}"; } >/tmp/s1slurm-apt.log 2>&1 || apt_rc=$?
    if ((own_policy)); then rm -f /usr/sbin/policy-rc.d; fi
    if ((apt_rc)); then
        tail -n 30 /tmp/s1slurm-apt.log >&2
        die "apt-get install ${PACKAGES[*]} failed (exit $apt_rc); log in /tmp/s1slurm-apt.log"
    fi
fi

# ---------------------------------------------------------------- host names
HOST="$(hostname -s)"
add_host() {
    local name="$1"
    if ! grep -Eq "^[[:space:]]*127\.0\.0\.1([[:space:]].*)?[[:space:]]${name}([[:space:]]|\$)" /etc/hosts; then
        echo "127.0.0.1 $name" >>/etc/hosts
    fi
}
getent hosts "$HOST" >/dev/null 2>&1 || add_host "$HOST"
for n in "${NODES[@]}"; do add_host "$n"; done

# ---------------------------------------------------------------- configuration
CPUS="${S1_CLUSTER_CPUS:-$(nproc)}"
if [[ -n "${S1_CLUSTER_MEM_MB:-}" ]]; then
    MEM_MB="$S1_CLUSTER_MEM_MB"
else
    mem_total_mb=$(($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024))
    MEM_MB=$((mem_total_mb / 2 / 1000 * 1000))
    ((MEM_MB >= 1000)) || MEM_MB=$((mem_total_mb / 2))
fi
SLURMD_PARAMS=""
if ((CPUS > $(nproc))); then
    # slurmd would report fewer CPUs than configured and the nodes would go INVAL.
    SLURMD_PARAMS="SlurmdParameters=config_overrides"
fi

SLURM_CONF_CHANGED=0
DBD_CONF_CHANGED=0
mkdir -p "$SLURM_ETC" /var/spool/slurmctld /var/log/slurm "$GPU_DIR"
for n in "${NODES[@]}"; do mkdir -p "/var/spool/slurmd/$n"; done
# Fake GPU device files: symlinks to /dev/null, so that slurmd sees character devices and sets
# CUDA_VISIBLE_DEVICES=0,...,7 in jobs (plain empty files work for scheduling, but slurmd then logs
# "is not a valid character or block device" and sets no CUDA_VISIBLE_DEVICES).
for i in 0 1 2 3 4 5 6 7; do
    if [[ "$(readlink "$GPU_DIR/nvidia$i" 2>/dev/null)" != /dev/null ]]; then
        rm -f "$GPU_DIR/nvidia$i"
        ln -s /dev/null "$GPU_DIR/nvidia$i"
        SLURM_CONF_CHANGED=1
    fi
done

# install_conf DEST MODE: write stdin to DEST if different; returns 0 if it changed.
install_conf() {
    local dest="$1" mode="$2" tmp
    tmp="$(mktemp "${dest}.XXXXXX")"
    cat >"$tmp"
    chmod "$mode" "$tmp"
    if [[ -f "$dest" ]] && cmp -s "$tmp" "$dest"; then
        rm -f "$tmp"
        chmod "$mode" "$dest"
        return 1
    fi
    mv -f "$tmp" "$dest"
    return 0
}

node_lines=""
for i in "${!NODES[@]}"; do
    node_lines+="NodeName=${NODES[$i]} NodeHostname=$HOST NodeAddr=127.0.0.1 Port=${PORTS[$i]} CPUs=$CPUS RealMemory=$MEM_MB Gres=gpu:8 State=UNKNOWN"$'\n'
done

if install_conf "$SLURM_ETC/slurm.conf" 644 <<EOF; then SLURM_CONF_CHANGED=1; fi
# Written by tests/cluster/start.sh (s1slurm test cluster). Do not edit by hand.
ClusterName=$CLUSTER_NAME
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=6817
AuthType=auth/munge
# cred_expire also sets how long a requeued job waits before it may start again (default 120 s).
AuthInfo=cred_expire=10
CryptoType=crypto/munge
SlurmUser=root
SlurmdUser=root
MailProg=/bin/true
StateSaveLocation=/var/spool/slurmctld
SlurmctldPidFile=/run/slurmctld.pid
SlurmctldLogFile=$SLURMCTLD_LOG
SlurmctldDebug=info
SlurmdSpoolDir=/var/spool/slurmd/%n
SlurmdPidFile=/run/slurmd-%n.pid
SlurmdLogFile=/var/log/slurmd-%n.log
SlurmdDebug=info
$SLURMD_PARAMS
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=1
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
ReturnToService=2
JobRequeue=1
KillWait=5
MinJobAge=300
InactiveLimit=0
WaitTime=0
MessageTimeout=10
SlurmctldTimeout=60
SlurmdTimeout=120
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
JobCompType=jobcomp/none
GresTypes=gpu
${node_lines}PartitionName=$PARTITION Nodes=node[1-2] Default=YES MaxTime=INFINITE State=UP PriorityTier=1 PreemptMode=OFF
# Preemption tests (tests/train/test_preemption.py): a job in "urgent" (higher tier) that needs the
# nodes preempts jobs of "preemptible" (same nodes): SLURM sends SIGTERM to the batch shell and every
# step, SIGKILL after GraceTime, and the job may requeue itself. Jobs in "debug" are never preempted.
PartitionName=$PREEMPTIBLE_PARTITION Nodes=node[1-2] MaxTime=INFINITE State=UP PriorityTier=1 PreemptMode=REQUEUE GraceTime=$GRACE_TIME
PartitionName=$URGENT_PARTITION Nodes=node[1-2] MaxTime=INFINITE State=UP PriorityTier=2 PreemptMode=OFF
EOF

if install_conf "$SLURM_ETC/gres.conf" 644 <<EOF; then SLURM_CONF_CHANGED=1; fi
# Written by tests/cluster/start.sh: 8 fake GPUs per node (plain empty files).
NodeName=node[1-2] Name=gpu File=$GPU_DIR/nvidia[0-7]
EOF

if install_conf "$SLURM_ETC/slurmdbd.conf" 600 <<EOF; then DBD_CONF_CHANGED=1; fi
# Written by tests/cluster/start.sh (s1slurm test cluster).
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=root
PidFile=/run/slurmdbd.pid
LogFile=$SLURMDBD_LOG
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageLoc=$DB_NAME
StorageUser=$DB_USER
StoragePass=$DB_PASS
EOF

if [[ "${FORCE_RESTART:-0}" == 1 ]]; then
    SLURM_CONF_CHANGED=1
    DBD_CONF_CHANGED=1
fi
if ((SLURM_CONF_CHANGED || DBD_CONF_CHANGED)); then
    # A config change needs fresh daemons (node definitions are read at start only).
    "$HERE/stop.sh" slurm
fi

# ---------------------------------------------------------------- munge
munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
if ! munge_ok; then
    if [[ ! -s /etc/munge/munge.key ]]; then
        mungekey --create --keyfile=/etc/munge/munge.key
        chown munge:munge /etc/munge/munge.key
        chmod 600 /etc/munge/munge.key
    fi
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    chmod 755 /run/munge
    log "starting munged"
    # --force: a stale socket left by a killed munged would otherwise stop it.
    runuser -u munge -- /usr/sbin/munged --force
    wait_for 15 "munge (munge -n | unmunge)" munge_ok
fi

# ---------------------------------------------------------------- MariaDB
mysql_ok() { mariadb-admin --protocol=socket -uroot ping >/dev/null 2>&1; }
if ! mysql_ok; then
    mkdir -p /run/mysqld /var/log/mysql
    chown mysql:mysql /run/mysqld /var/log/mysql
    if [[ ! -d /var/lib/mysql/mysql ]]; then
        log "initialising the MariaDB data directory"
        mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
    fi
    log "starting MariaDB (mysqld_safe)"
    setsid nohup mysqld_safe --skip-syslog --log-error="$MYSQL_LOG" \
        --innodb-lock-wait-timeout=900 --innodb-buffer-pool-size=512M </dev/null >/var/log/mysql/mysqld_safe.out 2>&1 &
    wait_for 60 "MariaDB (mariadb-admin ping)" mysql_ok
fi
mariadb --protocol=socket -uroot <<EOF || die "could not create the accounting database"
CREATE DATABASE IF NOT EXISTS $DB_NAME;
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASS';
ALTER USER '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASS';
GRANT ALL PRIVILEGES ON $DB_NAME.* TO '$DB_USER'@'localhost';
FLUSH PRIVILEGES;
EOF

# ---------------------------------------------------------------- slurmdbd
dbd_ok() { sacctmgr -n -P list cluster format=cluster >/dev/null 2>&1; }
if ! pid_alive /run/slurmdbd.pid slurmdbd; then
    log "starting slurmdbd"
    slurmdbd || die "slurmdbd did not start"
fi
wait_for 60 "slurmdbd (sacctmgr list cluster)" dbd_ok
if ! sacctmgr -n -P list cluster format=cluster | grep -qx "$CLUSTER_NAME"; then
    log "registering cluster $CLUSTER_NAME in the accounting database"
    sacctmgr -i add cluster "$CLUSTER_NAME" >/dev/null || die "sacctmgr add cluster failed"
fi
# "add cluster" creates the account root with the user root; make sure the association exists.
if ! sacctmgr -n -P list assoc cluster="$CLUSTER_NAME" user=root format=user | grep -qx root; then
    sacctmgr -i add user root account=root cluster="$CLUSTER_NAME" >/dev/null ||
        die "could not add an association for root"
fi

# ---------------------------------------------------------------- slurmctld / slurmd
if ! pid_alive /run/slurmctld.pid slurmctld; then
    log "starting slurmctld"
    slurmctld || die "slurmctld did not start"
fi
wait_for 30 "slurmctld (scontrol ping)" bash -c 'scontrol ping | grep -q "is UP"'
STARTED_NODES=()
SLURMD_STARTED_AT="$(date +%s)"
for n in "${NODES[@]}"; do
    if ! pid_alive "/run/slurmd-$n.pid" slurmd; then
        log "starting slurmd -N $n"
        slurmd -N "$n" || die "slurmd -N $n did not start"
        STARTED_NODES+=("$n")
    fi
done

# ---------------------------------------------------------------- wait until usable
# A node is usable when sinfo shows it idle, mixed or allocated (jobs of others may run);
# down/drained nodes (e.g. recovered from an old state) are resumed.
nodes_ready() {
    local out ok=0 n st
    out="$(sinfo -h -N -o '%N %t' 2>/dev/null)" || return 1
    for n in "${NODES[@]}"; do
        st="$(awk -v n="$n" '$1 == n {print $2; exit}' <<<"$out")"
        case "$st" in
        idle | mix | alloc) ok=$((ok + 1)) ;;
        down | drain | drng | fail | failg)
            scontrol update nodename="$n" state=resume >/dev/null 2>&1 || true ;;
        esac
    done
    ((ok == ${#NODES[@]})) || return 1
    # slurmctld may show a recovered node as idle before the new slurmd has registered.
    for n in "${STARTED_NODES[@]}"; do
        st="$(scontrol -o show node "$n" 2>/dev/null | grep -o 'SlurmdStartTime=[^ ]*' | cut -d= -f2)"
        [[ -n "$st" && "$st" != None ]] || return 1
        (($(date -d "$st" +%s 2>/dev/null || echo 0) >= SLURMD_STARTED_AT - 1)) || return 1
    done
}
deadline=$((SECONDS + TIMEOUT))
until nodes_ready; do
    if ((SECONDS >= deadline)); then
        sinfo -N -l >&2 || true
        scontrol show node node1 node2 2>&1 | grep -E 'NodeName|State|Reason' >&2 || true
        die "nodes not idle after ${TIMEOUT}s"
    fi
    sleep 0.5
done
wait_for 30 "sacct" sacct -n -X -S now-1minutes
# slurmctld registers itself with slurmdbd shortly after start; wait for it so that the
# first jobs' accounting records are not queued.
deadline=$((SECONDS + 30))
until [[ -n "$(sacctmgr -n -P list cluster "$CLUSTER_NAME" format=controlhost 2>/dev/null)" ]]; do
    if ((SECONDS >= deadline)); then
        log "warning: slurmctld has not registered with slurmdbd yet (see $SLURMCTLD_LOG)"
        break
    fi
    sleep 0.5
done

log "cluster $CLUSTER_NAME ready in $((SECONDS - t0))s: partitions '$PARTITION', '$PREEMPTIBLE_PARTITION' (GraceTime ${GRACE_TIME}s), '$URGENT_PARTITION', nodes ${NODES[*]} (CPUs=$CPUS RealMemory=${MEM_MB}MB gpu:8 each)"
sinfo
