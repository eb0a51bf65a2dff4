"""Tollgate: a proactive budget in front of every Amazon Bedrock call.

The package holds the domain logic (validation, routing, limits, ledger, pricing, metrics) and the
four Lambda handlers in ``tollgate.handlers``.
"""

__version__ = "0.1.0"
