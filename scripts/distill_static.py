#!/usr/bin/env python3
"""Distil a model2vec-style static embedding table from all-MiniLM-L6-v2.

Why: mnemo's offline default embedder must work with no download, no API key and no
transformer runtime. A static table (one vector per WordPiece token) scores about the same
as the full MiniLM transformer on LoCoMo turn retrieval at a tiny fraction of the cost.

How (numpy + safetensors only; no torch):
  1. run the 6-layer BERT forward on `[CLS] tok [SEP]` for every vocabulary token, batched,
     and mean-pool the three outputs exactly like sentence-transformers does;
  2. PCA (centred) down to --dims;
  3. SIF weighting by Zipf rank (token id order): w = a / (a + p(rank)), p ~ 1/(rank+2);
  4. quantise (int8 with a per-row scale, f16 or f32) and write the mnemo static-table format
     read by `mnemo_embed::StaticEmbedder::from_file` (layout: see `table.rs` in the crate).

Usage:
  scripts/fetch-minilm.sh
  python3 scripts/distill_static.py --verify            # check the numpy forward
  python3 scripts/distill_static.py --dims 256 --dtype i8 \
      --out crates/mnemo-embed/assets/minilm-l6-v2-static-256.i8.bin

The 384-d token outputs are cached next to the model (token_outputs.npy) so that trying
other dims / weightings takes seconds.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import time
import unicodedata
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = ROOT / "models" / "all-minilm-l6-v2"
MAGIC = b"MNEMOSTE"
FORMAT_VERSION = 1
DTYPES = {"f32": 0, "f16": 1, "i8": 2}

# Reference from the sentence-transformers documentation for all-MiniLM-L6-v2.
REFERENCE_SENTENCES = [
    "The weather is lovely today.",
    "It's so sunny outside!",
    "He drove to the stadium.",
]
REFERENCE_SIMS = {(0, 1): 0.6660, (0, 2): 0.1046, (1, 2): 0.1411}


# ---------------------------------------------------------------------------------------
# BERT forward in numpy
# ---------------------------------------------------------------------------------------


def erf(x: np.ndarray) -> np.ndarray:
    """Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): numpy has no erf and scipy is heavy."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


def gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


def layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


class Bert:
    def __init__(self, model_dir: Path):
        cfg = json.loads((model_dir / "config.json").read_text())
        self.layers = cfg["num_hidden_layers"]
        self.heads = cfg["num_attention_heads"]
        self.hidden = cfg["hidden_size"]
        self.eps = cfg["layer_norm_eps"]
        self.w = {k: v.astype(np.float32) for k, v in load_file(str(model_dir / "model.safetensors")).items()}

    def lin(self, x: np.ndarray, name: str) -> np.ndarray:
        return x @ self.w[name + ".weight"].T + self.w[name + ".bias"]

    def ln(self, x: np.ndarray, name: str) -> np.ndarray:
        return layer_norm(x, self.w[name + ".weight"], self.w[name + ".bias"], self.eps)

    def forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """ids, mask: [batch, seq] -> last hidden state [batch, seq, hidden]."""
        bsz, seq = ids.shape
        w = self.w
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:seq][None]
            + w["embeddings.token_type_embeddings.weight"][0][None, None]
        )
        x = self.ln(x, "embeddings.LayerNorm")
        hd = self.hidden // self.heads
        bias = ((1.0 - mask[:, None, None, :]) * -1e9).astype(np.float32)
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            q = self.lin(x, p + "attention.self.query").reshape(bsz, seq, self.heads, hd).transpose(0, 2, 1, 3)
            k = self.lin(x, p + "attention.self.key").reshape(bsz, seq, self.heads, hd).transpose(0, 2, 1, 3)
            v = self.lin(x, p + "attention.self.value").reshape(bsz, seq, self.heads, hd).transpose(0, 2, 1, 3)
            s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(hd) + bias
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            ctx = (s @ v).transpose(0, 2, 1, 3).reshape(bsz, seq, self.hidden)
            x = self.ln(self.lin(ctx, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
            h = gelu(self.lin(x, p + "intermediate.dense"))
            x = self.ln(self.lin(h, p + "output.dense") + x, p + "output.LayerNorm")
        return x

    def mean_pooled(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        out = self.forward(ids, mask)
        m = mask[..., None].astype(np.float32)
        return (out * m).sum(1) / np.maximum(m.sum(1), 1e-9)


# ---------------------------------------------------------------------------------------
# BERT uncased WordPiece tokenizer (reference for the Rust one; used by --verify)
# ---------------------------------------------------------------------------------------


def load_vocab(model_dir: Path) -> list[str]:
    return (model_dir / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]


def is_punct(ch: str) -> bool:
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def is_cjk(cp: int) -> bool:
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F
        or 0x2B820 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


def basic_split(text: str) -> list[str]:
    out = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or (unicodedata.category(ch).startswith("C") and ch not in "\t\n\r"):
            continue
        if ch in " \t\n\r" or unicodedata.category(ch) == "Zs":
            out.append(" ")
        elif is_cjk(cp):
            out.append(f" {ch} ")
        else:
            out.append(ch)
    text = unicodedata.normalize("NFD", "".join(out).lower())
    text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    words = []
    for w in text.split():
        cur = ""
        for ch in w:
            if is_punct(ch):
                if cur:
                    words.append(cur)
                    cur = ""
                words.append(ch)
            else:
                cur += ch
        if cur:
            words.append(cur)
    return words


def wordpiece(text: str, vocab: dict[str, int], unk: int = 100) -> list[int]:
    ids = []
    for w in basic_split(text):
        if len(w) > 100:
            ids.append(unk)
            continue
        start, pieces = 0, []
        while start < len(w):
            end = len(w)
            found = None
            while start < end:
                sub = ("##" if start > 0 else "") + w[start:end]
                if sub in vocab:
                    found = vocab[sub]
                    break
                end -= 1
            if found is None:
                pieces = [unk]
                break
            pieces.append(found)
            start = end
        ids.extend(pieces)
    return ids


# ---------------------------------------------------------------------------------------
# Distillation
# ---------------------------------------------------------------------------------------


def token_outputs(bert: Bert, n: int, cache: Path, batch: int = 512) -> np.ndarray:
    if cache.exists():
        arr = np.load(cache)
        if arr.shape[0] == n:
            return arr
    out = np.zeros((n, bert.hidden), dtype=np.float32)
    t0 = time.time()
    for s in range(0, n, batch):
        e = min(n, s + batch)
        ids = np.stack([np.full(e - s, 101), np.arange(s, e), np.full(e - s, 102)], axis=1)
        out[s:e] = bert.mean_pooled(ids, np.ones_like(ids, dtype=np.float32))
        print(f"\r  token outputs {e}/{n} ({time.time() - t0:.0f} s)", end="", file=sys.stderr)
    print(file=sys.stderr)
    np.save(cache, out)
    return out


def pca(x: np.ndarray, dims: int) -> np.ndarray:
    x = x.astype(np.float64)
    x = x - x.mean(0)
    if dims >= x.shape[1]:
        return x.astype(np.float32)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    comps = vt[:dims]
    # sklearn's sign convention (svd_flip): largest |loading| of each component positive.
    signs = np.sign(comps[np.arange(dims), np.abs(comps).argmax(1)])
    return (x @ (comps * signs[:, None]).T).astype(np.float32)


def sif_weights(n: int, a: float) -> np.ndarray:
    inv_rank = 1.0 / np.arange(2, n + 2)
    proba = inv_rank / inv_rank.sum()
    return (a / (a + proba)).astype(np.float32)


def write_table(path: Path, model_id: str, tokens: list[str], emb: np.ndarray, dtype: str) -> None:
    n, dims = emb.shape
    vocab_bytes = "\n".join(tokens).encode("utf-8")
    mid = model_id.encode("utf-8")
    with open(path, "wb") as f:
        f.write(MAGIC)
        f.write(struct.pack("<IIIB3x", FORMAT_VERSION, n, dims, DTYPES[dtype]))
        f.write(struct.pack("<I", len(mid)) + mid)
        f.write(struct.pack("<I", len(vocab_bytes)) + vocab_bytes)
        if dtype == "i8":
            scale = np.abs(emb).max(1) / 127.0
            scale[scale == 0] = 1.0
            q = np.clip(np.rint(emb / scale[:, None]), -127, 127).astype(np.int8)
            f.write(scale.astype("<f4").tobytes())
            f.write(q.tobytes())
        elif dtype == "f16":
            f.write(emb.astype("<f2").tobytes())
        else:
            f.write(emb.astype("<f4").tobytes())


def verify(bert: Bert, vocab_list: list[str]) -> bool:
    vocab = {t: i for i, t in enumerate(vocab_list)}
    seqs = [[101] + wordpiece(s, vocab) + [102] for s in REFERENCE_SENTENCES]
    try:  # optional cross-check of the tokenizer against Hugging Face's
        from tokenizers import Tokenizer

        hf = Tokenizer.from_file(str(DEFAULT_MODEL / "tokenizer.json"))
        hf.no_padding()
        for s, ids in zip(REFERENCE_SENTENCES, seqs):
            assert hf.encode(s).ids == ids, (s, hf.encode(s).ids, ids)
        print("tokenizer matches Hugging Face tokenizers")
    except ImportError:
        pass
    L = max(map(len, seqs))
    ids = np.array([s + [0] * (L - len(s)) for s in seqs])
    mask = np.array([[1.0] * len(s) + [0.0] * (L - len(s)) for s in seqs], dtype=np.float32)
    e = bert.mean_pooled(ids, mask)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    ok = True
    for (i, j), ref in REFERENCE_SIMS.items():
        got = float(e[i] @ e[j])
        good = abs(got - ref) < 1e-3
        ok &= good
        print(f"sim({i},{j}) = {got:.4f}  reference {ref:.4f}  {'ok' if good else 'MISMATCH'}")
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--dims", type=int, default=256)
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="i8")
    ap.add_argument("--sif", type=float, default=1e-4, help="SIF coefficient; 0 disables weighting")
    ap.add_argument("--model-id", default=None, help="default: static:minilm-l6-v2-<dims>@1")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--verify", action="store_true", help="check the numpy forward against references")
    args = ap.parse_args()

    if not (args.model_dir / "model.safetensors").exists():
        print(f"no model at {args.model_dir}: run scripts/fetch-minilm.sh first", file=sys.stderr)
        return 2
    bert = Bert(args.model_dir)
    vocab = load_vocab(args.model_dir)
    if args.verify:
        return 0 if verify(bert, vocab) else 1
    if args.out is None:
        ap.error("--out is required unless --verify")

    raw = token_outputs(bert, len(vocab), args.model_dir / "token_outputs.npy")
    emb = pca(raw, args.dims)
    if args.sif > 0:
        emb *= sif_weights(len(vocab), args.sif)[:, None]
    # Bracketed specials ([PAD], [UNK], [unused7], ...) can never come out of the tokenizer
    # (brackets are split off as punctuation), so they are not shipped.
    keep = [i for i, t in enumerate(vocab) if not (t.startswith("[") and t.endswith("]") and len(t) > 2)]
    tokens = [vocab[i] for i in keep]
    model_id = args.model_id or f"static:minilm-l6-v2-{args.dims}@1"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_table(args.out, model_id, tokens, emb[keep], args.dtype)
    print(f"wrote {args.out}: {len(tokens)} tokens x {emb.shape[1]} dims, {args.dtype}, "
          f"{args.out.stat().st_size} bytes, model id {model_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
