"""tiny-interp generate: sample a story continuation from a model."""

from __future__ import annotations

import argparse
import warnings

from ..cli_args import count, device, nonneg_float, positive_int, probability


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "generate",
        help="continue a prompt with a model",
        description="Print the prompt followed by the model's continuation on stdout (nothing else). "
        "Temperature 0 is greedy and deterministic.",
    )
    p.add_argument("model", help="model directory or Hugging Face hub id")
    p.add_argument("--prompt", default="", help="text to continue (default: start a story from scratch)")
    p.add_argument(
        "--max-new-tokens",
        type=positive_int,
        default=200,
        help="tokens to generate at most, within the model's context (default 200)",
    )
    p.add_argument("--temperature", type=nonneg_float, default=1.0, help="0 = greedy; default 1.0")
    p.add_argument("--top-k", type=positive_int, default=None, help="sample from the k most likely tokens only")
    p.add_argument("--top-p", type=probability, default=None, help="nucleus sampling: smallest set with this mass")
    p.add_argument("--seed", type=count, default=None, help="random seed for reproducible sampling")
    p.add_argument(
        "--num-samples", type=positive_int, default=1, help="stories to sample (batched); separated by a blank line"
    )
    p.add_argument("--device", type=device, default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--no-stop", action="store_true", help="keep going past <|endoftext|>")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..model.generate import encode_prompt, generate_text
    from ..model.opener import open_model
    from ..model.sampling import SamplingConfig

    handle = open_model(args.model, device=args.device)
    model, tokenizer = handle.module, handle.tokenizer
    n_ctx = model.cfg.n_ctx
    # the generator keeps at most the last n_ctx - 1 prompt tokens and stops at the context
    room = n_ctx - min(len(encode_prompt(tokenizer, args.prompt, model.cfg.bos_token_id)), n_ctx - 1)
    if args.max_new_tokens > room:
        warnings.warn(
            f"--max-new-tokens {args.max_new_tokens}: the model's context is {n_ctx} tokens, "
            f"so at most {room} new tokens follow this prompt",
            stacklevel=2,
        )
    sampling = SamplingConfig(
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        seed=args.seed,
        stop_at_eos=not args.no_stop,
    )
    texts = generate_text(model, tokenizer, [args.prompt] * args.num_samples, sampling)
    print("\n\n".join(args.prompt + t for t in texts))
    return 0
