"""`tollgate report`: spend, tokens and requests by cost center, application, environment and
model, from Tollgate's own metrics, side by side with the bill (Cost Explorer, grouped by the
cost allocation tags) and with AWS/Bedrock's token counts, with the drift between them.

A CLI feature: it reads with the caller's credentials and is never called by the functions.
Only the HTML page needs plotly (imported there, so the Lambda zip, which has no plotly, can
still import this package).
"""

from tollgate.report.build import BY_KEYS, Period, Report, build_report

__all__ = ["BY_KEYS", "Period", "Report", "build_report"]
