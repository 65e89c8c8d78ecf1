"""The pure core every other package shares: decisions and formats, no I/O.

Owns hashing and bucketing, the experiment (with its metrics, analysis
settings and phases) / flag / event models with their validation, the outcome
vocabularies, the event-log record format and the ``/sdk/config`` wire
format. May import the standard library and ``abflask.errors`` only
(``fnv_hash_fast`` is an optional speed-up); never the clock, the network,
Redis or any other abflask package.
"""
