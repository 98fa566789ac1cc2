"""Test support: throwaway outside components (PostgreSQL, headless Chromium) and the rule
for when one is missing (skip on a developer machine, fail in CI)."""
