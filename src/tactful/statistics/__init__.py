"""Pure statistics for experiments: arrays in, figures out (numpy and scipy.stats only).

- :mod:`~tactful.statistics.estimates`: per-variant ratio rates with delta-method
  confidence intervals, differences and relative lifts, CUPED, the sample-ratio check.
- :mod:`~tactful.statistics.sequential`: anytime-valid asymptotic confidence sequences
  (Waudby-Smith et al.), safe to look at every day.

Nothing here knows about people, events or storage; every function is vectorised over
leading axes where it says so, so thousands of simulated experiments run at once.
"""

from tactful.statistics.estimates import (
    Comparison,
    RateEstimate,
    SrmResult,
    compare,
    cuped_adjust,
    ratio_estimate,
    sample_ratio_check,
)
from tactful.statistics.sequential import (
    confidence_sequence_halfwidth,
    mixture_rho,
    people_to_detect,
)

__all__ = [
    "Comparison",
    "RateEstimate",
    "SrmResult",
    "compare",
    "confidence_sequence_halfwidth",
    "cuped_adjust",
    "mixture_rho",
    "people_to_detect",
    "ratio_estimate",
    "sample_ratio_check",
]
