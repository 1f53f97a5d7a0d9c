"""loopcheck conformance harness: scenario language, comparator, runner, matrix."""
