"""tfreuse benchmark modules: one per scenario, each a description of its experiment."""
