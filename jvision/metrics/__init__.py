"""Pure metric functions and streaming accumulators."""
