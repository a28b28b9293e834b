"""A part of the tiny workflow (TARGETS) through a real SLURM cluster with profiles/slurm.

Needs a running cluster with accounting (tests/slurm/cluster.sh start, as root);
skipped otherwise, unless VISCHANGE_REQUIRE_SLURM=1 (CI), where a missing cluster fails.
Checks, from SLURM's own accounting, that GPU-tagged rules and only they got a GPU,
that render chunks were merged into few submissions holding one GPU each, and that
local rules never reached the cluster.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess

import pandas as pd
import pytest
import yaml

from .conftest import REPO, run_snakemake, write_config

pytestmark = [pytest.mark.slurm, pytest.mark.workflow]

TEST_CONFIG = REPO / "config/test.yaml"
ACCOUNT, PARTITION = "vischange", "debug"
# The part of the test DAG that the cluster runs: every kind of job the executor must
# place, without the analysis stages that add only more of the same kinds (and most of
# the time). GPU jobs (pretrain, finetune), render chunks merged into group submissions
# holding one GPU, CPU jobs on the cluster (synthetic_data, gray_filter), and local
# rules that must stay on the submitting machine (render_table, render_quality, contract).
TARGETS = ("results/test/compare/renders.csv", "results/test/renders/quality.csv", "results/test/contract.json")


def _cluster_problem() -> str | None:
    if not shutil.which("sbatch"):
        return "SLURM is not installed (tests/slurm/cluster.sh install)"
    ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True)
    if ping.returncode != 0 or "UP" not in ping.stdout:
        return "no SLURM controller answers (tests/slurm/cluster.sh start)"
    return None


@pytest.fixture(scope="module")
def cluster():
    problem = _cluster_problem()
    if problem:
        if os.environ.get("VISCHANGE_REQUIRE_SLURM") == "1":
            pytest.fail(problem)
        pytest.skip(problem)


def local_rules() -> set[str]:
    """Names of the rules marked `localrule: True` in the Snakefile and workflow/rules/*.smk
    (named rules)."""
    names = set()
    for path in [REPO / "Snakefile", *(REPO / "workflow/rules").glob("*.smk")]:
        for block in re.split(r"\n(?=rule )", path.read_text()):
            head = re.match(r"rule (\w+):", block)
            if head and re.search(r"^\s+localrule: True", block, re.M):
                names.add(head.group(1))
    return names


def planned_jobs(workdir, profile, configfile) -> dict[str, dict]:
    """Rule name -> {local, gpu}: GPUs from Snakemake's own dry-run through the SLURM profile."""
    proc = run_snakemake(workdir, "-n", "--workflow-profile", str(profile), *TARGETS, configfile=configfile)
    assert proc.returncode == 0, proc.stderr[-3000:]
    local = local_rules()
    rules = {}
    # Jobs of a group (the render chunks) are listed indented inside a "group job" block.
    heads = list(re.finditer(r"^\s*(?:localrule|rule) (\w+):", proc.stdout, re.M))
    for head, after in zip(heads, heads[1:] + [None]):
        block = proc.stdout[head.end() : after.start() if after else None]
        gpu = re.search(r"resources: .*\bgpu=(\d+)", block)
        rules[head.group(1)] = {"local": head.group(1) in local, "gpu": bool(gpu and int(gpu.group(1)))}
    return rules


def slurm_profile(folder) -> None:
    """profiles/slurm with the placeholders filled for the test cluster and fast polling."""
    profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    profile["default-resources"].update(slurm_account=ACCOUNT, slurm_partition=PARTITION)
    profile.update({"slurm-init-seconds-before-status-checks": 2, "seconds-between-status-checks": 3,
                    "latency-wait": 10, "max-threads": os.cpu_count()})
    folder.mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump(profile))


def accounting(since: str) -> pd.DataFrame:
    out = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-S", since, "-A", ACCOUNT, "-o", "JobID,JobName,Comment,State,AllocTRES"],
        capture_output=True, text=True, check=True,
    ).stdout
    rows = [line.split("|") for line in out.splitlines() if line.strip()]
    return pd.DataFrame(rows, columns=["id", "name", "comment", "state", "tres"])


def test_workflow_runs_through_slurm(cluster, tmp_path):
    workdir = tmp_path / "run"
    workdir.mkdir()
    # device auto: GPU-tagged rules ask the cluster for a GPU (with the test config's
    # device cpu they would ask for none); the node has none, so the jobs run on its CPU.
    # The test config's seed variant adds only more of the same kinds of jobs: left out here.
    configfile = write_config(tmp_path / "config.yaml", TEST_CONFIG, device="auto", variants=[])
    slurm_profile(tmp_path / "profile")
    plan = planned_jobs(workdir, tmp_path / "profile", configfile)
    assert any(r["gpu"] for r in plan.values()) and any(r["local"] for r in plan.values())
    assert any(not r["gpu"] and not r["local"] for r in plan.values()), "no CPU job for the cluster in the plan"
    since = (dt.datetime.now() - dt.timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%S")
    proc = run_snakemake(workdir, "--workflow-profile", str(tmp_path / "profile"), *TARGETS, configfile=configfile,
                         timeout=3600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
    assert all((workdir / t).is_file() for t in TARGETS)

    jobs = accounting(since)
    run_ids = set(re.findall(r"SLURM run ID: ([0-9a-f-]+)", proc.stdout + proc.stderr))
    if run_ids:
        jobs = jobs[jobs.name.isin(run_ids)]
    assert len(jobs) > 0, "no jobs of this run in SLURM's accounting"
    assert (jobs.state == "COMPLETED").all(), jobs.to_string()

    submitted: dict[str, list[int]] = {}
    groups = []
    for _, job in jobs.iterrows():
        match = re.match(r"rule_(\w+?)(_wildcards_.*)?$", job.comment)
        assert match, f"unexpected job comment {job.comment!r}"
        gpus = re.search(r"gres/gpu=(\d+)", job.tres)
        gpus = int(gpus.group(1)) if gpus else 0
        name = match.group(1)
        if name.startswith("render_render_"):  # a group job: "render_" + its rules' names
            groups.append((set(re.findall(r"render_chunk\d+", name[len("render_"):])), gpus))
        else:
            submitted.setdefault(name, []).append(gpus)

    for rule, info in plan.items():
        if info["local"]:
            assert rule not in submitted, f"local rule {rule} was submitted to SLURM"
    cpu_jobs = [r for r, info in plan.items() if not info["gpu"] and not info["local"]]
    assert set(cpu_jobs) <= set(submitted), f"CPU jobs that did not reach the cluster: {set(cpu_jobs) - set(submitted)}"
    for rule, gpus in submitted.items():
        assert rule in plan, f"{rule} ran on SLURM but is not in the plan"
        expected = 1 if plan[rule]["gpu"] else 0
        assert all(g == expected for g in gpus), f"{rule}: GPUs {gpus}, expected {expected} per job"
    chunk_rules = {r for r in plan if re.fullmatch(r"render_chunk\d+", r)}
    for members, gpus in groups:
        assert members and members <= chunk_rules, members
        assert gpus == 1, f"a group of render chunks must hold exactly one GPU, got {gpus}"
    # Every render chunk ran (2 networks x each chunk rule), merged into fewer submissions.
    covered = set().union(*(m for m, _ in groups)) | (chunk_rules & set(submitted))
    assert covered == chunk_rules
    assert 0 < len(groups) + sum(len(submitted.get(r, [])) for r in chunk_rules) < 2 * len(chunk_rules)
