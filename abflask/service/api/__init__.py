"""HTTP API blueprints, one module per area, each object named ``bp``.

The factory (``abflask.service.app``) registers them; nothing here imports it.
"""
