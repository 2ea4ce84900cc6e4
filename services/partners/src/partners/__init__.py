"""The partner edge: partner accounts, HTTP ingest, receipts, rejections and booking lookups."""
