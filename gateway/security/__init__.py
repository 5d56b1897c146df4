"""Protection of personal data and of the gateway's own secrets."""
