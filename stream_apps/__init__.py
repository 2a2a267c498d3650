"""Faust stream applications (bronze and silver agents). Built in a later issue."""
