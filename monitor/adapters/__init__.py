"""The outside world, each behind one module: ``metrics`` (Prometheus), ``readmodel``
(Redis), ``admin`` (topics on the broker) and ``procs`` (the broker, Redis and worker
processes the embedded default starts)."""
