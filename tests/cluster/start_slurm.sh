#!/usr/bin/env bash
# Install (where missing) and start a single-node SLURM cluster on this machine, as root.
# State, spool, logs and PID files go to a temporary folder, printed on the last line;
# stop the cluster with tests/cluster/stop_slurm.sh <that folder>.
# The node advertises two fake GPUs (GRES whose device files are /dev/null and /dev/zero),
# so jobs that ask for a GPU are scheduled and then run on the CPU.
# See ../shared/notes/slurm-single-node.md for why each setting is there.
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
    echo "start_slurm.sh: needs root (it installs packages and starts daemons)" >&2
    exit 2
fi
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null \
    || ! command -v sbatch >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        slurmctld slurmd slurm-client munge >/dev/null
fi

state=$(mktemp -d /tmp/slurm.XXXXXX)
host=$(hostname -s)
mkdir -p "$state"/{ctld,d,log} /run/munge /etc/slurm
chown munge:munge /run/munge
[[ -f /etc/munge/munge.key ]] || (mungekey --create 2>/dev/null || create-munge-key -f)
pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged

# The node's CPUs and memory as slurmd sees them, memory lowered to leave room for the system.
node=$(slurmd -C | head -n1)
memory=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$node")
node=$(sed "s/RealMemory=[0-9]*/RealMemory=$((memory * 9 / 10))/" <<<"$node")

# The plugin strips SLURM_* variables (SLURM_CONF included) from its job steps: the
# config must be at the default path. Configs already there are kept aside for stop_slurm.sh.
for conf in slurm.conf gres.conf; do
    [[ -f /etc/slurm/$conf ]] && cp -p "/etc/slurm/$conf" "$state/$conf.before"
done
cat >/etc/slurm/slurm.conf <<CONF
ClusterName=mirtransfer-test
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MinJobAge=600
GresTypes=gpu
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/d
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
$node Gres=gpu:2 State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
cat >/etc/slurm/gres.conf <<CONF
NodeName=$host Name=gpu File=/dev/null,/dev/zero
CONF

slurmctld
slurmd
for _ in $(seq 30); do
    if sinfo -h -o %t 2>/dev/null | grep -qx idle; then
        echo "$state"
        exit 0
    fi
    sleep 1
done
echo "start_slurm.sh: the node did not become idle; logs in $state/log" >&2
sinfo >&2 || true
exit 1
