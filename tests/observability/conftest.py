from observability.support import restore_logging

__all__ = ["restore_logging"]
