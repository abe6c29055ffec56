"""LLM pipelines: dataset synthesis and teacher grading through any OpenAI-compatible endpoint."""
