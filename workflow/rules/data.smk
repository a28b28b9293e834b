# Data: the embedded procedural demo, Stanford Dogs / Stanford Cars, or your own class
# folders (data.source).

_SOURCE = config["data"]["source"]

if _SOURCE == "synthetic":

    rule synthetic_data:
        """Generate the demo's two tasks as PNGs with train/val/test manifests."""
        output:
            base=expand(f"{R}/data/base/{{split}}.csv", split=SPLITS),
            base_classes=f"{R}/data/base/classes.txt",
            base_images=directory(f"{R}/data/base/images"),
            finetune=expand(f"{R}/data/{{split}}.csv", split=SPLITS),
            finetune_classes=f"{R}/data/classes.txt",
            finetune_images=directory(f"{R}/data/images"),
        params:
            synthetic=config["data"]["synthetic"],
            image_size=config["data"]["image_size"],
            seed=config["seed"],
        resources:
            mem_mb=retry_mem_mb(4000),
            runtime=retry_runtime(30),
        log:
            log_file("synthetic_data"),
        benchmark:
            bench_file("synthetic_data")
        conda:
            "../../envs/vischange.yaml"
        script:
            "../../scripts/synthetic_data.py"

elif _SOURCE == "folder":
    _FOLDER = config["data"]["folder"]

    rule folder_data:
        """Your own class folders: drop files that are not images or do not decode, write train/val/test manifests."""
        output:
            splits=expand(f"{R}/data/{{split}}.csv", split=SPLITS),
            classes=f"{R}/data/classes.txt",
            excluded=f"{R}/data/excluded.csv",
        params:
            directory=_FOLDER["path"],
            test_fraction=_FOLDER["test_fraction"],
            val_fraction=config["data"]["val_fraction"],
            seed=config["seed"],
            # every image's path, size and time: a changed folder reruns the job
            listing=vfolder.fingerprint(vfolder.list_folder(_FOLDER["path"])),
        threads: 8
        resources:
            mem_mb=retry_mem_mb(8000),
            runtime=retry_runtime(120),
        log:
            log_file("folder_data"),
        benchmark:
            bench_file("folder_data")
        conda:
            "../../envs/vischange.yaml"
        script:
            "../../scripts/folder_data.py"

else:
    # Files given by url are downloaded to {download_dir}/{source}/ by a local job
    # (cluster compute nodes often have no internet); files given by path are used in place.
    _FILES = vcfg.data_files(config["data"])
    _DOWNLOAD_DIR = f"{config['data']['download_dir']}/{_SOURCE}"
    _TO_DOWNLOAD = {spec["name"]: spec for spec in _FILES if not spec["path"]}
    _CARS_DIR = config["data"]["stanford_cars"]["directory"] if _SOURCE == "stanford_cars" else None
    _PREPARED = dict(
        splits=expand(f"{R}/data/{{split}}.csv", split=SPLITS),
        classes=f"{R}/data/classes.txt",
        excluded=f"{R}/data/excluded.csv",
    )
    if not _CARS_DIR:
        _PREPARED["raw"] = directory(f"{R}/data/raw")

    if _TO_DOWNLOAD:

        rule download:
            """Download one dataset file and verify its checksum (kept only if it matches)."""
            output:
                f"{_DOWNLOAD_DIR}/{{file}}",
            wildcard_constraints:
                file="|".join(re.escape(name) for name in _TO_DOWNLOAD),
            params:
                spec=lambda wc: _TO_DOWNLOAD[wc.file],
            localrule: True
            log:
                log_file("download", "{file}"),
            benchmark:
                bench_file("download", "{file}")
            conda:
                "../../envs/vischange.yaml"
            script:
                "../../scripts/download.py"

    rule stanford_data:
        """Verify and extract the dataset, drop undecodable images, write train/val/test manifests."""
        input:
            [spec["path"] or f"{_DOWNLOAD_DIR}/{spec['name']}" for spec in _FILES],
        output:
            **_PREPARED,
        params:
            files=_FILES,
            layout=stanford.layout_of(config["data"]),
            directory=_CARS_DIR,
            val_fraction=config["data"]["val_fraction"],
            seed=config["seed"],
        threads: 8
        resources:
            mem_mb=retry_mem_mb(8000),
            runtime=retry_runtime(120),
        log:
            log_file("stanford_data"),
        benchmark:
            bench_file("stanford_data")
        conda:
            "../../envs/vischange.yaml"
        script:
            "../../scripts/stanford_data.py"


document_outputs(
    "data",
    """
data/{split}.csv, data/classes.txt       fine-tuning task manifests (path,label; paths relative to the CSV)
data/base/{split}.csv, data/base/classes.txt   base task (demo only: the pretraining data)
data/raw/                                Stanford sources only: the verified archives' contents, as distributed
data/excluded.csv                        Stanford and folder sources: path,split,reason of images that do not decode
                                         and (folder) of files that are not images (left out of every manifest;
                                         also named in the data job's log, beside a table of images per class and split)
""",
)
