"""Pipelines: stage specs (``pipelines/*.yml``), their validation and their DAG."""
