"""The HTTP service: the Flask app factory, its domain services, API and CLI.

Views parse a request, make one call to a domain service (``assignment``,
``ingest``, ``exposures``, ``management``) and answer JSON; they reach the
services through ``extension.get_services()``, never through the factory
module. May import ``core``, ``storage``, ``config``, ``errors`` and Flask;
never pandas, numpy or the ``analysis`` and ``sdk`` packages.
"""
