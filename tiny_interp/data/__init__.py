"""Stories in, token shards out: loading, tokenizers and pre-tokenized memmap shards."""
