"""LangGraph graphs: the live advisory loop, the incident review and the learning agent.

Failure contract: importing the package has no side effects; each graph module states its own.
"""
