#!/bin/bash
# A vnetlab sweep as a Slurm job array: each array task runs a deterministic 1/N of the points into its
# own store; a second job, started when all tasks succeeded, merges the stores and writes the report.
#
#   sbatch docs/cluster/slurm-sweep.sh          # from the vnetlab checkout, after `npm ci`
#
# vnetlab reads its shard from SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT and SLURM_ARRAY_TASK_MIN, so
# the array must be one contiguous range (0-7 here: 8 shards). Re-submitting the same script after a
# failure or a time-out resumes: each task runs only the points its store lacks.
#SBATCH --job-name=vnetlab-sweep
#SBATCH --array=0-7
#SBATCH --cpus-per-task=4
#SBATCH --mem=4G
#SBATCH --time=02:00:00
#SBATCH --output=results/%x-%A_%a.log
set -euo pipefail

cd "${SLURM_SUBMIT_DIR:-.}"
mkdir -p results

# One store per task: one writer per SQLite file, and WAL's same-host rule holds on a shared file
# system. If yours has no POSIX locks (some NFS mounts), use node-local disk and copy the file out.
STORE="results/shard-${SLURM_ARRAY_TASK_ID}.sqlite"

node bin/vnetlab.js sweep seed-torrent \
  --set duration=30s \
  --grid guest.driver.version=v3.2,patch1,rfc-v1,mainline \
  --grid guest.memory=384MiB,512MiB,768MiB \
  --grid guest.hz=100,250,1000 \
  --seeds 5 \
  --jobs "${SLURM_CPUS_PER_TASK:-1}" \
  --store "$STORE"

# The last task to finish submits nothing; the merge runs as its own job once the whole array is done:
#   sbatch --dependency=afterok:<array job id> --wrap \
#     'node bin/vnetlab.js merge results/shard-*.sqlite -o results/all.sqlite && node bin/vnetlab.js report results/all.sqlite'
