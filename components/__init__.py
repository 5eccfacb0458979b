"""Building blocks of the model-webapp stack."""
