"""The project's dynamic providers and the Azure SDK adapters they call at deploy time."""
