"""The model-webapp policy pack: rules importable by the tests and the offline plan."""
