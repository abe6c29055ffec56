"""Training throughput: our trainer vs a minimal reference GPT and Hugging Face GPTNeoForCausalLM.

All three train the same shape on the same random token batches in this process, interleaved in rounds so
machine noise hits them alike. Ours is timed through the real ``tiny_interp.train.train`` loop (data windows,
schedule, clipping, metrics), read back from its metrics.jsonl after warm-up steps. The reference is the smallest
honest GPT: fused-QKV SDPA attention, LayerNorm, GELU MLP, tied head, plain ``torch.optim.AdamW``.

Prints a table and, last, ``ratio_vs_reference=<x> ratio_vs_hf_gptneo=<y>`` for the 8M preset.
Usage: python bench/train_throughput.py [--presets 1M,8M] [--steps 30] [--batch 8] [--seq 256]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tiny_interp.model import get_preset  # noqa: E402
from tiny_interp.model.hf_format import to_hf_config  # noqa: E402
from tiny_interp.train import TrainConfig, TrainData, read_metrics, train  # noqa: E402
from tiny_interp.train.hardware import cpu_vendor, resolve_gemm  # noqa: E402

VOCAB = 4096


class RefBlock(nn.Module):
    def __init__(self, d: int, heads: int):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d, bias=False), nn.Linear(d, d)
        self.fc, self.out = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x):
        B, T, D = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(B, T, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, D)
        x = x + self.proj(y)
        return x + self.out(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class RefGPT(nn.Module):
    def __init__(self, d: int, layers: int, heads: int, ctx: int):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(VOCAB, d), nn.Embedding(ctx, d)
        self.blocks = nn.ModuleList(RefBlock(d, heads) for _ in range(layers))
        self.ln = nn.LayerNorm(d)

    def forward(self, idx):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for b in self.blocks:
            x = b(x)
        return self.ln(x) @ self.wte.weight.T


class Tok:
    """Just enough tokenizer for the trainer: vocab size and the end-of-text id."""

    eos_token_id = 0

    def __len__(self):
        return VOCAB

    def save_pretrained(self, path):
        pass


def time_plain(model: nn.Module, batches: list[torch.Tensor], hf: bool) -> float:
    opt = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0.1, betas=(0.9, 0.95))
    model.train()

    def step(x):
        logits = model(x[:, :-1]).logits if hf else model(x[:, :-1])
        loss = F.cross_entropy(logits.flatten(0, 1), x[:, 1:].flatten())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    for x in batches[:3]:
        step(x)
    t = time.perf_counter()
    for x in batches[3:]:
        step(x)
    return (len(batches) - 3) * batches[0][:, :-1].numel() / (time.perf_counter() - t)


def time_ours(
    preset: str,
    steps: int,
    batch: int,
    seq: int,
    tokens: np.ndarray,
    device: str = "cpu",
    compile: bool = False,
    cpu_gemm: str = "auto",
) -> float:
    with tempfile.TemporaryDirectory() as out:
        cfg = TrainConfig(
            preset=preset,
            max_steps=steps,
            batch_size=batch,
            seq_len=seq,
            warmup_steps=3,
            eval_every=10,
            save_every=10_000,
            device=device,
            compile=compile,
            cpu_gemm=cpu_gemm,
        )
        data = TrainData(tokens, None, Tok())
        train(cfg, data, out, progress=False)
        rows = read_metrics(out)
    rates = [r["tokens_per_s"] for r in rows[1:]] or [rows[-1]["tokens_per_s"]]  # the first 10 steps warm up
    return statistics.mean(rates)


def run(preset: str, steps: int, batch: int, seq: int, rounds: int) -> dict[str, float]:
    from transformers import GPTNeoForCausalLM

    cfg = get_preset(preset).replace(vocab_size=VOCAB, n_ctx=max(seq, 256))
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, VOCAB, size=batch * (seq + 1) * (steps + 5) * 2, dtype=np.uint16)
    batches = [
        torch.from_numpy(tokens[i * batch * (seq + 1) : (i + 1) * batch * (seq + 1)].astype(np.int64)).view(
            batch, seq + 1
        )
        for i in range(steps)
    ]
    # "ours_aten" is ours with PyTorch's own CPU matrix kernel (MKL): the trainer before the oneDNN choice
    results: dict[str, list[float]] = {"ours": [], "ours_aten": [], "reference": [], "hf_gptneo": []}
    for _ in range(rounds):
        torch.manual_seed(0)
        results["reference"].append(
            time_plain(RefGPT(cfg.d_model, cfg.n_layers, cfg.n_heads, cfg.n_ctx), batches, hf=False)
        )
        torch.manual_seed(0)
        hf = GPTNeoForCausalLM(to_hf_config(cfg))
        results["hf_gptneo"].append(time_plain(hf, batches, hf=True))
        results["ours"].append(time_ours(preset, steps, batch, seq, tokens))
        results["ours_aten"].append(time_ours(preset, steps, batch, seq, tokens, cpu_gemm="aten"))
    return {k: statistics.median(v) for k, v in results.items()}


def auto_gemm() -> str:
    return resolve_gemm(TrainConfig(device="cpu"), "cpu", bf16=False)


# points formed only while a function watches them (norm statistics, attention scores and pattern)
WATCHED_ONLY = ("hook_scale", "hook_normalized", "hook_attn_scores", "hook_pattern")


def idle_hook_cost(preset: str, batch: int, seq: int) -> dict[str, float]:
    """What the idle hook points add to one training step: the points a forward passes through times the cost
    of one idle call (timed here on a tensor of the step's shape), against the step's own CPU time."""
    import timeit

    from tiny_interp.model import TinyLM

    cfg = get_preset(preset).replace(vocab_size=VOCAB, n_ctx=max(seq, 256))
    torch.manual_seed(0)
    model = TinyLM(cfg)
    passed = [p for n, p in model.hook_dict.items() if not n.endswith(WATCHED_ONLY)]
    x = torch.zeros(batch, seq, cfg.d_model)
    n = 20_000
    per_call = min(timeit.repeat(lambda: passed[0](x), number=n, repeat=3)) / n
    opt = torch.optim.AdamW(model.parameters(), lr=5e-4, fused=True)
    ids = torch.randint(0, VOCAB, (batch, seq + 1))

    def step() -> None:
        loss = F.cross_entropy(model(ids[:, :-1]).flatten(0, 1), ids[:, 1:].flatten())
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    step()
    runs = []
    for _ in range(3):
        c0 = time.process_time()
        step()
        runs.append(time.process_time() - c0)
    return {"points_per_forward": len(passed), "idle_call_us": per_call * 1e6, "step_cpu_ms": min(runs) * 1e3}


# dense bf16 tensor-core peaks (no sparsity), by device-name fragment
PEAK_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L4": 121.0, "A10": 125.0, "4090": 165.0}


def flops_per_token(preset: str, seq: int) -> float:
    """Training FLOPs per token: 6 x matmul parameters (unembedding included) + causal attention scores."""
    cfg = get_preset(preset).replace(vocab_size=VOCAB)
    matmul_params = cfg.n_params(include_embeddings=False) - cfg.positions * cfg.d_model + cfg.vocab_size * cfg.d_model
    return 6 * matmul_params + 6 * cfg.n_layers * cfg.d_model * seq  # QK^T and AV, forward + backward, causal half


def gpu_report(presets: list[str], steps: int, batch: int, seq: int, peak_tflops: float | None) -> None:
    name = torch.cuda.get_device_name()
    peak = peak_tflops or next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)
    print(f"GPU: {name}; bf16 autocast, TF32; batch {batch} x {seq}; peak {peak} TFLOP/s")
    for preset in presets:
        tokens = np.random.default_rng(0).integers(0, VOCAB, size=batch * (seq + 1) * (steps + 5) * 2, dtype=np.uint16)
        eager = time_ours(preset, steps, batch, seq, tokens, device="cuda")
        compiled = time_ours(preset, steps, batch, seq, tokens, device="cuda", compile=True)
        mfu = compiled * flops_per_token(preset, seq) / (peak * 1e12) if peak else float("nan")
        print(f"{preset:>7} bf16 {eager:>12.0f} tok/s   bf16+compile {compiled:>12.0f} tok/s   MFU {mfu:.1%}")
        print(
            json.dumps(
                {
                    "preset": preset,
                    "device": name,
                    "bf16_tokens_per_s": round(eager),
                    "bf16_compile_tokens_per_s": round(compiled),
                    "mfu": round(mfu, 4),
                }
            )
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--presets", default="1M,8M")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seq", type=int, default=256)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--gpu-presets", default="8M,33M", help="presets for the GPU section (when CUDA is present)")
    p.add_argument("--gpu-batch", type=int, default=64)
    p.add_argument("--gpu-seq", type=int, default=512)
    p.add_argument("--gpu-steps", type=int, default=60)
    p.add_argument("--peak-tflops", type=float, default=None, help="override the GPU's bf16 peak for MFU")
    args = p.parse_args()
    if torch.cuda.is_available():
        gpu_report(args.gpu_presets.split(","), args.gpu_steps, args.gpu_batch, args.gpu_seq, args.peak_tflops)
    print(
        f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; batch {args.batch} x {args.seq} tokens, vocab {VOCAB}"
    )
    print(f"CPU vendor {cpu_vendor() or 'unknown'}: --cpu-gemm auto trains with {auto_gemm()}")
    print(
        f"{'preset':>7} {'ours tok/s':>11} {'ours aten':>10} {'reference':>10} {'hf gptneo':>10} "
        f"{'vs ref':>7} {'vs hf':>6} {'aten vs ref':>12} {'aten vs hf':>11}"
    )
    last = None
    for preset in args.presets.split(","):
        r = run(preset, args.steps, args.batch, args.seq, args.rounds)
        last = (r["ours"] / r["reference"], r["ours"] / r["hf_gptneo"])
        print(
            f"{preset:>7} {r['ours']:>11.0f} {r['ours_aten']:>10.0f} {r['reference']:>10.0f} {r['hf_gptneo']:>10.0f} "
            f"{last[0]:>6.2f}x {last[1]:>5.2f}x {r['ours_aten'] / r['reference']:>11.2f}x "
            f"{r['ours_aten'] / r['hf_gptneo']:>10.2f}x"
        )
        print(json.dumps({"preset": preset, **{k: round(v, 1) for k, v in r.items()}}))
    assert last is not None
    cost = idle_hook_cost(args.presets.split(",")[-1], args.batch, args.seq)
    share = cost["points_per_forward"] * cost["idle_call_us"] / (cost["step_cpu_ms"] * 1e3)
    print(
        f"idle hook points: {cost['points_per_forward']} per forward x {cost['idle_call_us']:.2f} us = "
        f"{share:.4%} of a training step's {cost['step_cpu_ms']:.0f} CPU-ms"
    )
    print(f"ratio_vs_reference={last[0]:.3f} ratio_vs_hf_gptneo={last[1]:.3f}")


if __name__ == "__main__":
    main()
