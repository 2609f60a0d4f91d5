#!/usr/bin/env bash
# A real one-node SLURM cluster on this host, for tests and demos (Debian packages; run as root).
#   slurm/local_cluster.sh start   install if needed, write slurm.conf, start munged/slurmctld/slurmd, wait until idle
#   slurm/local_cluster.sh stop    stop the three daemons by their pid files
#   slurm/local_cluster.sh status  sinfo, or 'down'
set -euo pipefail
RUN=/run/vqbench-slurm
CONF=/etc/slurm/slurm.conf
PACKAGES="slurmctld slurmd slurm-client munge"

need_root() { [ "$(id -u)" = 0 ] || { echo "local_cluster.sh must run as root (it starts system daemons)" >&2; exit 2; }; }

install() {
  if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null \
     || ! command -v sinfo >/dev/null || ! command -v rsync >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $PACKAGES rsync >/dev/null
  fi
}

write_conf() {
  local host cpus mem
  host=$(hostname -s)
  cpus=$(nproc)
  mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
  mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm "$RUN"
  # proctrack/linuxproc and task/none: containers and VMs here have no usable cgroup tree for slurmd.
  cat > "$CONF" <<CONF
ClusterName=vqbench
SlurmctldHost=${host}(127.0.0.1)
AuthType=auth/munge
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=${RUN}/slurmctld.pid
SlurmdPidFile=${RUN}/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MaxArraySize=1001
JobRequeue=1
DependencyParameters=kill_invalid_depend
KillWait=30
MinJobAge=600
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
NodeName=${host} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${mem} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
}

start_munge() {
  if [ -f "$RUN/munged.pid" ] && kill -0 "$(cat "$RUN/munged.pid")" 2>/dev/null; then return; fi
  mkdir -p /etc/munge /var/lib/munge /var/log/munge /run/munge
  [ -s /etc/munge/munge.key ] || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  chown -R munge:munge /etc/munge /var/lib/munge /var/log/munge /run/munge
  chmod 0400 /etc/munge/munge.key
  chmod 0700 /etc/munge /var/lib/munge /var/log/munge
  chmod 0755 /run/munge
  runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
  cp /run/munge/munged.pid "$RUN/munged.pid"
}

start() {
  need_root
  install
  write_conf
  start_munge
  for d in slurmctld slurmd; do
    if [ -f "$RUN/$d.pid" ] && kill -0 "$(cat "$RUN/$d.pid")" 2>/dev/null; then continue; fi
    "/usr/sbin/$d"
  done
  for _ in $(seq 1 120); do
    state=$(sinfo -h -o %T 2>/dev/null | head -1 || true)
    if [ "$state" = "idle" ] || [ "$state" = "mixed" ] || [ "$state" = "allocated" ]; then
      echo "slurm cluster up: $(sinfo -h -o '%P %D %T %c cpus' | head -1)"; return 0
    fi
    if [ "$state" = "down" ] || [ "$state" = "drained" ]; then
      scontrol update nodename="$(hostname -s)" state=resume >/dev/null 2>&1 || true
    fi
    sleep 0.5
  done
  echo "slurm did not come up; see /var/log/slurm/*.log" >&2
  tail -n 20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
  exit 1
}

stop() {
  need_root
  for d in slurmd slurmctld munged; do
    if [ -f "$RUN/$d.pid" ]; then
      kill "$(cat "$RUN/$d.pid")" 2>/dev/null || true
      rm -f "$RUN/$d.pid"
    fi
  done
  echo "slurm cluster stopped"
}

status() { sinfo 2>/dev/null || echo down; }

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
