"""LLM-free evaluation: bits per byte, diversity, novelty, simplicity and repetition of stories."""
