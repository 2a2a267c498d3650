"""Shared contracts of every stage: settings from the environment and the error hierarchy."""
