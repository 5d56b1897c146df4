"""Use cases. Services import ports and the domain, never concrete adapters."""
