"""bg-remover: background removal and product-photo grouping, as a library, a CLI and a service."""

__version__ = "0.1.0"
