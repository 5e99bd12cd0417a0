"""Reports: the terminal summary, and the static HTML report."""
