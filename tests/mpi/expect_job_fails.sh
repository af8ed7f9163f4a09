#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Usage: expect_job_fails.sh LIMIT_SECONDS mpirun args...
# Passes when the MPI job exits non-zero on its own within LIMIT_SECONDS (a dead rank ends the
# job), fails when it succeeds or has to be killed by the timeout (a hang).
limit=$1; shift
start=$(date +%s)
timeout --kill-after=5 "$limit" "$@" >/dev/null 2>&1
rc=$?
elapsed=$(( $(date +%s) - start ))
if [[ $rc -eq 124 || $rc -eq 137 ]]; then
  echo "FAIL: the job hung (killed by the ${limit}s timeout)"; exit 1
fi
if [[ $rc -eq 0 ]]; then
  echo "FAIL: the job succeeded although a rank died"; exit 1
fi
echo "OK: the job failed with exit status $rc after ${elapsed}s (limit ${limit}s)"
