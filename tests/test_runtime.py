"""Runtime helpers: GPU claims between concurrent jobs."""

import subprocess
import sys

from vischange import runtime


def test_claim_gpu_gives_concurrent_jobs_different_gpus(tmp_path):
    # Another process (a second job) holds GPU 0 while this one claims.
    holder = subprocess.Popen(
        [sys.executable, "-c", f"from vischange import runtime; import sys; print(runtime.claim_gpu(2, {str(tmp_path)!r}), flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "0"
        assert runtime.claim_gpu(2, tmp_path) == 1
        assert runtime.claim_gpu(2, tmp_path) == 0  # everything held: falls back to 0, warns
    finally:
        holder.communicate("")
    # The holder exited, which released its GPU.
    assert runtime.claim_gpu(3, tmp_path) == 0


def test_claim_gpu_single_gpu_takes_no_lock(tmp_path):
    assert runtime.claim_gpu(1, tmp_path) == 0
    assert not any(tmp_path.iterdir())
