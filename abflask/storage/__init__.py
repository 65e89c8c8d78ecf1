"""Storage: the only package that talks to Redis.

Owns every key name and hash tag (``keys``), the Lua scripts (``lua/``), the
``Store`` that runs them on a single Redis, and the private ``redis-server``
launcher used by ``make run``, the tests and the benchmarks. May import
``core``, ``config``, ``errors`` and redis; never Flask or pandas.
"""
