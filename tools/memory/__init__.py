"""The learning memory: Chroma store, embeddings, situation vectors, outcomes table, questions."""
