"""Options, constraints, ranking and the recommendation: where a workload should train.

`advise` builds an `Option` for this machine, every catalog offer and every bare target GPU,
drops those that break the constraints, ranks the rest by the objective and recommends one,
keeping the work here unless moving is worth it (`options.WORTHWHILE_SPEEDUP`).
"""

from advisor.advise.advice import Advice, advise
from advisor.advise.options import Option, Recommendation, parse_duration

__all__ = ["Advice", "Option", "Recommendation", "advise", "parse_duration"]
