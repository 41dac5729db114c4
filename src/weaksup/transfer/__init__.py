"""Transfer learning: labelled image datasets, their penultimate features and linear probes on them."""
