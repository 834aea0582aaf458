"""Logs and metrics shared by the API and the workers: one logging set-up, one metrics module."""
