// greenwave-bench: storage benchmark and fault-injection helpers (see docs/storage.md).
GreenwaveBench.main()
