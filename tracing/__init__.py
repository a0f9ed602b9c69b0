"""Traces out: runs as OpenTelemetry spans in the OpenInference conventions."""
