#!/bin/bash
# A vnetlab sweep as a Slurm job array: each array task runs a deterministic 1/N of the points into its
# own store; a second job, started when all tasks succeeded, merges the stores and writes the report.
#
#   mkdir -p results && sbatch docs/cluster/slurm-sweep.sh     # from the vnetlab checkout, after `npm ci`
#
# results/ must exist before sbatch: Slurm opens the --output file before the script runs, and a task
# whose log directory is missing fails without a log. Array task i (0-based) runs shard i+1 of
# VNETLAB_SHARD_COUNT (8 here, the size of --array=0-7). Re-submitting after a failure or a time-out
# resumes: each task runs only the points its store lacks. To rerun one task, resubmit just its index
# (`sbatch --array=3 docs/cluster/slurm-sweep.sh`): the shard comes from the index and
# VNETLAB_SHARD_COUNT, not from Slurm's SLURM_ARRAY_TASK_COUNT, which counts only that submission.
#
# Arguments after the script name replace the sweep below (scenario and flags, without --jobs/--store):
#   VNETLAB_SHARD_COUNT=3 sbatch --array=0-2 docs/cluster/slurm-sweep.sh seed-torrent --grid guest.hz=100,1000
# VNETLAB_RESULTS (default results) is where the stores go; sbatch passes the environment to the tasks.
#SBATCH --job-name=vnetlab-sweep
#SBATCH --array=0-7
#SBATCH --cpus-per-task=4
#SBATCH --mem=4G
#SBATCH --time=02:00:00
#SBATCH --output=results/%x-%A_%a.log
set -euo pipefail

# Slurm runs a copy of this script from its spool directory: find the checkout from where sbatch ran.
cd "${SLURM_SUBMIT_DIR:?submit this script with sbatch from the vnetlab checkout}"
export VNETLAB_SHARD_COUNT="${VNETLAB_SHARD_COUNT:-8}"
RESULTS="${VNETLAB_RESULTS:-results}"
mkdir -p "$RESULTS"

# One store per task: one writer per SQLite file, and WAL's same-host rule holds on a shared file
# system. If yours has no POSIX locks (some NFS mounts), use node-local disk and copy the file out.
STORE="$RESULTS/shard-${SLURM_ARRAY_TASK_ID}.sqlite"

if [ $# -eq 0 ]; then
  set -- seed-torrent \
    --set duration=30s \
    --grid guest.driver.version=v3.2,patch1,rfc-v1,mainline \
    --grid guest.memory=384MiB,512MiB,768MiB \
    --grid guest.hz=100,250,1000 \
    --seeds 5
fi
node bin/vnetlab.js sweep "$@" --jobs "${SLURM_CPUS_PER_TASK:-1}" --store "$STORE"

# The merge runs as its own job once the whole array has succeeded:
#   sbatch --dependency=afterok:<array job id> --wrap \
#     'node bin/vnetlab.js merge results/shard-*.sqlite -o results/all.sqlite && node bin/vnetlab.js report results/all.sqlite'
# A task cancelled or failed leaves that dependency unsatisfiable: resubmit the task, then merge after it
# (--dependency=afterok:<resubmitted job id>) or by hand.
