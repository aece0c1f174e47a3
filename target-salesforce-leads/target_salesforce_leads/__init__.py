"""Singer target that upserts records into Salesforce by external id."""
