"""Where a scenario runs: the embedded simulated cluster (`sim`) or a real one (`cluster`)."""
