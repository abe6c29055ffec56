"""A test oracle: llama2.c's forward pass re-derived in numpy from the legacy ``.bin`` file alone.

Written independently of tiny_interp (own file parsing, run.c's one-token-at-a-time loop, RoPE on interleaved
pairs as run.c does, float32 throughout) so that agreement with the converted model means something.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np


class Llama2cOracle:
    def __init__(self, path: str | Path):
        raw = Path(path).read_bytes()
        dim, hidden, layers, heads, kv_heads, vocab, seq_len = struct.unpack("<7i", raw[:28])
        self.shared = vocab > 0
        vocab = abs(vocab)
        self.dim, self.hidden, self.layers, self.heads, self.kv_heads = dim, hidden, layers, heads, kv_heads
        self.vocab, self.seq_len = vocab, seq_len
        self.hs = dim // heads
        kv_dim = kv_heads * self.hs
        data = np.frombuffer(raw, dtype="<f4", offset=28)
        pos = 0

        def take(*shape: int) -> np.ndarray:
            nonlocal pos
            n = int(np.prod(shape))
            out = data[pos : pos + n].reshape(shape)
            pos += n
            return out

        self.emb = take(vocab, dim)
        self.rms_att = take(layers, dim)
        self.wq, self.wk = take(layers, dim, dim), take(layers, kv_dim, dim)
        self.wv, self.wo = take(layers, kv_dim, dim), take(layers, dim, dim)
        self.rms_ffn = take(layers, dim)
        self.w1, self.w2, self.w3 = take(layers, hidden, dim), take(layers, dim, hidden), take(layers, hidden, dim)
        self.rms_final = take(dim)
        take(seq_len, self.hs // 2)
        take(seq_len, self.hs // 2)
        self.wcls = self.emb if self.shared else take(vocab, dim)
        assert pos == data.size, "oracle: file size does not match header"
        self.reset()

    def reset(self) -> None:
        kv_dim = self.kv_heads * self.hs
        self.k_cache = np.zeros((self.layers, self.seq_len, kv_dim), np.float32)
        self.v_cache = np.zeros((self.layers, self.seq_len, kv_dim), np.float32)

    @staticmethod
    def _rms(x: np.ndarray, w: np.ndarray) -> np.ndarray:
        return (w * (x / np.sqrt(np.mean(x * x) + np.float32(1e-5)))).astype(np.float32)

    def _rope(self, v: np.ndarray, pos: int) -> np.ndarray:
        v = v.copy()
        for i in range(0, v.size, 2):
            j = i % self.hs
            freq = 1.0 / (10000.0 ** (j / self.hs))
            c, s = np.float32(np.cos(pos * freq)), np.float32(np.sin(pos * freq))
            a, b = v[i], v[i + 1]
            v[i], v[i + 1] = a * c - b * s, a * s + b * c
        return v

    def step(self, token: int, pos: int) -> np.ndarray:
        """Logits after feeding ``token`` at position ``pos`` (cache holds positions < pos)."""
        x = self.emb[token].astype(np.float32).copy()
        group = self.heads // self.kv_heads
        for l in range(self.layers):
            h = self._rms(x, self.rms_att[l])
            q = self._rope(self.wq[l] @ h, pos)
            self.k_cache[l, pos] = self._rope(self.wk[l] @ h, pos)
            self.v_cache[l, pos] = self.wv[l] @ h
            att_out = np.zeros(self.dim, np.float32)
            for head in range(self.heads):
                kvh = head // group
                qh = q[head * self.hs : (head + 1) * self.hs]
                keys = self.k_cache[l, : pos + 1, kvh * self.hs : (kvh + 1) * self.hs]
                vals = self.v_cache[l, : pos + 1, kvh * self.hs : (kvh + 1) * self.hs]
                scores = keys @ qh / np.float32(np.sqrt(self.hs))
                scores = np.exp(scores - scores.max())
                att_out[head * self.hs : (head + 1) * self.hs] = (scores / scores.sum()) @ vals
            x = x + self.wo[l] @ att_out
            h = self._rms(x, self.rms_ffn[l])
            a, b = self.w1[l] @ h, self.w3[l] @ h
            x = x + self.w2[l] @ ((a / (1.0 + np.exp(-a))) * b)
        return self.wcls @ self._rms(x, self.rms_final)

    def greedy(self, prompt: list[int], steps: int) -> list[int]:
        """run.c's loop with temperature 0: feed the prompt, then argmax until ``steps`` positions or BOS (1)."""
        self.reset()
        out: list[int] = []
        token = prompt[0]
        for pos in range(steps):
            logits = self.step(token, pos)
            if pos + 1 < len(prompt):
                token = prompt[pos + 1]
                continue
            token = int(np.argmax(logits))
            if token == 1:
                break
            out.append(token)
        return out
