"""The Generate screen's side panel: candidates, tape, sampling lab and cache race."""
