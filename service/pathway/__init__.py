"""The care pathway: what follows a write (prompts, referral tasks, clocks, reviews) and its metrics."""
