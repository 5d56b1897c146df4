"""Payment rails: bank REST (G2P Connect), ISO 20022 files, the post office; fakes, simulators."""
