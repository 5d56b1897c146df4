"""ISO 20022 files: pain.001 out; pain.002, camt.052/053/054 in (streamed, hardened, tolerant)."""
