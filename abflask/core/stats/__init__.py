"""The statistics every program shares: from per-variation summaries to results.

Pure: stdlib only. The analysis job (from event logs, with numpy) and the
service (live, from Redis counters) both turn their summaries into the same
result JSON with these modules, so the two agree to rounding.
"""
