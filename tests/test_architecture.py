"""The package's shape, read from its source (AST, no imports run; one test runs the
table-and-figure scripts' imports, to prove they leave torch out).

* The import graph of src/vischange, function-local imports included, has no cycle.
* Every stage is a subpackage; the rules of a stage with a job module (``stages.py``) call
  it through that module, with its figures in ``figures.py``.
* A stage never imports another stage; stages share code only through the shared
  foundations, and read each other's results only through files.
* Modules outside the render package reach it through its public API (``vischange.render``),
  and no module imports another module's private (underscore) names.
* The shared foundations never import a stage (a stage's own figures live in it).
* No library code or script recovers a network, a layer or a folder's meaning from a
  path (``.parent.name``, ``.parents[k]``, ``.parent.parent``): the results layout
  (vischange.paths) and explicit arguments say what a file is.
* Forward hooks are registered only by render/hooks.py (``capture``, used through
  vischange.activations) and the documented exception: atlas/collect.py, whose
  forward-mode AD hook replaces a layer's output, which a capture cannot do.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO

SRC = REPO / "src"
PACKAGE = "vischange"

# The shared foundations; every other top-level name of the package is a stage, so a new
# stage needs no edit here.
SHARED = {"models", "datasets", "activations", "heads", "metrics", "plots", "runtime", "config", "paper", "render",
          "train", "class_maps", "names", "paths", "contract", "lazy", "archinfo"}
# Above the stages, imported by nothing: registry finds every stage's config checks by name;
# warmup (make setup) compiles the UMAP kernels the atlas and attribution stages use.
TOP = {"registry", "warmup"}
STAGES = {p.stem for p in (SRC / PACKAGE).iterdir() if not p.name.startswith("_") and (p.suffix == ".py" or p.is_dir())
          and p.name != "__pycache__"} - SHARED - TOP
# compare's scripts call its features, gray and stats modules directly; every other stage's
# scripts call one module of job entry points, ``stages.py``.
JOB_STAGES = STAGES - {"compare"}
# The figures module of each job stage, ``figures.py``; atlas draws in atlas/images.py.
FIGURES = {stage: "images" if stage == "atlas" else "figures" for stage in JOB_STAGES}
HOOK_MODULES = {"vischange.render.hooks", "vischange.atlas.collect"}
HOOK_METHODS = {"register_forward_hook", "register_forward_pre_hook"}


def module_files(src: Path = SRC) -> dict[str, Path]:
    """{dotted module name: file} of every module of the package (a package is its __init__)."""
    out = {}
    for path in sorted((src / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _is_package(name: str, files: dict[str, Path]) -> bool:
    return files[name].name == "__init__.py"


def _from_module(here: str, node: ast.ImportFrom) -> str:
    """The absolute module of ``from X import ...`` written in package `here`."""
    if not node.level:
        return node.module or ""
    base = here.split(".")
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(name: str, files: dict[str, Path]) -> list[tuple[str, tuple[str, ...], int]]:
    """Every import of module `name`, at any depth (function-local ones too), resolved to
    (imported vischange module, the names taken from it, line). `from pkg import mod`
    resolves to the submodule when one exists; the packages above an imported module
    (whose __init__ runs first) are imports too, except the importer's own packages."""
    tree = ast.parse(files[name].read_text(), filename=str(files[name]))
    here = name if _is_package(name, files) else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [(alias.name, ()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = _from_module(here, node)
            targets = []
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                targets.append((sub, ()) if sub in files else (module, (alias.name,)))
        else:
            continue
        for target, names in targets:
            if target != PACKAGE and not target.startswith(PACKAGE + "."):
                continue
            parts = target.split(".")
            for i in range(2, len(parts)):
                above = ".".join(parts[:i])
                if not name.startswith(above + "."):  # the importer's own packages are running already
                    found.append((above, (), node.lineno))
            found.append((target, names, node.lineno))
    return found


def graph(files: dict[str, Path]) -> dict[str, set[str]]:
    return {name: {t for t, _, _ in imports(name, files) if t != name and t in files} for name in files}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the directed graph as [a, b, ..., a], or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def top(name: str) -> str | None:
    """The stage or shared foundation a module belongs to (None for the package itself)."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else None


@pytest.fixture(scope="module")
def files() -> dict[str, Path]:
    return module_files()


def test_every_module_is_a_stage_or_shared(files):
    unknown = sorted({top(n) for n in files} - STAGES - SHARED - TOP - {None})
    assert not unknown, f"classify {unknown} as a stage or a shared foundation in tests/test_architecture.py"
    assert {"atlas", "compare", "change", "topmaps"} <= STAGES and not STAGES & SHARED


def test_every_stage_is_a_subpackage_with_a_job_module_and_a_figures_module(files):
    not_packages = sorted(s for s in STAGES if not _is_package(f"{PACKAGE}.{s}", files))
    assert not not_packages, f"stages that are single modules, not subpackages: {not_packages}"
    missing = sorted(f"{PACKAGE}.{s}.{m}" for s in JOB_STAGES for m in ("stages", FIGURES[s])
                     if f"{PACKAGE}.{s}.{m}" not in files)
    assert not missing, f"stage modules missing: {missing}"


def script_imports(path: Path) -> list[tuple[str, int]]:
    """The vischange modules a script imports (``from vischange import x`` names vischange.x)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found += [(f"{node.module}.{alias.name}", node.lineno) for alias in node.names]
    return [(name, line) for name, line in found if name.startswith(PACKAGE + ".")]


def test_scripts_call_a_job_stage_through_its_stages_module():
    bad = [
        f"scripts/{script.name}:{line} imports {name}"
        for script in sorted((REPO / "scripts").glob("*.py"))
        for name, line in script_imports(script)
        if top(name) in JOB_STAGES and not name.startswith(f"{PACKAGE}.{top(name)}.stages")
    ]
    assert not bad, "a script reaches a stage past its job module (stages.py):\n" + "\n".join(bad)


def test_the_import_graph_has_no_cycle(files):
    cycle = find_cycle(graph(files))
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_stage_imports_another_stage(files):
    bad = [
        f"{name} imports {target} (line {line})"
        for name in files
        for target, _, line in imports(name, files)
        if top(name) in STAGES and top(target) in STAGES and top(target) != top(name)
    ]
    assert not bad, "a stage imports another stage (move what they share to a shared module):\n" + "\n".join(bad)


def test_shared_foundations_never_import_a_stage(files):
    bad = [
        f"{name} imports {target} (line {line})"
        for name in files
        for target, _, line in imports(name, files)
        if top(name) in SHARED and top(target) in STAGES
    ]
    assert not bad, "a shared module depends on a stage (move the shared part down, the stage part up):\n" + "\n".join(bad)


def test_nothing_in_the_package_imports_the_top(files):
    bad = [
        f"{name} imports {target} (line {line})"
        for name in files
        for target, _, line in imports(name, files)
        if top(target) in TOP and top(name) not in TOP
    ]
    assert not bad, "vischange.registry sits above the stages; only the workflow and the tests use it:\n" + "\n".join(bad)


def path_parsing(source: str) -> list[int]:
    """Lines that read meaning out of a path: ``x.parent.name``, ``x.parent.parent`` or
    ``x.parents[k]``."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Attribute):
            continue
        parent_of = isinstance(node.value, ast.Attribute) and node.value.attr == "parent"
        if (node.attr in ("name", "parent", "stem") and parent_of) or node.attr == "parents":
            lines.append(node.lineno)
    return sorted(set(lines))


def test_no_library_code_parses_a_path(files):
    bad = [f"{name}:{line}" for name, path in files.items() for line in path_parsing(path.read_text())]
    for script in sorted((REPO / "scripts").glob("*.py")):
        bad += [f"scripts/{script.name}:{line}" for line in path_parsing(script.read_text())]
    assert not bad, "pass what a file is (vischange.paths.Layout, explicit arguments) instead of parsing its path:\n" + "\n".join(bad)


def test_render_is_reached_through_its_public_api_and_private_names_stay_home(files):
    bad = []
    for name in files:
        for target, names, line in imports(name, files):
            if top(name) != "render" and target.startswith(f"{PACKAGE}.render."):
                bad.append(f"{name} imports {target} (line {line}): use vischange.render's public names")
            private = [n for n in names if n.startswith("_")]
            if private and target != name:
                bad.append(f"{name} imports private {private} from {target} (line {line})")
            last = target.rpartition(".")[2]
            if last.startswith("_") and target.rpartition(".")[0] != name.rpartition(".")[0]:
                bad.append(f"{name} imports the private module {target} (line {line})")
        bad += [f"{name} reads {use} (line {line})" for use, line in private_attributes(name, files)]
    assert not bad, "\n".join(bad)


def private_attributes(name: str, files: dict[str, Path]) -> list[tuple[str, int]]:
    """``module._name`` reads in `name` where ``module`` is a vischange module it imported."""
    tree = ast.parse(files[name].read_text())
    here = name if _is_package(name, files) else name.rpartition(".")[0]
    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = _from_module(here, node)
            bound |= {alias.asname or alias.name for alias in node.names if f"{base}.{alias.name}" in files}
        elif isinstance(node, ast.Import):
            bound |= {alias.asname for alias in node.names if alias.asname and alias.name.startswith(PACKAGE)}
    return [(f"{node.value.id}.{node.attr}", node.lineno) for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in bound
            and node.attr.startswith("_") and not node.attr.startswith("__")]


def test_forward_hooks_only_in_render_hooks_and_the_documented_exception(files):
    bad = [
        f"{name}:{node.lineno} calls {node.attr}"
        for name, path in files.items()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute) and node.attr in HOOK_METHODS and name not in HOOK_MODULES
    ]
    assert not bad, "read activations through vischange.activations (render.hooks.capture):\n" + "\n".join(bad)


def test_the_checks_see_what_they_check(tmp_path):
    """Each check fails on a made-up package that breaks it."""
    pkg = tmp_path / PACKAGE
    (pkg / "atlas").mkdir(parents=True)
    (pkg / "render").mkdir()
    for init in (pkg / "__init__.py", pkg / "atlas" / "__init__.py", pkg / "render" / "__init__.py"):
        init.write_text("")
    (pkg / "models.py").write_text("def f():\n    from . import topmaps\n")  # function-local import
    (pkg / "topmaps.py").write_text("from . import models\nfrom .atlas.stages import _load\nmodels._secret\n")
    (pkg / "atlas" / "stages.py").write_text("from ..render.chunk import x\nh = m.register_forward_pre_hook(f)\n")
    (pkg / "render" / "chunk.py").write_text("x = 1\n")
    fake = module_files(tmp_path)
    assert path_parsing("net, layer = t.parent.parent.name, t.parent.name\nroot = p.parents[2]\n") == [1, 2]
    assert path_parsing("folder = Path(t).parent\nname = p.name\ndepth = len(p.parts)\n") == []
    assert find_cycle(graph(fake)) == ["vischange.models", "vischange.topmaps", "vischange.models"]
    edges = [(n, t) for n in fake for t, _, _ in imports(n, fake)]
    assert ("vischange.topmaps", "vischange.atlas.stages") in edges and ("vischange.topmaps", "vischange.atlas") in edges
    assert ("vischange.topmaps", ("_load",)) in [(n, names) for n in fake for _, names, _ in imports(n, fake) if names]
    assert private_attributes("vischange.topmaps", fake) == [("models._secret", 3)]
    assert ("vischange.atlas.stages", "vischange.render.chunk") in edges
    assert any(isinstance(node, ast.Attribute) and node.attr in HOOK_METHODS
               for node in ast.walk(ast.parse(fake["vischange.atlas.stages"].read_text())))
    assert not _is_package("vischange.topmaps", fake) and _is_package("vischange.atlas", fake)
    script = tmp_path / "script.py"
    script.write_text("from vischange import runtime, topmaps\nfrom vischange.atlas.stages import x\n"
                      "import vischange.patches.flips\n")
    assert script_imports(script) == [("vischange.runtime", 1), ("vischange.topmaps", 1),
                                      ("vischange.atlas.stages.x", 2), ("vischange.patches.flips", 3)]


def test_every_rule_logs_and_benchmarks_through_the_layout_helpers():
    """Each rule's log and benchmark come from common.smk's log_file and bench_file with the
    same arguments: one layout of logs/ and benchmarks/ (the README's timings read it)."""
    bad = []
    for smk in [REPO / "Snakefile", *sorted((REPO / "workflow/rules").glob("*.smk"))]:
        text = smk.read_text()
        for match in re.finditer(r"^([ \t]*)(?:local)?rule (\w+):\n((?:\1[ \t]+.*\n|[ \t]*\n)*)", text, re.M):
            rule, body = match.group(2), match.group(3)
            if rule == "all":
                continue
            log = re.search(r"log:[ \t]*\n[ \t]*log_file\((.*?)\),?\n", body)
            bench = re.search(r"benchmark:[ \t]*\n[ \t]*bench_file\((.*?)\),?\n", body)
            if not (log and bench and log.group(1) == bench.group(1)):
                bad.append(f"{smk.name}: rule {rule}")
    assert not bad, "rules without log_file(...) and bench_file(...) of the same job:\n" + "\n".join(bad)


# Jobs that read tables and write tables, figures or pages: importing torch (seconds of CPU
# for the CUDA wheel) was most of their run time, so their imports must leave it out.
TORCH_FREE_SCRIPTS = [
    "activation_change_figure", "activation_crosscheck", "atlas_figures", "atlas_images", "atlas_layout",
    "compare_channels", "contract", "download", "explorer", "figure_cosine_by_layer", "figure_gram_by_layer",
    "figure_gray", "figure_panels", "figure_random_channels", "figure_render_pairs", "figure_top_channels",
    "gray_filter", "paper", "paper_variables", "render_quality", "render_table",
]


def test_table_and_figure_jobs_do_not_import_torch():
    """Each listed script's top-level imports, run as its job runs them, leave torch out (a
    late import would still be seeded: see test_runtime)."""
    code = ["import sys"]
    for name in TORCH_FREE_SCRIPTS:
        tree = ast.parse((REPO / "scripts" / f"{name}.py").read_text())
        code += [ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    code.append("print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.'))[:5])")
    proc = subprocess.run([sys.executable, "-c", "\n".join(code)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(SRC)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "[]", f"these scripts' imports load torch: {proc.stdout}"
