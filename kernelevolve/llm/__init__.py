"""LLM backends behind one protocol: OpenAI-compatible, self-hosted vLLM, replay, offline."""
