"""Development PKI: a throwaway CA, TLS server/client certificates and Ed25519 signing keys.

Generated files live in ``certs/dev/`` (git-ignored). Production keys replace them by pointing
the ``ANSINH_*`` key and certificate paths elsewhere (certs/README.md).
"""
