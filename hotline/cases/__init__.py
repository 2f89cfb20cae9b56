"""Cases (案卷): numbers, creation with history, and (with the dispatch core) their life."""
