"""National population registry (CSDLQG về dân cư): port, adapters, fake and simulator."""
