"""One module per agent role, and the one LLM seam (agents/llm.py) they all reason through.

Failure contract: importing the package has no side effects; each role module states its own.
"""
