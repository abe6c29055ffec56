"""Import karpathy/llama2.c story models (``.bin`` exports, ``.pt`` training checkpoints) and their tokenizers
(SentencePiece ``.model``, llama2.c ``tok*.bin``) as Hugging Face Llama directories that ``tiny_interp.load`` opens.

Conventions kept from llama2.c: token 1 (``<s>``) starts every story and is also what the model predicts when a
story ends (llama2.c trains on ``BOS story BOS story ...`` with no ``</s>``, and its sampler stops at BOS), so
the converted model and tokenizer use ``<s>`` as both BOS and EOS, like GPT-Neo's ``<|endoftext|>``.
"""

from .convert import import_llama2c

__all__ = ["import_llama2c"]
