"""Singer mapper turning Intercom records into Salesforce Leads and Tasks from mapping files."""
