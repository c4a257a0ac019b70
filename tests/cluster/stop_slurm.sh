#!/usr/bin/env bash
# Stop the cluster that start_slurm.sh started: its daemons, by their PID files.
set -uo pipefail
state=${1:?usage: stop_slurm.sh <state folder printed by start_slurm.sh>}
for pid in "$state"/slurmd.pid "$state"/slurmctld.pid; do
    [[ -f $pid ]] && kill "$(cat "$pid")" 2>/dev/null
done
exit 0
