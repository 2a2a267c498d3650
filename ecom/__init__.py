"""The `ecom` command line and the day-to-day operations built on the stages."""
