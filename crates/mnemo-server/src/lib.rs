//! mnemo's HTTP face (under construction in this branch: the REST app lands next).
