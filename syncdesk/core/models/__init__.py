"""Model weights (where they live, download, verify), safe loading and the compute device: shared by faces/ and sync/."""
