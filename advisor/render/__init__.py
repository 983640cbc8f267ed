"""Rendering for people: text tables, the recommendation, the profile summary, the plot and
progress lines. The only layer that formats answers for a terminal."""
