"""Reference data shipped with the gateway: administrative units and the programme catalogue."""
