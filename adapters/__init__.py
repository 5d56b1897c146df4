"""Adapters: one package per external system (port, real adapters, fake, simulator)."""
