"""A Bedrock emulator for LocalStack: control plane, runtime, fault switch, AWS/Bedrock metrics."""
