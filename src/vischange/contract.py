"""The output contract: every stage's documented outputs, as one table in config/README.md.

Each stage's rule file documents its outputs with `document_outputs(stage, text)`
(workflow/rules/common.smk), whatever the config: a block of rows with a path pattern
under `results/{experiment}/` at column 0 and its description after it (continuation
lines indented). Rule `contract` writes the documented blocks, in the order the rule
files are included, into `results/{experiment}/contract.json`; this module joins them
into the table and writes it into config/README.md:

    snakemake --configfile config/test.yaml --cores 1 contract
    python -m vischange.contract results/test/contract.json          # rewrite the table
    python -m vischange.contract results/test/contract.json --check  # exit 1 if stale

Pattern syntax: ``{a,b}`` is one of the words, ``{x}`` one path component, ``...`` or a
trailing ``/`` anything below.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
from pathlib import Path
from typing import Iterable, Sequence

HEADING = "## Output contract"
FENCE = "```"


def table(documented: Iterable[Sequence[str]]) -> str:
    """The contract table: each (stage, text) block dedented, in the given order.

    Raises ValueError naming the stage when a block is empty or does not start with a
    path (its first line indented)."""
    parts = []
    for stage, text in documented:
        body = textwrap.dedent(text).strip("\n")
        if not body.strip():
            raise ValueError(f"stage {stage!r} documents no output")
        if body[0] == " ":
            raise ValueError(f"stage {stage!r}: the first documented row starts with a space, not a path")
        parts.append(body.rstrip())
    return "\n".join(parts) + "\n"


def _block_span(readme: str) -> tuple[int, int]:
    """Character span of the fenced block that follows the contract heading."""
    at = readme.find(HEADING)
    if at < 0:
        raise ValueError(f"no {HEADING!r} heading")
    start = readme.find(FENCE + "\n", at)
    end = readme.find(FENCE, start + len(FENCE) + 1)
    if start < 0 or end < 0:
        raise ValueError(f"no fenced block under {HEADING!r}")
    return start + len(FENCE) + 1, end


def current_table(readme: str) -> str:
    """The table as the README has it now."""
    start, end = _block_span(readme)
    return readme[start:end]


def with_table(readme: str, new: str) -> str:
    """`readme` with its contract table replaced by `new` (everything else untouched)."""
    start, end = _block_span(readme)
    return readme[:start] + new + readme[end:]


def _regex(path: str) -> re.Pattern:
    parts = []
    for token in re.findall(r"\{[^}]*\}|\.\.\.|[^{.]+|\.", path):
        if token == "...":
            parts.append(".*")
        elif token.startswith("{") and "," in token:
            parts.append("(" + "|".join(map(re.escape, token[1:-1].split(","))) + ")")
        elif token.startswith("{"):
            parts.append("[^/]+")
        else:
            parts.append(re.escape(token))
    return re.compile("".join(parts) + (".*" if path.endswith("/") else ""))


def patterns(text: str) -> list[tuple[str, re.Pattern]]:
    """The path patterns of a contract table (rows at column 0), each with its regular
    expression; ``a.csv, b.txt   description`` gives two."""
    out = []
    for line in text.splitlines():
        if line and line[0] != " ":
            tokens = line.split()
            path = tokens.pop(0)
            while path.endswith(",") and tokens:
                path += tokens.pop(0)
            out += [(p, _regex(p)) for p in re.split(r",(?![^{]*\})", path) if p]
    return out


def undocumented(paths: Iterable[str], text: str) -> list[str]:
    """The `paths` (relative to results/{experiment}/) that no pattern of `text` matches."""
    rules = [rx for _, rx in patterns(text)]
    return [p for p in paths if not any(rx.fullmatch(p) for rx in rules)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vischange.contract", description=__doc__.split("\n\n")[0])
    parser.add_argument("contract_json", help="results/{experiment}/contract.json of any config (rule contract)")
    parser.add_argument("--readme", default="config/README.md")
    parser.add_argument("--check", action="store_true", help="exit 1 when the README's table is not the registry's")
    args = parser.parse_args(argv)
    new = table(json.loads(Path(args.contract_json).read_text())["documented"])
    readme = Path(args.readme)
    text = readme.read_text()
    if current_table(text) == new:
        return 0
    if args.check:
        print(f"{args.readme}: the output contract is not the one the rule files document; "
              f"run python -m vischange.contract {args.contract_json}", file=sys.stderr)
        return 1
    readme.write_text(with_table(text, new))
    print(f"wrote the output contract of {args.contract_json} into {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
