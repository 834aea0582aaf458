"""What keeps distributed mode from losing or duplicating work when processes, Redis or PostgreSQL fail:
the per-job watchdog, worker recycling, the reaper, and the API's answer to a backend outage."""
