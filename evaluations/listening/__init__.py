"""Broad listening (広聴): citizens' opinions on the plan, masked, grouped, labelled and linked
to its initiatives on this machine, with no network needed."""

# kouchou-ai's key of the whole, the parent of every coarse cluster.
ROOT = "0"
