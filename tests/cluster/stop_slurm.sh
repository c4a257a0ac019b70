#!/usr/bin/env bash
# Stop the cluster that start_slurm.sh started: its daemons, by their PID files; then put
# back the SLURM configs that were there before, or remove the test's. A config left behind
# without its controller makes every later `scontrol` (which the Snakemake SLURM plugin calls
# when it loads, in every snakemake run) wait about 9 s for an answer.
set -uo pipefail
state=${1:?usage: stop_slurm.sh <state folder printed by start_slurm.sh>}
for pid in "$state"/slurmd.pid "$state"/slurmctld.pid; do
    [[ -f $pid ]] && kill "$(cat "$pid")" 2>/dev/null
done
for conf in slurm.conf gres.conf; do
    if [[ -f $state/$conf.before ]]; then
        cp -p "$state/$conf.before" "/etc/slurm/$conf"
    else
        rm -f "/etc/slurm/$conf"
    fi
done
exit 0
