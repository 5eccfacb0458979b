"""The local rehearsal of the scoring service on the real Azure ML inference server."""
