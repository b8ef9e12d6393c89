"""LLM backends: each turns a `GenerationRequest` into raw items plus token usage."""
