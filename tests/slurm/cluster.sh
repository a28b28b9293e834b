#!/usr/bin/env bash
# A single-node SLURM cluster with accounting, for the executor test (tests/test_slurm.py).
#
#   tests/slurm/cluster.sh install   apt-get the Debian packages (root)
#   tests/slurm/cluster.sh start     write the configs, start munge, MariaDB, slurmdbd,
#                                    slurmctld, slurmd; create the test account
#   tests/slurm/cluster.sh stop      stop the daemons
#
# The node declares one GPU without hardware (gres.conf: File=/dev/null) so the test can
# check that GPU-tagged rules, and only they, are granted a GPU. Snakemake's SLURM
# executor polls sacct, so accounting (slurmdbd + MariaDB) is required.
# Needs root and is meant for throwaway machines (CI); it refuses to overwrite a
# slurm.conf it did not write.
set -euo pipefail

ACCOUNT=vischange
PARTITION=debug
MARK="# written by vischange tests/slurm/cluster.sh"
ETC=/etc/slurm
STATE=/var/lib/vischange-slurm
LOGDIR=/var/log/vischange-slurm

need_root() { [ "$(id -u)" = 0 ] || { echo "cluster.sh: run as root" >&2; exit 1; }; }

install() {
    need_root
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq slurm-wlm slurmdbd munge mariadb-server >/dev/null
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
    local seconds=$1 what=$2; shift 2
    for _ in $(seq "$seconds"); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 1
    done
    echo "cluster.sh: $what did not come up in ${seconds}s" >&2
    tail -n 20 "$LOGDIR"/*.log >&2 || true
    exit 1
}

write_configs() {
    local host cpus mem
    host=$(hostname -s)
    cpus=$(nproc)
    mem=$(( $(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) * 8 / 10 ))
    mkdir -p "$ETC" "$STATE"/ctld "$STATE"/d "$LOGDIR"
    if [ -f "$ETC/slurm.conf" ] && ! grep -qF "$MARK" "$ETC/slurm.conf"; then
        echo "cluster.sh: $ETC/slurm.conf exists and was not written by this script; not touching it" >&2
        exit 1
    fi
    cat > "$ETC/slurm.conf" <<EOF
$MARK
ClusterName=vischange
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldLogFile=$LOGDIR/slurmctld.log
SlurmdLogFile=$LOGDIR/slurmd.log
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$((mem / cpus))
ReturnToService=2
MpiDefault=none
GresTypes=gpu
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=$host
AccountingStorageTRES=gres/gpu
AccountingStorageEnforce=associations
JobAcctGatherType=jobacct_gather/none
MinJobAge=300
AccountingStoreFlags=job_comment
NodeName=$host CPUs=$cpus RealMemory=$mem Gres=gpu:1 State=UNKNOWN
PartitionName=$PARTITION Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    cat > "$ETC/gres.conf" <<EOF
$MARK
Name=gpu File=/dev/null
EOF
    cat > "$ETC/slurmdbd.conf" <<EOF
$MARK
AuthType=auth/munge
DbdHost=$host
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
LogFile=$LOGDIR/slurmdbd.log
PidFile=$STATE/slurmdbd.pid
EOF
    chmod 600 "$ETC/slurmdbd.conf"
}

start() {
    need_root
    command -v slurmctld >/dev/null || { echo "cluster.sh: SLURM is not installed; run '$0 install' first" >&2; exit 1; }
    write_configs
    # munge: a key once, the daemon as the munge user.
    if [ ! -s /etc/munge/munge.key ]; then mungekey -c -f -k /etc/munge/munge.key; fi
    chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
    mkdir -p /run/munge && chown munge:munge /run/munge
    pgrep -x munged >/dev/null || su -s /bin/sh munge -c /usr/sbin/munged
    wait_for 20 munge munge -n
    # MariaDB for slurmdbd.
    if ! pgrep -x mariadbd >/dev/null && ! pgrep -x mysqld >/dev/null; then
        mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
        (mysqld_safe >"$LOGDIR/mysqld_safe.log" 2>&1 &)
    fi
    wait_for 60 MariaDB mysqladmin ping
    mysql -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm';
              GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
    pgrep -x slurmdbd >/dev/null || slurmdbd
    wait_for 60 slurmdbd sacctmgr -n list cluster
    sacctmgr -i add cluster vischange >/dev/null 2>&1 || true
    pgrep -x slurmctld >/dev/null || slurmctld
    wait_for 60 slurmctld scontrol ping
    pgrep -x slurmd >/dev/null || slurmd
    wait_for 60 "the compute node" sh -c "sinfo -h -o %T | grep -qE 'idle|mixed|allocated'"
    sacctmgr -i add account "$ACCOUNT" cluster=vischange >/dev/null 2>&1 || true
    sacctmgr -i add user root account="$ACCOUNT" cluster=vischange >/dev/null 2>&1 || true
    # The controller learns new associations from slurmdbd; wait until it accepts jobs.
    wait_for 60 "the test account" srun -A "$ACCOUNT" -p "$PARTITION" -t 1 true
    echo "cluster.sh: SLURM up (partition $PARTITION, account $ACCOUNT, $(nproc) CPUs, 1 GPU declared)"
}

stop() {
    need_root
    for daemon in slurmd slurmctld slurmdbd; do pkill -x "$daemon" || true; done
    mysqladmin shutdown 2>/dev/null || true
    pkill -x munged || true
}

case "${1:-}" in
    install) install ;;
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 install|start|stop" >&2; exit 2 ;;
esac
