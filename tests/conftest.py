"""Shared fixtures: real data from ../shared when present, real tokenizers, real tiny models on disk."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402
from storygen import stories as synthetic_stories  # noqa: E402
from storygen import write_txt  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TINY_INTERP_SHARED", REPO.parent / "shared"))
TINYSTORIES = SHARED / "data" / "tinystories"
LLAMA2C = SHARED / "models" / "llama2c"
GPT_NEO_TOKENIZER = SHARED / "tokenizers" / "gpt-neo"

needs_shared = pytest.mark.skipif(
    not (TINYSTORIES / "train.txt").exists(), reason=f"real TinyStories data not found at {TINYSTORIES}"
)


def shared_or_skip(path: Path, needed_for: str) -> Path:
    """``path`` inside ../shared, or else skip the test, saying which shared file it needs and for what."""
    if not path.exists():
        pytest.skip(f"{needed_for} needs {path} from ../shared, which is absent (TINY_INTERP_SHARED points elsewhere)")
    return path


def read_shared_stories(name: str, n: int) -> list[str]:
    """The first n stories of ../shared/data/tinystories/<name>.txt."""
    from tiny_interp.data.stories import read_stories

    return read_stories(TINYSTORIES / name, n)


@pytest.fixture(scope="session")
def story_texts() -> list[str]:
    """About 400 stories: real ones from ../shared/train.txt when present, else synthetic."""
    if (TINYSTORIES / "train.txt").exists():
        return read_shared_stories("train.txt", 400)
    return synthetic_stories(400)


@pytest.fixture(scope="session")
def story_files(tmp_path_factory, story_texts) -> tuple[Path, Path]:
    """(train.txt, valid.txt) in the TinyStories text format."""
    d = tmp_path_factory.mktemp("stories")
    train, valid = d / "train.txt", d / "valid.txt"
    write_txt(train, story_texts[:360])
    write_txt(valid, story_texts[360:])
    return train, valid


@pytest.fixture(scope="session")
def bpe_tokenizer(story_texts):
    from tiny_interp.data.tokenizer import train_bpe_tokenizer

    return train_bpe_tokenizer(story_texts, vocab_size=512)


@pytest.fixture(scope="session")
def make_model_dir(tmp_path_factory, bpe_tokenizer):
    """Factory: a saved model directory with random weights for a preset (default 'tiny') and overrides."""
    from tiny_interp.model import TinyLM, get_preset
    from tiny_interp.model.checkpoint import save_model

    made: dict[tuple, Path] = {}

    def make(preset: str = "tiny", seed: int = 0, **overrides) -> Path:
        key = (preset, seed, tuple(sorted(overrides.items())))
        if key not in made:
            cfg = get_preset(preset).replace(vocab_size=len(bpe_tokenizer), **overrides)
            torch.manual_seed(seed)
            out = tmp_path_factory.mktemp("model") / preset
            save_model(out, TinyLM(cfg), bpe_tokenizer)
            made[key] = out
        return made[key]

    return make


SCREENS = REPO / "docs" / "assets" / "screens"
SCREENSHOTS_ENV = "TINY_INTERP_SCREENSHOTS"


def save_doc_screenshot(target, name: str) -> Path | None:
    """Save a Playwright page or locator as docs/assets/screens/<name>.png when $TINY_INTERP_SCREENSHOTS is set
    (`make screenshots`); otherwise nothing is written, so an ordinary test run leaves the committed pictures alone."""
    if not os.environ.get(SCREENSHOTS_ENV):
        return None
    SCREENS.mkdir(parents=True, exist_ok=True)
    path = SCREENS / f"{name}.png"
    target.screenshot(path=str(path))
    return path


# notebook tests: one session model trained through notebooks/01_train, shared by the notebook, report and browser tests
from nb_fixtures import nb_run  # noqa: E402,F401
