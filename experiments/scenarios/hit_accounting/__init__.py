"""The hit accounting: where a hit's time goes; its plan (scenario), the accounting and its report."""
