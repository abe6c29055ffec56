"""tiny-interp generate: sample a story continuation from a model."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "generate",
        help="continue a prompt with a model",
        description="Print the prompt followed by the model's continuation on stdout (nothing else). "
        "Temperature 0 is greedy and deterministic.",
    )
    p.add_argument("model", help="model directory or Hugging Face hub id")
    p.add_argument("--prompt", default="", help="text to continue (default: start a story from scratch)")
    p.add_argument("--max-new-tokens", type=int, default=200, help="tokens to generate at most (default 200)")
    p.add_argument("--temperature", type=float, default=1.0, help="0 = greedy; default 1.0")
    p.add_argument("--top-k", type=int, default=None, help="sample from the k most likely tokens only")
    p.add_argument("--top-p", type=float, default=None, help="nucleus sampling: smallest set with this mass")
    p.add_argument("--seed", type=int, default=None, help="random seed for reproducible sampling")
    p.add_argument("--num-samples", type=int, default=1, help="stories to sample (batched); separated by a blank line")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--no-stop", action="store_true", help="keep going past <|endoftext|>")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..loading import resolve_model_dir
    from ..model.checkpoint import load_tinylm, load_tokenizer
    from ..model.generate import generate_text
    from ..model.sampling import SamplingConfig

    path = resolve_model_dir(args.model)
    model = load_tinylm(path, device=args.device)
    tokenizer = load_tokenizer(path)
    sampling = SamplingConfig(
        max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_k=args.top_k,
        top_p=args.top_p, seed=args.seed, stop_at_eos=not args.no_stop,
    )
    texts = generate_text(model, tokenizer, [args.prompt] * args.num_samples, sampling)
    print("\n\n".join(args.prompt + t for t in texts))
    return 0
