"""Running pipelines: fingerprints, the run lock, Papermill execution, scheduling."""
