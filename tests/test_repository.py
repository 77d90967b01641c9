"""The README's test command is exactly what CI runs, and the shipped configs are valid."""

import re
from pathlib import Path

import pytest

from ddsp_textures.training.config import load_config

ROOT = Path(__file__).resolve().parents[1]


def _bash_blocks(text):
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def test_ci_runs_exactly_the_readme_test_command():
    blocks = _bash_blocks((ROOT / "README.md").read_text())
    test_command = blocks[1]
    ci_lines = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
                if line and not line.startswith("#") and not line.startswith(("set ", "cd "))]
    assert ci_lines == [test_command]
    assert "--nbval book/" in test_command and "jupyter-book build . -W -n --keep-going" in test_command
    assert test_command.index("tests/execute_book.py") < test_command.index("jupyter-book build")


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.json")), ids=lambda p: p.name)
def test_shipped_configs_are_valid(path):
    cfg = load_config(path)
    assert cfg.epochs >= 1 and cfg.param_per_env % 2 == 0


def test_book_execution_fails_loudly_instead_of_stalling():
    config = (ROOT / "_config.yml").read_text()
    timeout = int(re.search(r"^\s+timeout:\s*(\d+)", config, flags=re.M).group(1))
    assert 0 < timeout <= 300
    assert "nb_execution_raise_on_error: true" in config
    assert "--nbval-cell-timeout=300" in _bash_blocks((ROOT / "README.md").read_text())[1]
    # ipykernel 7's shell-channel thread is the reported source of clients that never see a finished cell
    assert "ipykernel>=6.29,<7" in (ROOT / "pyproject.toml").read_text()


def test_audio_players_embed_small_compressed_clips():
    np = pytest.importorskip("numpy")
    pytest.importorskip("IPython")
    from ddsp_textures.plotting import audio

    html = audio(np.random.default_rng(0).standard_normal(44100 * 30), 44100)._repr_html_()
    assert "data:audio/mpeg;base64," in html
    assert len(html) < 150_000          # 8 s of mono MP3 at 22.05 kHz; a 30 s 16-bit WAV would be 2.6 MB


def _chapter_code_cells():
    jupytext = pytest.importorskip("jupytext")
    for path in sorted((ROOT / "book").glob("*.md")):
        notebook = jupytext.read(path)
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type == "code":
                yield path.name, index, cell.source


def test_chapter_code_lines_fit_the_rendered_page():
    long = [(name, index, line) for name, index, source in _chapter_code_cells()
            for line in source.splitlines() if len(line) > 88]
    assert not long, long[:5]


def test_chapter_cells_are_short_enough_to_read():
    long = [(name, index, len(source.splitlines())) for name, index, source in _chapter_code_cells()
            if len(source.splitlines()) > 15]
    assert not long, long


def test_chapters_link_back_to_the_chapters_they_build_on():
    for path in sorted((ROOT / "book").glob("0[2-9]_*.md")):
        assert "{doc}`0" in path.read_text(), f"{path.name} links to no earlier chapter"


def test_book_workflow_and_binder_use_the_ci_command_and_open_chapters_as_notebooks():
    workflow = (ROOT / ".github" / "workflows" / "book.yml").read_text()
    assert "run: bash .ci/run" in workflow and "path: _build/html" in workflow and "deploy-pages" in workflow
    post_build = ROOT / "postBuild"
    assert post_build.stat().st_mode & 0o111 and "set-default-viewer markdown myst" in post_build.read_text()
    environment = (ROOT / "environment.yml").read_text()
    assert "-e .[book]" in environment
    assert "download.pytorch.org/whl/cpu" in environment and "torch==2.13.0+cpu" in environment   # no CUDA


def test_every_chapter_sets_the_thread_policy_before_computing():
    """Two torch threads on a busy 2-core machine stalled a book build (ddsp_textures.threads); each chapter
    sets one thread (unless $DDSP_TEXTURES_THREADS) in the cell after its first imports."""
    for chapter in sorted((ROOT / "book").glob("0*.md")):
        cells = [source for name, _, source in _chapter_code_cells() if name == chapter.name]
        first = next(i for i, source in enumerate(cells) if "set_threads(" in source)
        assert first <= 1 and "set_threads(default=1)" in cells[first], chapter.name


def test_benchmarks_are_a_package_of_public_api_clients():
    # run as ``python -m benchmarks.NAME``: no sys.path inserts, no imports of library privates
    for path in sorted((ROOT / "benchmarks").glob("*.py")):
        text = path.read_text()
        assert "sys.path" not in text, path.name
        assert not re.search(r"^from ddsp_textures\S* import .*\b_[a-z]", text, flags=re.M), path.name
        assert not re.search(r"\w\._[a-z]\w*\(", text.replace("self._", "")), path.name


def test_book_reads_benchmark_results_through_the_schema_checking_helper(tmp_path):
    from ddsp_textures.metrics import ResultsError, load_results

    for chapter in sorted((ROOT / "book").glob("0*.md")):
        assert "json.loads(" not in chapter.read_text() or "results" not in chapter.read_text(), chapter.name
    rows = load_results(ROOT / "benchmarks" / "results" / "texstat.json", ["batch", "N", "device"]).rows
    assert len(rows) > 0 and {(r["batch"], r["N"]) for r in rows} >= {(1, 16), (32, 16)}
    broken = tmp_path / "cut.json"
    broken.write_text((ROOT / "benchmarks" / "results" / "texstat.json").read_text()[:200])
    with pytest.raises(ResultsError, match=r"cut\.json: not JSON"):
        load_results(broken)
    with pytest.raises(ResultsError, match=r"absent\.json: cannot read it"):
        load_results(tmp_path / "absent.json")


def test_renamed_public_names_still_work_and_warn(tmp_path):
    # one spelling (-ize) and one meaning of "equalize" in the public API; the old names are deprecated aliases
    import torch

    from ddsp_textures.dsp.filterbanks import FilterBank
    from ddsp_textures.dsp.spectral import equalise_to, equalize_to
    from ddsp_textures.synths import normalise_loudness, normalize_loudness, texenv_resynthesize
    from ddsp_textures.synths.transients import analyse_transients, analyze_transients

    x = torch.randn(2 * 16000, generator=torch.Generator().manual_seed(0))
    bands = torch.randn(3, 4, 256, generator=torch.Generator().manual_seed(1))
    bank = FilterBank(1024, 16000, 6, 50, 8000)
    target = torch.full((2, 8), 0.5, dtype=torch.float64)
    frames = torch.randn(2, 1024, dtype=torch.float64)
    with pytest.warns(DeprecationWarning, match="equalise_to is deprecated: use equalize_to"):
        torch.testing.assert_close(equalise_to(0.5 * x, x, 16000), equalize_to(0.5 * x, x, 16000))
    with pytest.warns(DeprecationWarning, match="use normalize_loudness"):
        torch.testing.assert_close(normalise_loudness(bands, "generic"), normalize_loudness(bands, "generic"))
    with pytest.warns(DeprecationWarning, match="use analyze_transients"):
        old = analyse_transients(x, 16000, 4, generator=torch.Generator().manual_seed(2))[0]
    assert torch.equal(old.times, analyze_transients(x, 16000, 4, generator=torch.Generator().manual_seed(2))[0].times)
    with pytest.warns(DeprecationWarning, match="use FilterBank.set_band_rms"):
        torch.testing.assert_close(bank.equalise(frames, target), bank.set_band_rms(frames, target))
    with pytest.warns(DeprecationWarning, match=r"texenv_resynthesize\(equalise=...\) is deprecated: use equalize="):
        texenv_resynthesize(x, FilterBank(4096, 16000, 6, 50, 8000), 64, transients=False, equalise=False)
    with pytest.raises(TypeError, match="both equalise= .deprecated. and equalize="):
        texenv_resynthesize(x, FilterBank(4096, 16000, 6, 50, 8000), 64, equalise=False, equalize=False)


FLOORS = {"dsp": 1, "stats": 2, "metrics": 3, "synths": 4, "models": 5, "training": 6, "inference": 7, "app": 8}
BESIDE = {"_deprecated": 0, "nn": 0, "threads": 0, "textures": 0, "plotting": 1}   # top-level modules


def _floor(module):
    parts = module.split(".")
    if len(parts) == 1:
        return 9                                          # the package's own __init__ re-exports
    return FLOORS.get(parts[1], BESIDE.get(parts[1]))


def test_library_floors_import_only_downwards():
    import ast

    package = ROOT / "ddsp_textures"
    top_level = [p.name for p in package.glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    assert len(top_level) <= 8, top_level
    upward = []
    for path in package.rglob("*.py"):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        if module.endswith("__main__"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):              # function-level imports included
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ddsp_textures"):
                assert node.level == 0, f"{module}: relative import"
                if _floor(node.module) > _floor(module):
                    upward.append((module, node.module))
    assert not upward, upward


def test_callers_ask_the_model_protocol_instead_of_checking_classes():
    classes = r"isinstance\([^)]*\b(TexDSP|PVAEModel|HybridModel|TextureModel)\b"
    checks = [(path.name, line) for path in (ROOT / "ddsp_textures").rglob("*.py") if "models" not in path.parts
              for line in path.read_text().splitlines() if re.search(classes, line)]
    assert len(checks) <= 1, checks

    from ddsp_textures.models import HybridModel, PVAEModel, TexDSP, TextureModel

    assert all(issubclass(c, TextureModel) for c in (TexDSP, PVAEModel, HybridModel))
    assert [c.architecture for c in (TexDSP, PVAEModel, HybridModel)] == ["TexDSP", "PVAE", "HYBRID"]
    assert [c.synthesizes_events for c in (TexDSP, PVAEModel, HybridModel)] == [False, True, True]
    assert [c.exportable for c in (TexDSP, PVAEModel, HybridModel)] == [True, True, True]


def test_pipelines_are_chosen_from_tables_not_from_branches_on_the_architecture():
    branches = r"architecture\s*[!=]=|==\s*architecture"
    checks = [(path.name, line) for path in (ROOT / "ddsp_textures" / "inference").rglob("*.py")
              for line in path.read_text().splitlines() if re.search(branches, line)]
    assert not checks, checks

    import numpy as np
    import pytest

    from ddsp_textures import TextureStream, resynthesize
    from ddsp_textures.inference.resynthesis import RESYNTHESIZERS
    from ddsp_textures.inference.streaming import RENDERERS
    from ddsp_textures.models import HybridModel, PVAEModel, TexDSP, TextureModel

    names = {c.architecture for c in (TexDSP, PVAEModel, HybridModel)}
    assert set(RESYNTHESIZERS) == names == set(RENDERERS)

    class Unknown(TextureModel):
        architecture, fs, frame_size = "NEW", 16000.0, 1024

    with pytest.raises(ValueError, match="^resynthesis needs a TexDSP, P-VAE or hybrid model, got Unknown$"):
        resynthesize(Unknown(), np.zeros(2048, dtype=np.float32))
    with pytest.raises(ValueError, match="^streaming needs a TexDSP, P-VAE or hybrid model, got Unknown$"):
        TextureStream(Unknown(), np.zeros(2048, dtype=np.float32))


def test_benchmark_readme_tables_are_rendered_from_the_results_files(tmp_path):
    from benchmarks.render_readme import README, render

    text = README.read_text()
    assert text.count("<!-- results: ") >= 6
    assert render(text) == text, "run: python -m benchmarks.render_readme"
    (tmp_path / "demo.md").write_text("# t\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nafter\n")
    stale = "intro\n<!-- results: demo -->\n| a | b |\n|---|---|\n| 9 | 9 |\ntail\n"
    assert render(stale, tmp_path) == "intro\n<!-- results: demo -->\n| a | b |\n|---|---|\n| 1 | 2 |\ntail\n"
