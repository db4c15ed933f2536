"""The soak: an hour of concurrent sessions while resources are sampled; its plan (scenario) and chart."""
