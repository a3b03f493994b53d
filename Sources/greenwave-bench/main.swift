// greenwave-bench: placeholder until the storage benchmark lands.
print("no benchmarks yet")
