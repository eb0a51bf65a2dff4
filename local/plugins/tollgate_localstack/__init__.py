"""Tollgate's LocalStack plugins: a host Lambda executor and a Bedrock emulator (see docs/local.md)."""
