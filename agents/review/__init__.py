"""The incident-review teams of seed 001, one module per role, and the synthesis agent.

Each team module holds its prompt, its evidence gathering (tool calls), its offline policy (the
explicit rules the offline reasoner applies) and ``run(ctx) -> TeamReport``. The output schema is
``tools.review.report.TeamReport``; root causes and metrics always come from the tools.

Failure contract: see ``base.run_team``: a team's tool failure becomes that team's error, never the
whole review's.
"""
from agents.review import econophysics, forensics, ml_strategy, risk, software, sre, strategy

TEAM_MODULES = {
    "forensics": forensics, "econophysics": econophysics, "ml_strategy": ml_strategy, "risk": risk,
    "software": software, "strategy": strategy, "sre": sre,
}
PARALLEL_TEAMS = ("econophysics", "ml_strategy", "risk", "software", "strategy", "sre")

__all__ = ["TEAM_MODULES", "PARALLEL_TEAMS"]
