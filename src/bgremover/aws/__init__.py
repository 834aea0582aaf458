"""The AWS Lambda entry points (``deploy/aws/template.yaml``): each handler is the same code that
``serve`` and ``worker`` run, behind the event the Lambda service hands it."""
