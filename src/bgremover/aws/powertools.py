"""The Powertools utilities the worker-side handlers share: one service name and one metrics
namespace, which the template's alarms name (``BgRemover``, dimension ``service=bg-remover``).

Logger lines carry the Lambda request id (``inject_lambda_context``) beside the tenant and job ids;
Metrics are CloudWatch embedded-metric-format lines on stdout, flushed once per invocation. (The
worker's Tracer lives in ``bgremover.aws.worker``: the reaper and failures zips carry no X-Ray SDK.)
"""

from __future__ import annotations

import logging

from aws_lambda_powertools import Logger, Metrics

SERVICE = "bg-remover"
NAMESPACE = "BgRemover"

logger = Logger(service=SERVICE)
logging.getLogger(SERVICE).propagate = False  # its own JSON lines, not again through structlog's root
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
