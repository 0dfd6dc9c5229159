"""The universal operator: context, retrieval over the knowledge base, prompts and offline mutation."""
