"""The real study's configs plan on a machine with no data, and the download -> verify ->
extract -> prepare path runs through Snakemake against a local HTTP server."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from vischange import models

from .conftest import REPO, run_snakemake, write_config
from .stanford_fixtures import DOG_BREEDS, add_bytes, jpeg_bytes, make_cars_devkit, make_dogs, md5, serve

pytestmark = pytest.mark.workflow

GPU_RULE = re.compile(
    r"^(pretrain|finetune|render_chunk\d+|render_null_chunk\d+|render_examples|compare_features|compare_null|task_head|attribution|topmaps_scan|topmaps_render|atlas_collect|atlas_icons|patches_render_\w+|patches_experiment_\w+|domain_scan|activation_change)$"
)
CHUNK_RULE = re.compile(r"^render_chunk\d+$")
NULL_CHUNK_RULE = re.compile(r"^render_null_chunk\d+$")

# Which rules Snakemake would keep on the submitting machine: a dry run does not say
# (it leaves that to the executor), so ask the parsed workflow.
_PROBE = """
import json, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import ConfigSettings, DAGSettings, OutputSettings, ResourceSettings
with SnakemakeApi(OutputSettings()) as api:
    wf = api.workflow(resource_settings=ResourceSettings(cores=1), config_settings=ConfigSettings(configfiles=[Path(sys.argv[2])]),
                      snakefile=Path(sys.argv[1]), workdir=Path(sys.argv[3]))
    wf.dag(DAGSettings())
    print("PROBE" + json.dumps(sorted(wf._workflow._localrules)))
"""


def plan(stdout: str) -> tuple[dict[str, int], dict[str, str]]:
    """Job counts per rule and the resources line of each rule, from a dry run's output."""
    counts = {}
    table = stdout.split("Job stats:")[1].split("Reasons:")[0]
    for line in table.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] != "total":
            counts[parts[0]] = int(parts[1])
    resources = {}
    for block in re.split(r"\n(?=rule )", stdout):
        name = re.match(r"rule (\S+):", block)
        line = re.search(r"^\s+resources: (.*)$", block, re.M)
        if name and line:
            resources[name.group(1)] = line.group(1)
    return counts, resources


@pytest.mark.parametrize("name, downloads", [("dogs", 2), ("cars", 4)])
def test_real_configs_plan_the_whole_study_without_data(tmp_path, name, downloads):
    configfile = REPO / "config" / f"{name}.yaml"
    cfg = yaml.safe_load(configfile.read_text())
    # The user-given target domain: its folder must exist for the plan to include the
    # domain stage (its images are read only when target_data runs).
    target = tmp_path / cfg["domain"]["folder"]
    target.mkdir(parents=True)
    proc = run_snakemake(tmp_path, "-n", configfile=configfile, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-4000:]
    counts, resources = plan(proc.stdout)
    assert counts["download"] == downloads
    for rule in ("stanford_data", "base_weights", "finetune", "compare_channels", "figure_render_pairs"):
        assert counts[rule] == 1, rule
    for rule in ("task_head", "attribution", "topmaps_scan", "topmaps_render", "topmaps_summary", "atlas_collect",
                 "domain_scan", "domain_summary"):
        assert counts[rule] == 2, rule  # one per network
    # the target domain: a user-given folder, read when the job runs (not needed to plan)
    assert counts["target_data"] == 1 and counts["domain_compare"] == 1
    assert counts["atlas_icons"] == 2 * cfg["atlas"]["icons"]["shards"]
    for rule in ("atlas_layout", "atlas_images", "atlas_figures"):
        assert counts[rule] == 1, rule
    # Atlas patches: both directions of each fine-tuned pair; the base network's pairs are
    # skipped (torchvision weights come without a test set of their classes).
    pairs = len((cfg["atlas"].get("class_pairs") or {}).get("finetuned", []))
    for step in ("patches_render", "patches_experiment", "patches_summary"):
        assert counts.get(f"{step}_finetuned", 0) == (1 if pairs else 0), step  # one job, both directions
        assert f"{step}_base" not in counts, step
    # Every channel of the four fine-tuned blocks, in both networks.
    per_net = -(-(1024 + 3 * 2048) // cfg["render"]["chunk_size"])
    assert sum(n for rule, n in counts.items() if CHUNK_RULE.match(rule)) == 2 * per_net
    # The null experiment renders every channel of the base network once more (its null seeds).
    assert sum(n for rule, n in counts.items() if NULL_CHUNK_RULE.match(rule)) == per_net
    assert counts["compare_null"] == 1
    for rule, line in resources.items():
        assert ("gpu=1" in line) == bool(GPU_RULE.match(rule)), (rule, line)
    target.rmdir()
    target.parent.rmdir()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".snakemake"], "a dry run must not write data"


def test_a_missing_target_folder_leaves_only_the_domain_stage_out(tmp_path):
    """Without the user's target folder the study still runs, with a warning naming the key."""
    configfile = REPO / "config" / "dogs.yaml"
    proc = run_snakemake(tmp_path, "-n", configfile=configfile, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-4000:]
    counts, _ = plan(proc.stdout)
    assert counts["finetune"] == 1 and counts["topmaps_scan"] == 2
    assert not {"target_data", "domain_scan", "domain_summary", "domain_compare"} & set(counts)
    assert "domain.folder" in proc.stdout + proc.stderr  # the logger writes warnings at parse time to stdout


def test_downloads_are_local_jobs_and_gpu_jobs_are_not(tmp_path):
    configfile = REPO / "config" / "dogs.yaml"
    probe = subprocess.run(
        [sys.executable, "-c", _PROBE, str(REPO / "Snakefile"), str(configfile), str(tmp_path)],
        capture_output=True, text=True, timeout=1200,
    )
    assert probe.returncode == 0, probe.stderr[-4000:]
    local = json.loads(probe.stdout.split("PROBE")[1])
    assert {"download", "base_weights"} <= set(local)
    assert not {"stanford_data", "finetune"} & set(local)
    assert not any(GPU_RULE.match(rule) for rule in local)


def _base_weights(folder: Path) -> Path:
    """A resnet18 state_dict standing in for the ImageNet weights (offline: model.base.source file)."""
    path = folder / "resnet18-weights.pth"
    if not path.exists():
        torch.manual_seed(0)
        torch.save(models.build("resnet18", 10).state_dict(), path)
    return path


def _config(tmp_path: Path, url: str, dogs: dict, local: tuple[str, ...] = (), **overrides) -> Path:
    """A test.yaml variant on Stanford Dogs served at `url`; files named in `local` are given by path."""

    def spec(file: Path) -> dict:
        if file.name in local:
            return {"url": None, "path": str(file), "checksum": md5(file)}
        return {"url": f"{url}/{file.name}", "path": None, "checksum": md5(file)}

    weights = _base_weights(tmp_path)
    return write_config(
        tmp_path / "stanford.yaml",
        REPO / "config/test.yaml",
        **{
            "experiment": "stanford",
            "data.source": "stanford_dogs",
            "data.synthetic": None,
            "data.val_fraction": 0.25,
            "data.stanford_dogs": {"images": spec(dogs["images"]), "lists": spec(dogs["lists"])},
            "model.base": {"source": "file", "path": str(weights), "checksum": md5(weights)},
            # The synthetic target domain needs synthetic data; the stage is tested elsewhere.
            "domain": {"source": "none"},
            **overrides,
        },
    )


def test_stanford_dogs_from_a_local_server_through_snakemake(tmp_path):
    """Download, verify, extract, prepare (one corrupt image excluded), then fine-tune on it."""
    bad = f"{DOG_BREEDS[0]}/{DOG_BREEDS[0].split('-')[0]}_2.jpg"
    dogs = make_dogs(tmp_path / "site", train=4, test=2, corrupt={bad: jpeg_bytes(2)[:150]})
    with serve(tmp_path / "site") as url:
        config = _config(tmp_path, url, dogs)
        work = tmp_path / "work"
        work.mkdir()
        targets = ["results/stanford/data/train.csv", "results/stanford/models/finetune_metrics.json"]
        proc = run_snakemake(work, "--cores", "2", *targets, configfile=config, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-6000:]
    for name in ("images.tar", "lists.tar"):
        assert (work / "downloads/stanford_dogs" / name).read_bytes() == dogs[name.split(".")[0]].read_bytes()
    data = work / "results/stanford/data"
    assert (data / "classes.txt").read_text().split() == DOG_BREEDS
    excluded = pd.read_csv(data / "excluded.csv")
    assert list(excluded["path"]) == [f"raw/Images/{bad}"]
    assert bad in (work / "logs/stanford/stanford_data/stanford_data.log").read_text()
    sizes = {split: len(pd.read_csv(data / f"{split}.csv")) for split in ("train", "val", "test")}
    assert sizes == {"train": 8, "val": 3, "test": 6}
    metrics = json.loads((work / "results/stanford/models/finetune_metrics.json").read_text())
    assert metrics["num_classes"] == 3 and metrics["num_train"] == 8 and metrics["num_test"] == 6


def test_stanford_cars_devkit_from_a_local_server_through_snakemake(tmp_path):
    files = make_cars_devkit(tmp_path / "site", train=3, test=2)
    with serve(tmp_path / "site") as url:
        config = _config(
            tmp_path, url, make_dogs(tmp_path / "unused"),
            **{
                "data.source": "stanford_cars",
                "data.stanford_dogs": None,
                "data.stanford_cars": {
                    "layout": "devkit",
                    # One file downloaded, the others used in place (each job costs a Python start-up).
                    "files": [{"url": f"{url}/{files[0].name}", "checksum": md5(files[0])}]
                    + [{"path": str(f), "checksum": md5(f)} for f in files[1:]],
                },
            },
        )
        work = tmp_path / "work"
        work.mkdir()
        proc = run_snakemake(work, "--cores", "2", "results/stanford/data/test.csv", configfile=config, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-6000:]
    assert len(pd.read_csv(work / "results/stanford/data/test.csv")) == 6
    assert sorted(p.name for p in (work / "downloads/stanford_cars").iterdir()) == [files[0].name]


def _evil_images_tar(folder: Path) -> None:
    """images.tar with a member that climbs out of the extraction folder."""
    import tarfile

    with tarfile.open(folder / "images.tar", "a") as tar:
        add_bytes(tar, "Images/../../../escaped.txt", b"x")


FAILURES = {
    "wrong_checksum": ("images", "checksum mismatch for images.tar"),
    "truncated_download": ("short", "truncated download"),
    "unsafe_member": ("evil", "refusing to extract"),
}


@pytest.mark.parametrize("case", sorted(FAILURES))
def test_failures_stop_with_a_clear_message_and_no_partial_output(tmp_path, case):
    kind, message = FAILURES[case]
    dogs = make_dogs(tmp_path / "site")
    if kind == "evil":
        _evil_images_tar(tmp_path / "site")
    with serve(tmp_path / "site") as url:
        # Only the file under test goes through the server; the other is a local copy.
        config = _config(tmp_path, url, dogs, local=("lists.tar", "images.tar") if kind == "evil" else ("lists.tar",))
        cfg = yaml.safe_load(config.read_text())
        images = cfg["data"]["stanford_dogs"]["images"]
        good = images["checksum"]
        if kind == "images":
            images["checksum"] = "md5:" + "0" * 32
        elif kind == "short":
            images["url"] = f"{url}/short/images.tar"
        config.write_text(yaml.safe_dump(cfg))
        work = tmp_path / "work"
        work.mkdir()
        proc = run_snakemake(work, "--cores", "1", "results/stanford/data/train.csv", configfile=config, timeout=1200)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert message in output, output[-4000:]
    if kind == "images":
        assert "md5:" + "0" * 32 in output and good in output
    downloaded = sorted(p.name for p in (work / "downloads/stanford_dogs").iterdir()) if (work / "downloads/stanford_dogs").exists() else []
    assert "images.tar" not in downloaded
    assert not any(name.endswith(".part") for name in downloaded)
    data = work / "results/stanford/data"
    assert not data.exists() or not any(data.iterdir()), sorted(p.name for p in data.iterdir())
    assert not (tmp_path / "escaped.txt").exists() and not (work / "escaped.txt").exists()
