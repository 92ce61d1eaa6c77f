"""Teaching: what the notebooks show and how they are run (the interactive demo, the architecture
analysis, student copies, the headless notebook runner)."""
