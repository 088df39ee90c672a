"""Deterministic tools the agents call: log reading (logs), review analyses (review), the learning memory (memory) and synthetic inputs (samples). No LLM, agent or LangGraph code."""
