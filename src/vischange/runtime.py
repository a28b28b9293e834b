"""Job plumbing shared by every stage: device choice, seeding, logging, atomic writes."""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import json
import logging
import os
import random
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np

if TYPE_CHECKING:
    import torch

# torch is imported where it is used, not here: its import costs seconds of CPU per job
# (the CUDA wheel's libraries), and the tables, figures and the paper's jobs never need it.

log = logging.getLogger("vischange")


def pick_device(preference: str = "auto") -> torch.device:
    """CUDA when present (or asked for), else the CPU; `preference` in {auto, cpu, cuda}."""
    import torch

    if preference == "cpu":
        return torch.device("cpu")
    if preference == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("config device is 'cuda' but torch.cuda.is_available() is False")
    if preference in ("cuda", "auto") and torch.cuda.is_available():
        return torch.device("cuda", claim_gpu(torch.cuda.device_count()))
    if preference not in ("auto", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, got {preference!r}")
    return torch.device("cpu")


def gpu_request(device: str, local: bool) -> int:
    """GPUs a network job asks the scheduler for (its `resources: gpu`): 0 or 1.

    0 where the job cannot use one: `device` 'cpu', or 'auto' on a local run that sees
    no CUDA GPU. There the tag would only make the workstation profile's `gpu: 1` limit
    run CPU jobs one after another. A cluster submission or a dry run (`local` False)
    keeps the tag: the submitting machine's GPUs say nothing of the nodes'.
    """
    if device == "cpu":
        return 0
    if device == "auto" and local:
        import torch

        return int(torch.cuda.device_count() > 0)
    return 1


def side_by_side_threads(most: int, cores: int | None) -> int:
    """CPU threads of a network job in the wide part of the DAG (fine-tuning, which runs
    beside the base network's jobs, and everything after it):
    `most`, but at most half of the run's `cores` (at least 1), so that two such jobs
    run at once. Their CPU work is short and largely single-threaded (process start,
    imports, small batches), so on few cores two jobs side by side finish sooner than
    one job on every core. `cores` None (a cluster job, a dry run): `most`.
    """
    if not cores:
        return most
    return max(1, min(most, cores // 2))


_CLAIMED: list = []  # open lock files, held until the process exits


def claim_gpu(count: int, lock_dir: str | os.PathLike | None = None) -> int:
    """Index of a GPU no other vischange job on this machine holds; the claim lasts until exit.

    Snakemake counts GPU jobs (`--resources gpu=N`) but does not say which GPU a job
    gets, so every job would otherwise pick cuda:0. Each GPU has a lock file; a job
    takes the first free one (an exclusive, non-blocking flock that the OS releases when
    the process ends, also on a crash). With one visible GPU (a workstation with one,
    or a SLURM job, which sees only its own) no lock is taken.
    """
    if count <= 1:
        return 0
    import fcntl
    import tempfile

    folder = Path(lock_dir or Path(tempfile.gettempdir()) / "vischange-gpu-locks")
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        handle = open(folder / f"gpu{index}.lock", "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        _CLAIMED.append(handle)
        return index
    log.warning("all %d GPUs are held by other vischange jobs; sharing cuda:0", count)
    return 0


def derive_seed(*parts: int | str) -> int:
    """A stable 63-bit seed from integers and strings (unlike hash(), not salted per process)."""
    words = []
    for part in parts:
        if isinstance(part, str):
            words.extend(part.encode())
        else:
            words.append(int(part))
    return int(np.random.SeedSequence(words).generate_state(2, np.uint32).view(np.uint64)[0] >> 1)


def seeded_subset(n: int, max_n: int, seed: int) -> np.ndarray:
    """Sorted int64 indices of up to `max_n` of `n` items: a seeded random subset (numpy
    Generator, without replacement); all of them, in order, when there are no more.
    Stages draw their image samples with it, so that one seed gives one sample."""
    if n <= max_n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_n, replace=False))


def setup_logging(log_path: str | os.PathLike | None) -> logging.Logger:
    """Log to `log_path` (and stderr); also send stray stderr (tqdm, warnings) to the file."""
    handlers: list[logging.Handler] = []
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        stream = open(log_path, "a", buffering=1)
        # tqdm and Python warnings write to sys.stderr: keep them in the job's log.
        sys.stderr = stream
        handlers.append(logging.StreamHandler(stream))
    else:
        handlers.append(logging.StreamHandler(sys.stderr))
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )
    return log


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling path; move it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write JSON atomically, keys in insertion order, floats as Python prints them."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")


def write_csv(path: str | os.PathLike, frame) -> None:
    """Write a DataFrame as CSV atomically, with a fixed float format so reruns compare byte-wise."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, lineterminator="\n", float_format="%.6g")


class _WhenImported(importlib.abc.MetaPathFinder):
    """Calls `then(module)` once the top-level module `name` has finished importing."""

    def __init__(self, name: str, then: Callable[[Any], None]):
        self.name, self.then = name, then

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)  # one shot; the real finders locate the module
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        loader, then = spec.loader, self.then

        class Loader(importlib.abc.Loader):
            def create_module(self, spec):
                return loader.create_module(spec)

            def exec_module(self, module):
                loader.exec_module(module)
                then(module)

        spec.loader = Loader()
        return spec


def _configure_torch(torch: Any, threads: int, seed: int) -> None:
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    # warn_only: a few CUDA kernels have no deterministic version; CPU ones all do.
    torch.use_deterministic_algorithms(True, warn_only=True)
    if torch.cuda.is_available():
        torch.backends.cudnn.benchmark = False


def start_job(snakemake: Any, seed: int | None = None, *, torch: bool = False) -> torch.device | None:
    """Common start of every script: log file, CPU threads, seeds, device.

    `snakemake` is the object Snakemake injects into `script:` files. With `torch` (a job
    that runs a network), or when the job's imports already loaded torch, torch is set up
    now and the job's device returned. Otherwise (tables, figures) torch is not imported,
    which saves seconds per job, and None is returned; should the job import torch later,
    torch gets the same threads and seed the moment its import finishes.
    """
    setup_logging(snakemake.log[0] if len(snakemake.log) else None)
    params = snakemake.params
    seed = int(seed if seed is not None else getattr(params, "seed", 0))
    threads = max(1, int(snakemake.threads))
    random.seed(seed)
    np.random.seed(seed % 2**32)
    if not torch and "torch" not in sys.modules:
        sys.meta_path.insert(0, _WhenImported("torch", lambda torch: _configure_torch(torch, threads, seed)))
        log.info("rule %s without torch, seed %d", snakemake.rule, seed)
        return None
    import torch as torch_

    _configure_torch(torch_, threads, seed)
    device = pick_device(getattr(params, "device", "auto"))
    log.info("rule %s on %s, %d threads, seed %d", snakemake.rule, device, torch_.get_num_threads(), seed)
    return device


def write_npz(path: str | os.PathLike, arrays: dict, *, compressed: bool = False) -> None:
    """Write named numpy arrays to an .npz file atomically (``np.savez``, or
    ``np.savez_compressed`` with `compressed`)."""
    save = np.savez_compressed if compressed else np.savez
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            save(handle, **arrays)


def read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every array of an .npz file, loaded into memory (no pickled objects)."""
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}
