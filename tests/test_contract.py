"""The output contract: built from the rule files' document_outputs, written into config/README.md."""

from __future__ import annotations

import json

import pytest

from vischange import contract

from .conftest import REPO, run_snakemake

README = """# Configuration

## Output contract

Intro.

```
old/table.csv    gone
```

## Keys
```
untouched
```
"""


def test_table_joins_blocks_in_order_and_dedents():
    documented = [
        ("a", "\n    a/x.csv        first\n                   more of it\n"),
        ("b", "b/{net}/y.png    second\n"),
    ]
    assert contract.table(documented) == (
        "a/x.csv        first\n               more of it\nb/{net}/y.png    second\n"
    )


def test_table_refuses_an_empty_block_or_one_without_a_leading_path():
    with pytest.raises(ValueError, match="'s' documents no output"):
        contract.table([("s", "   \n")])
    with pytest.raises(ValueError, match="'t'.*starts with a space"):
        # a continuation line with no path before it (dedent cannot remove its indent)
        contract.table([("s", "x.csv  a\n"), ("t", "  more of x\ny.csv  b\n")])
    # an indented continuation after a path is a description, not an error
    assert contract.table([("s", "x.csv  a\n       y.csv b\n")]) == "x.csv  a\n       y.csv b\n"


def test_readme_table_is_replaced_and_nothing_else():
    new = contract.with_table(README, "new/t.csv    here\n")
    assert contract.current_table(new) == "new/t.csv    here\n"
    assert new.replace("new/t.csv    here\n", "old/table.csv    gone\n") == README
    assert contract.current_table(README) == "old/table.csv    gone\n"
    with pytest.raises(ValueError, match="heading"):
        contract.current_table("# nothing here\n")


def test_patterns_match_what_they_document_and_nothing_more():
    text = (
        "data/{split}.csv, data/classes.txt   manifests\n"
        "renders/{net}/{layer}/c{channel:04d}_s{seed}.png   one render\n"
        "                                     continuation: not/a/path.csv\n"
        "figures/atlas_{base,finetuned}.{png,pdf}   atlases\n"
        "data/raw/                             everything below\n"
        "atlas/{net}/{layer}/class/{class}/...  class atlas files\n"
    )
    paths = [p for p, _ in contract.patterns(text)]
    assert paths == ["data/{split}.csv", "data/classes.txt", "renders/{net}/{layer}/c{channel:04d}_s{seed}.png",
                     "figures/atlas_{base,finetuned}.{png,pdf}", "data/raw/", "atlas/{net}/{layer}/class/{class}/..."]
    ok = ["data/train.csv", "data/classes.txt", "renders/base/layer4.1/c0003_s0.png", "figures/atlas_base.pdf",
          "data/raw/Images/a/b.jpg", "atlas/base/layer4/class/cat/cells.csv"]
    assert contract.undocumented(ok, text) == []
    bad = ["data/x/train.csv", "not/a/path.csv", "figures/atlas_other.png", "figures/atlas_base.svg", "renders/base/c0003_s0.png"]
    assert contract.undocumented(bad, text) == bad


def test_main_rewrites_then_checks(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(README)
    run = tmp_path / "contract.json"
    run.write_text(json.dumps({"documented": [["s", "new/t.csv    here\n"]]}))
    assert contract.main([str(run), "--readme", str(readme), "--check"]) == 1
    assert "not the one the rule files document" in capsys.readouterr().err
    assert readme.read_text() == README  # --check writes nothing
    assert contract.main([str(run), "--readme", str(readme)]) == 0
    assert contract.current_table(readme.read_text()) == "new/t.csv    here\n"
    assert contract.main([str(run), "--readme", str(readme), "--check"]) == 0


def test_the_readme_holds_the_table_the_rule_files_document(tmp_path):
    """Real Snakemake: rule contract of the test config (no other job runs); its
    documented rows make config/README.md's table exactly, so a new stage's
    document_outputs reaches the README only through python -m vischange.contract."""
    proc = run_snakemake(tmp_path, "--cores", "1", "contract", configfile=REPO / "config/test.yaml", timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    promised = json.loads((tmp_path / "results/test/contract.json").read_text())
    stages = [stage for stage, _ in promised["documented"]]
    assert set(promised["stages"]) <= set(stages), "a registered stage documents no output"
    table = contract.table(promised["documented"])
    assert contract.current_table((REPO / "config/README.md").read_text()) == table, (
        "config/README.md's output contract is stale: python -m vischange.contract results/test/contract.json"
    )
