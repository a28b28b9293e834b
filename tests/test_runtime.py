"""Runtime helpers: GPU claims between concurrent jobs; MKL's reproducible mode; npz files."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

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


@pytest.mark.skipif(not torch.backends.mkl.is_available(), reason="this torch has no oneMKL")
@pytest.mark.parametrize("order", ["import torch, vischange", "import vischange, torch"])
def test_importing_vischange_puts_mkl_in_reproducible_mode(order):
    """oneMKL (CPU FFT and GEMM) must run with CNR on and dynamic threading off, whatever
    was imported first, once the thread count is set as every job sets it
    (runtime.start_job); MKL_VERBOSE reports the mode of every call it makes."""
    env = {k: v for k, v in os.environ.items() if k not in ("MKL_CBWR", "MKL_DYNAMIC", "OMP_DYNAMIC")}
    code = f"{order}; torch.set_num_threads(2); torch.fft.irfft2(torch.rand(2, 3, 8, 5, dtype=torch.complex64)); torch.rand(600, 3) @ torch.rand(3, 3)"
    proc = subprocess.run([sys.executable, "-c", code], env={**env, "MKL_VERBOSE": "1"}, capture_output=True, text=True, check=True)
    calls = [line for line in proc.stdout.splitlines() if re.match(r"MKL_VERBOSE (FFT|SGEMM)", line)]
    assert {line.split("(")[0].split()[1] for line in calls} >= {"FFT", "SGEMM"}, proc.stdout[-2000:]
    modes = {re.search(r"CNR:(\S+) Dyn:(\d)", line).groups() for line in calls}
    assert modes == {("AUTO", "0")}, modes


def test_a_users_own_mkl_setting_wins():
    env = {**os.environ, "MKL_CBWR": "COMPATIBLE"}
    code = "import vischange, os; print(os.environ['MKL_CBWR'])"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "COMPATIBLE"


@pytest.mark.parametrize("compressed", [False, True])
def test_npz_round_trip(tmp_path, compressed):
    arrays = {"acts": np.arange(6, dtype=np.float32).reshape(2, 3), "names": np.array(["a", "b"])}
    runtime.write_npz(tmp_path / "x.npz", arrays, compressed=compressed)
    back = runtime.read_npz(tmp_path / "x.npz")
    assert list(back) == ["acts", "names"]
    assert all(np.array_equal(back[k], v) and back[k].dtype == v.dtype for k, v in arrays.items())
    assert [p.name for p in tmp_path.iterdir()] == ["x.npz"]  # no temporary file left


def test_seeded_subset_is_sorted_distinct_and_set_by_its_seed():
    picks = runtime.seeded_subset(100, 10, seed=3)
    assert picks.dtype.kind == "i" and len(set(picks)) == 10 and (np.diff(picks) > 0).all() and picks.max() < 100
    again, other = runtime.seeded_subset(100, 10, seed=3), runtime.seeded_subset(100, 10, seed=4)
    assert picks.tolist() == again.tolist() != other.tolist()
    assert runtime.seeded_subset(5, 10, seed=3).tolist() == [0, 1, 2, 3, 4]
    assert runtime.seeded_subset(10, 10, seed=3).tolist() == list(range(10))


def _job(code: str) -> list[str]:
    """Run `code` after start_job in a fresh interpreter (as a script job runs); its printed lines."""
    setup = (
        "import sys, types\n"
        "from vischange import runtime\n"
        "job = types.SimpleNamespace(log=[], threads=1, rule='r', params=types.SimpleNamespace(seed=7, device='cpu'))\n"
    )
    proc = subprocess.run([sys.executable, "-c", setup + code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.split()


def test_a_job_without_torch_never_imports_it():
    out = _job("print(runtime.start_job(job)); import vischange.render.png, vischange.compare.figures; print('torch' in sys.modules)")
    assert out == ["None", "False"]


def test_torch_imported_after_start_job_gets_the_jobs_threads_and_seed():
    # What an eager start (torch=True) gives, and the same after a late import.
    code = "print(torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(), torch.rand(3).tolist())"
    eager = _job("device = runtime.start_job(job, torch=True); import torch; print(device); " + code)
    late = _job("assert runtime.start_job(job) is None; import torch; " + code)
    assert eager[0] == "cpu" and eager[1:] == late
    assert late[:2] == ["1", "True"]
    other_seed = _job("job.params.seed = 8; runtime.start_job(job); import torch; " + code)
    assert other_seed[2:] != late[2:]


def test_gpu_request_drops_the_tag_only_where_no_gpu_can_be_used(monkeypatch):
    import torch

    assert runtime.gpu_request("cpu", local=True) == 0
    assert runtime.gpu_request("cpu", local=False) == 0  # a CPU config asks a cluster for no GPU
    assert runtime.gpu_request("cuda", local=True) == 1
    assert runtime.gpu_request("auto", local=False) == 1  # the nodes' GPUs are not the login node's
    for count, expected in ((0, 0), (1, 1), (4, 1)):
        monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
        assert runtime.gpu_request("auto", local=True) == expected


def test_side_by_side_threads_leaves_room_for_a_second_job():
    assert runtime.side_by_side_threads(4, 2) == 1
    assert runtime.side_by_side_threads(4, 1) == 1
    assert runtime.side_by_side_threads(4, 6) == 3
    assert runtime.side_by_side_threads(4, 64) == 4
    assert runtime.side_by_side_threads(8, None) == 8  # a cluster job or a dry run: as the rule asks
