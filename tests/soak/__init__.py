"""The fault-injection soak: a seeded FDR + PAN-OS workload through the real shipper.

`python -m tests.soak.run_soak --size small|large [--seed N]` — see docs/soak.md.
"""
