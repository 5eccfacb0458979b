"""The offline plan: the stack program under Pulumi's mock engine, with fake Azure answers and the policy pack."""
