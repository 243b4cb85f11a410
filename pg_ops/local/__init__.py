"""Local tools: the sandbox cluster, the test daemons, the demo loader, the benchmark."""
