"""Image decoding, encoding and resizing shared by the CLI, the pipeline and the API."""
