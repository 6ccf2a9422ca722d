//! Value types and typed ids (being written).
